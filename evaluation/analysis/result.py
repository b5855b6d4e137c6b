"""What one evaluation is: its tables (DataFrames), its recommendations and its summary."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from evaluation.operations.base import ChunkedFrame
from evaluation.stats.metrics import ScoredPairs


@dataclass
class EvaluationResult:
    """Built once by `analyse`; written by evaluation.runfolder, rendered by evaluation.reports."""

    dataset_name: str
    images: pd.DataFrame
    predictions: pd.DataFrame | ChunkedFrame  # ChunkedFrame.to_frame() for the whole table
    metrics: pd.DataFrame
    curves: pd.DataFrame
    averages: pd.DataFrame
    labels: pd.DataFrame
    global_threshold: dict[str, Any]
    unjudged: pd.DataFrame
    thresholds: dict[str, Any]
    summary: dict[str, Any]
    run: dict[str, Any] = field(default_factory=dict)
    out_dir: Path | None = None
    # The scored (image, label) pairs and the answers behind them (one per evaluated image, in the order
    # of `images` rows that were answered): report.html shows the images behind each label's errors.
    pairs: ScoredPairs | None = field(default=None, repr=False)
    # (for labels a lazy sequence over the store's columns: each answer is built when it is looked at)
    answers: Sequence[Any] = field(default=(), repr=False)
    # The ground truth images.csv cannot hold, one record per `images` row (ground_truth.jsonl, so
    # `report` needs no dataset), and the operation's own tables (<name>.csv) and report.md section.
    ground_truth: tuple[dict[str, Any], ...] = field(default=(), repr=False)
    extra_tables: dict[str, pd.DataFrame] = field(default_factory=dict, repr=False)
    report_section: tuple[str, ...] = field(default=(), repr=False)
    # documents beside the tables, by file name (.json or .yaml): the review band's A2I conditions
    documents: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def complete(self) -> bool:
        """True when every image of the dataset was evaluated (the CLI's exit code says the same)."""
        return bool(self.summary["images"]["not_evaluated"] == 0 and not self.summary["dataset"]["bad_lines"])
