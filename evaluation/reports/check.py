"""`rekognition-eval check RUN_DIR --thresholds deployed.yaml`: do the deployed thresholds still hold?

The run is judged at the thresholds an application uses (the `min_confidence` of each label in a
thresholds.yaml this tool wrote, or one written by hand), never re-optimised. Each label's target is what
the file records:
- `targets: {precision: P, recall: R}` under a label, when given;
- else the file's objective: recall-at-precision:P promises precision >= P, precision-at-recall:R recall
  >= R (with `:certain`, at the Wilson interval's lower bound);
- else (best-f1) the precision and recall the file recorded: a level is broken when it lies above the
  upper bound of the new Wilson interval (a drop larger than noise on this many images).
A label the run cannot judge (not in the run, or deployed below the run's floor) is broken too: a gate
must not pass what it did not check.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from evaluation.errors import UserError, read_yaml_file
from evaluation.runfolder import RunFolder
from evaluation.stats.intervals import wilson_interval
from evaluation.stats.thresholds import Objective

CHECK_COLUMNS = (
    "label",
    "min_confidence",
    "metric",
    "target",
    "value",
    "low",
    "high",
    "tp",
    "fp",
    "fn",
    "holds",
    "note",
)


def load_deployed(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    document = read_yaml_file(path, f"--thresholds {path}")
    if not isinstance(document, Mapping) or not isinstance(document.get("labels"), Mapping):
        raise UserError(f"--thresholds {path}: expected a thresholds.yaml with a 'labels' mapping")
    return dict(document)


def counts_at(curves: pd.DataFrame, label: str, threshold: float, support: int) -> tuple[int, int, int]:
    """(tp, fp, fn) of `label` at MinConfidence `threshold`, from its exact curve: the counts of the lowest
    curve point at or above it (no confidence lies between), or nothing predicted above every point."""
    rows = curves[(curves["label"] == label) & (curves["threshold"] >= threshold)]
    if rows.empty:
        return 0, 0, int(support)
    row = rows.loc[rows["threshold"].idxmin()]
    return int(row["tp"]), int(row["fp"]), int(row["fn"])


def _targets(entry: Mapping[str, Any], objective: Objective | None) -> tuple[dict[str, float], str]:
    """The label's targets and how they are judged: 'point', 'certain' or 'recorded'."""
    explicit = entry.get("targets")
    if isinstance(explicit, Mapping) and explicit:
        unknown = set(explicit) - {"precision", "recall"}
        if unknown:
            raise UserError(f"targets may name precision and recall, not {', '.join(sorted(unknown))}")
        return {str(k): float(v) for k, v in explicit.items()}, "point"
    if objective is not None and objective.kind != "best-f1":
        metric = "precision" if objective.kind == "recall-at-precision" else "recall"
        return {metric: float(objective.target or 0.0)}, "certain" if objective.certain else "point"
    recorded = {m: float(entry[m]) for m in ("precision", "recall") if isinstance(entry.get(m), (int, float))}
    return recorded, "recorded"


def check_run(run_dir: str | Path, deployed: Mapping[str, Any]) -> pd.DataFrame:
    """One row per (label, target): the value at the deployed threshold, its Wilson interval, holds."""
    run = RunFolder.load(run_dir)
    curves = run.curves()
    support = {str(k): v for k, v in zip(run.labels["label"], run.labels["support"], strict=True)}
    floor = run.evaluated_from
    objective_text = deployed.get("objective")
    objective = Objective.parse(str(objective_text)) if objective_text else None
    level = objective.level if objective is not None else 0.95
    rows = []
    for label, entry in (deployed.get("labels") or {}).items():
        label = str(label)
        entry = entry or {}
        threshold = entry.get("min_confidence")
        if threshold is None:
            continue  # no threshold deployed for it: nothing to check
        threshold = float(threshold)
        targets, mode = _targets(entry, objective)
        base = dict.fromkeys(CHECK_COLUMNS)
        base.update(label=label, min_confidence=threshold, note="")
        if label not in support or pd.isna(support[label]):
            rows.append({**base, "holds": False, "note": "not evaluated in this run"})
            continue
        if floor is not None and threshold < floor:
            rows.append(
                {
                    **base,
                    "holds": False,
                    "note": f"deployed below the run's floor {floor:g}: cannot be judged",
                }
            )
            continue
        tp, fp, fn = counts_at(curves, label, threshold, int(support[label]))
        if not targets:
            rows.append({**base, "tp": tp, "fp": fp, "fn": fn, "holds": True, "note": "no target recorded"})
            continue
        for metric, target in targets.items():
            trials = tp + fp if metric == "precision" else tp + fn
            value = tp / trials if trials else math.nan
            low, high = (float(x) for x in wilson_interval(tp, trials, level=level))
            if trials == 0:
                holds, note = (
                    False,
                    f"undefined: no {'predictions' if metric == 'precision' else 'positives'}",
                )
            elif mode == "recorded":
                holds = not target > high
                where = "within or below" if holds else "above"
                note = f"the recorded {metric} {target:.3f} is {where} the interval"
            elif mode == "certain":
                holds = low >= target
                note = f"the lower bound must reach {target:g}"
            else:
                holds = value >= target
                note = ""
            rows.append(
                {
                    **base,
                    "metric": metric,
                    "target": target,
                    "value": value,
                    "low": low,
                    "high": high,
                    "tp": tp,
                    "fp": fp,
                    "fn": fn,
                    "holds": bool(holds),
                    "note": note,
                }
            )
    return pd.DataFrame(rows, columns=list(CHECK_COLUMNS))


def check_text(table: pd.DataFrame) -> str:
    """The table a person reads, and one line naming every broken label."""
    if table.empty:
        return "No deployed threshold to check."
    lines = []
    for row in table.to_dict("records"):
        verdict = "holds" if row["holds"] else "BROKEN"
        if row["metric"] is None:
            lines.append(
                f"{row['label']}: MinConfidence {row['min_confidence']:g}: {verdict} ({row['note']})"
            )
            continue
        value = "undefined" if math.isnan(row["value"]) else f"{row['value']:.3f}"
        interval = "" if math.isnan(row["low"]) else f" [{row['low']:.3f}, {row['high']:.3f}]"
        lines.append(
            f"{row['label']}: MinConfidence {row['min_confidence']:g}: {row['metric']} {value}{interval}, "
            f"target {row['target']:.3f}: {verdict}" + (f" ({row['note']})" if row["note"] else "")
        )
    broken = sorted(set(table.loc[~table["holds"].astype(bool), "label"]))
    lines.append(
        f"Broken: {', '.join(broken)}"
        if broken
        else f"All {table['label'].nunique()} deployed label(s) hold."
    )
    return "\n".join(lines)
