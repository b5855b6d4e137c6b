"""summary.json and thresholds.yaml's metadata: what a run says about itself, built once per analysis."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import numpy as np
import pandas as pd

from evaluation.analysis.missing import is_missing
from evaluation.calls.runner import ANSWERED
from evaluation.options import AnalysisOptions
from evaluation.stats.metrics import ScoredPairs
from evaluation.stats.thresholds import min_confidence_to_use


def plain(value: Any) -> Any:
    """JSON has no NaN: an undefined number is written as null."""
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if math.isnan(value) else round(float(value), 6)
    return value


def text_or_none(value: Any) -> str | None:
    """A text cell for JSON: pandas may hold a missing value as None or NaN."""
    return None if is_missing(value) else str(value)


RELATIVE_PATHS = "relative to the dataset's folder"


@dataclass(frozen=True)
class PathView:
    """How summary.json and the reports show local paths: relative to the dataset's folder (so a home
    folder is never written into what is shared), or absolute when asked. URIs (s3://) stay as they are.

    images.csv and run.json keep the real paths: re-analysis reads them.
    """

    folder: str | None  # the dataset's folder, absolute; None when the dataset is not local
    absolute: bool = False

    @classmethod
    def of(cls, dataset: dict[str, Any], *, absolute: bool) -> PathView:
        source = str(dataset.get("source") or "")
        if not source or "://" in source:
            return cls(None, absolute)
        source = os.path.abspath(source)  # as typed, from the folder the run started in
        folder = (
            source if dataset.get("format") == "folders" or os.path.isdir(source) else os.path.dirname(source)
        )
        return cls(os.path.normpath(folder), absolute)

    @property
    def label(self) -> str:
        return "absolute" if self.absolute else RELATIVE_PATHS

    def path(self, value: Any) -> Any:
        """A local absolute path relative to the dataset's folder (`../` when outside it)."""
        if self.absolute or self.folder is None or not isinstance(value, str) or not os.path.isabs(value):
            return value
        return os.path.relpath(value, self.folder).replace(os.sep, "/")

    def source(self, value: Any) -> Any:
        """The dataset itself: its file's name, or its folder's."""
        if self.absolute or self.folder is None or not isinstance(value, str) or "://" in value:
            return value
        shown = self.path(os.path.abspath(value))
        return os.path.basename(os.path.normpath(value)) if shown == "." else shown

    def text(self, value: Any) -> Any:
        """A message that may name paths inside the dataset's folder (a bad line, a reason)."""
        if self.absolute or self.folder is None or not isinstance(value, str):
            return value
        folder = self.folder.rstrip(os.sep)
        return value.replace(folder + os.sep, "").replace(folder, os.path.basename(folder) or folder)


def thresholds_metadata(run: dict[str, Any], model_versions: list[str], *, operation: str) -> dict[str, Any]:
    """Where the thresholds in thresholds.yaml came from, for an application that loads them: the API
    they are sent with (`api`) and what they were judged on (`operation`)."""
    return {
        "dataset": run["dataset"]["name"],
        "backend": run["backend"].get("backend"),
        "api": run["backend"].get("operation"),
        "operation": operation,
        "model_versions": model_versions,
        "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


_INTERVAL_KEYS = (
    "threshold_low",
    "min_confidence",
    "min_confidence_low",
    "min_confidence_high",
    "precision_low",
    "precision_high",
    "recall_low",
    "recall_high",
    "f1_low",
    "f1_high",
    "cost_per_1000",
    "cost_low",
    "cost_high",
)
_ADVICE_KEYS = ("positives_needed", "negatives_needed", "positives_to_certify")


def _count(value: Any) -> int | None:
    return None if is_missing(value) else int(value)


def build_summary(
    run: dict[str, Any],
    images: pd.DataFrame,
    answered: pd.DataFrame,
    pairs: ScoredPairs,
    per_label: pd.DataFrame,
    best_f1: pd.DataFrame,
    global_threshold: dict[str, Any],
    floor_evidence: dict[str, Any],
    model_versions: list[str],
    unjudged: pd.DataFrame,
    options: AnalysisOptions,
    request: dict[str, Any],
    operation: str,
) -> dict[str, Any]:
    problems = images[~images["status"].isin(ANSWERED)]
    labels = {}
    per_label = per_label.assign(
        min_confidence=[
            min_confidence_to_use(t, low)
            for t, low in zip(per_label["threshold"], per_label["threshold_low"], strict=True)
        ]
    )
    for row, best in zip(per_label.to_dict("records"), best_f1.to_dict("records"), strict=True):
        labels[row["label"]] = {
            "support": plain(row["support"]),
            "ap": plain(row["ap"]),
            "recommended": {
                "threshold": plain(row["threshold"]),
                "precision": plain(row["precision"]),
                "recall": plain(row["recall"]),
                "f1": plain(row["f1"]),
                **{name: plain(row[name]) for name in _INTERVAL_KEYS if name in row},
                **{name: _count(row[name]) for name in _ADVICE_KEYS if name in row},
                "status": row["status"],
                "note": row["note"] or None,
            },
            "best_f1": {
                "threshold": plain(best["threshold"]),
                "precision": plain(best["precision"]),
                "recall": plain(best["recall"]),
                "f1": plain(best["f1"]),
            },
        }
    backend = run["backend"]
    paths = PathView.of(run["dataset"], absolute=options.absolute_paths)
    return {
        "dataset": {
            "name": run["dataset"]["name"],
            "source": paths.source(run["dataset"]["source"]),
            "paths": paths.label,
            "format": run["dataset"]["format"],
            "bad_lines": [paths.text(line) for line in run["dataset"]["bad_lines"]],
            "warnings": [paths.text(text) for text in run["dataset"].get("warnings") or []],
            "ignored_labels": run["dataset"].get("ignored_labels", {}),
            "machine_labeled": run["dataset"].get("machine_labeled", 0),
            "ignored_files": [paths.text(name) for name in run["dataset"].get("ignored_files", [])],
        },
        "images": {
            "total": len(images),
            "evaluated": len(answered),
            "not_evaluated": len(problems),
            "by_status": {k: int(v) for k, v in images["status"].value_counts().sort_index().items()},
        },
        "backend": backend.get("backend"),
        "api": backend.get("operation"),  # the Rekognition API called
        "operation": operation,  # what was judged
        "region": backend.get("region"),
        "endpoint_url": backend.get("endpoint_url"),
        "request": request,
        "model_versions": model_versions,
        "api_calls": run["stats"]["api_calls"],
        "cache_hits": run["stats"]["cache_hits"],
        "retries": run["stats"].get("retries", 0),
        "throttled": run["stats"].get("throttled", 0),
        "tps": run["stats"].get("tps"),
        "estimated_cost_usd": run.get("cost", {}).get("estimated_usd"),
        "cost": run.get("cost"),
        "wall_s": run["stats"]["wall_s"],
        "errors": [
            {
                "image": paths.path(r.image),
                "status": r.status,
                "error_code": text_or_none(r.error_code),
                "reason": paths.text(text_or_none(r.reason)),
            }
            for r in problems.itertuples()
        ],
        "floor": floor_evidence,
        "objective": str(options.objective),
        "min_support": options.min_support,
        "use_parents": options.use_parents,
        "label_map": paths.path(os.path.abspath(options.label_map_path))
        if options.label_map_path and not options.absolute_paths
        else options.label_map_path,
        "global": {
            **{k: plain(v) for k, v in global_threshold.items()},
            "min_confidence": min_confidence_to_use(
                global_threshold.get("threshold"), global_threshold.get("threshold_low")
            ),
        },
        "labels": labels,
        "unjudged_names": len(unjudged),
        "tool_version": run.get("tool_version"),
        "created_at": run.get("created_at"),
    }
