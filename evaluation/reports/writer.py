"""Everything a run leaves on disk, so it can be read by programs, by people, and re-analysed later."""

from __future__ import annotations

import json
import os
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from evaluation.reports.aws_section import write_table as write_aws_table
from evaluation.reports.html import write_html
from evaluation.reports.markdown import render_markdown

if TYPE_CHECKING:
    from evaluation.api import EvaluationResult

METRICS_COLUMNS = ["label", "threshold", "tp", "fp", "fn", "tn", "precision", "recall", "f1", "support"]


def default_run_dir(dataset_name: str, reports_dir: str | Path = "reports") -> Path:
    """reports/<dataset>-<UTC time>: sortable, and never overwrites an earlier run."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", dataset_name).strip("-") or "dataset"
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return Path(reports_dir) / f"{safe}-{stamp}"


def _atomic_write(path: Path, text: str) -> None:
    """Write beside and rename, so a reader never sees half a file."""
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def write_run(result: EvaluationResult, out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    _atomic_write(out_dir / "run.json", json.dumps(result.run, indent=2, sort_keys=True) + "\n")
    _atomic_write(out_dir / "images.csv", result.images.to_csv(index=False))
    _atomic_write(out_dir / "predictions.csv", result.predictions.to_csv(index=False))
    _atomic_write(out_dir / "metrics.csv", result.metrics[METRICS_COLUMNS].to_csv(index=False))
    _atomic_write(out_dir / "curves.csv", result.curves.to_csv(index=False))
    _atomic_write(out_dir / "averages.csv", result.averages.to_csv(index=False))
    _atomic_write(out_dir / "labels.csv", result.labels.to_csv(index=False))
    _atomic_write(out_dir / "unjudged.csv", result.unjudged.to_csv(index=False))
    _atomic_write(out_dir / "summary.json", json.dumps(result.summary, indent=2, allow_nan=False) + "\n")
    _atomic_write(
        out_dir / "thresholds.yaml", yaml.safe_dump(result.thresholds, sort_keys=False, allow_unicode=True)
    )
    for name, table in getattr(result, "extra_tables", {}).items():  # an operation's own tables
        _atomic_write(out_dir / f"{name}.csv", table.to_csv(index=False))
    if getattr(result, "ground_truth", ()):  # what images.csv cannot hold, so `report` needs no dataset
        from evaluation.operations.analysis import GROUND_TRUTH_FILE, write_ground_truth

        _atomic_write(out_dir / GROUND_TRUTH_FILE, write_ground_truth(result.ground_truth))
    write_aws_table(result, out_dir)  # aws_evaluation.csv, when the run names an EvaluationSummary
    _atomic_write(out_dir / "report.md", render_markdown(result))
    write_html(result, out_dir)
    return out_dir
