"""What one evaluation is: its tables (DataFrames), its recommendations and its summary.

Displayed in a notebook it is a few lines (`repr`) or a small table (`_repr_html_`): the dataset, the
images, the backend, the recommended MinConfidence per label and the problems, never its DataFrames.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from evaluation.analysis.missing import fixed, is_missing
from evaluation.analysis.score_table import ScoreTable
from evaluation.operations.base import ChunkedFrame
from evaluation.stats.curve_table import CurveTable
from evaluation.stats.metrics import ScoredPairs
from evaluation.stats.thresholds import min_confidence_to_use

REPR_LABELS = 12  # labels a repr lists (most support first); the rest are in result.labels


@dataclass
class EvaluationResult:
    """Built once by `analyse`; written by evaluation.runfolder, rendered by evaluation.reports."""

    dataset_name: str
    images: pd.DataFrame
    predictions: pd.DataFrame | ChunkedFrame  # ChunkedFrame.to_frame() for the whole table
    metrics: pd.DataFrame
    # exact_curves' table as its points (evaluation.stats.curve_table): `curves` is the whole frame
    curve_table: CurveTable
    averages: pd.DataFrame
    labels: pd.DataFrame
    global_threshold: dict[str, Any]
    unjudged: pd.DataFrame
    thresholds: dict[str, Any]
    summary: dict[str, Any]
    run: dict[str, Any] = field(default_factory=dict)
    out_dir: Path | None = None
    # The files the last write put in out_dir (relative POSIX paths): what may be uploaded, and no more.
    files: tuple[str, ...] = field(default=(), repr=False)
    # The scored (image, label) pairs and the answers behind them (one per evaluated image, in the order
    # of `images` rows that were answered): report.html shows the images behind each label's errors.
    pairs: ScoredPairs | None = field(default=None, repr=False)
    # (for labels a lazy sequence over the store's columns: each answer is built when it is looked at)
    answers: Sequence[Any] = field(default=(), repr=False)
    # and every ground-truth positive (image_idx, label_idx) of `pairs`, returned or not
    positives: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False)
    # The raw answers by cache key, exactly what analyse read: written to the run folder (answers.jsonl.gz)
    # so a copied folder re-analyses without the response cache. For labels a lazy mapping over the cache
    # (evaluation.analysis.stored.StoredAnswers), streamed when written.
    responses: Mapping[str, Any] = field(default_factory=dict, repr=False)
    # The ground truth images.csv cannot hold, one record per `images` row (ground_truth.jsonl, so
    # `report` needs no dataset), and the operation's own tables (<name>.csv) and report.md section.
    ground_truth: tuple[dict[str, Any], ...] = field(default=(), repr=False)
    extra_tables: dict[str, pd.DataFrame] = field(default_factory=dict, repr=False)
    report_section: tuple[str, ...] = field(default=(), repr=False)
    # scores.parquet's table (`scores`), made when asked: per evaluated image and label, its confidence
    # (none when not returned) and its truth. Tens of millions of rows at a million images, made in
    # seconds from `pairs` and `positives`, which are held anyway: not held beside them (and written a
    # row group at a time: ScoreTable.blocks). None for operations that judge detections.
    score_table: ScoreTable | None = field(default=None, repr=False)
    # documents beside the tables, by file name (.json or .yaml): the review band's A2I conditions
    documents: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def curves(self) -> pd.DataFrame:
        """The exact curves (curves.parquet's table), made anew at each call from the held points: one
        row per label per distinct confidence (millions at a million images)."""
        return self.curve_table.frame()

    @property
    def scores(self) -> pd.DataFrame | None:
        """scores.parquet's table, made anew at each call (None for operations that judge detections)."""
        return None if self.score_table is None else self.score_table.frame()

    @property
    def never_returned(self) -> pd.Series:
        """Per label (indexed by label), the positives the service never returned at any confidence the
        run evaluated: no MinConfidence finds them, so recall cannot exceed (support - these) / support."""
        labels = self.labels
        found = self.curve_table.most_tp() if len(self.curve_table) else None
        reached = (
            np.zeros(len(labels), np.int64)
            if found is None
            else labels["label"].map(found).fillna(0).to_numpy(np.int64)
        )
        return pd.Series(
            labels["support"].to_numpy(np.int64) - reached, index=labels["label"].astype(object).tolist()
        )

    def recommended(self) -> pd.DataFrame:
        """The recommendation per label as the reports show it: the MinConfidence to send (thresholds.yaml's
        value), precision, recall, F1, support, status and the positives never returned."""
        labels = self.labels
        uses = [
            min_confidence_to_use(t, low)
            for t, low in zip(labels["threshold"], labels["threshold_low"], strict=True)
        ]
        table = pd.DataFrame(
            {
                "support": labels["support"].to_numpy(),
                "min_confidence": pd.array(uses, dtype="Float64"),
                "precision": labels["precision"].to_numpy(),
                "recall": labels["recall"].to_numpy(),
                "f1": labels["f1"].to_numpy(),
                "status": labels["status"].to_numpy(),
                "never_returned": self.never_returned.to_numpy(),
            },
            index=pd.Index(labels["label"].astype(object).tolist(), name="label"),
        )
        return table

    def problems(self) -> list[str]:
        """What a reader must know before trusting the numbers, one sentence each."""
        summary = self.summary
        images = summary.get("images") or {}
        found: list[str] = []
        missed = int(images.get("not_evaluated") or 0)
        if missed:
            found.append(f"{missed} image(s) not evaluated (images.csv says why)")
        bad_lines = len((summary.get("dataset") or {}).get("bad_lines") or [])
        if bad_lines:
            found.append(f"{bad_lines} dataset line(s) skipped")
        truncated = int((summary.get("floor") or {}).get("answers_truncated_at_max_labels") or 0)
        if truncated:
            found.append(f"{truncated} answer(s) hit MaxLabels: low thresholds are not evaluated")
        never = self.never_returned
        for label, count in never[never > 0].items():
            support = int(self.labels.loc[self.labels["label"] == label, "support"].iloc[0])
            found.append(f"{label}: {count} of {support} positives never returned at any confidence")
        attention = self.labels[~self.labels["status"].isin(["ok"])]
        for label, status in zip(attention["label"], attention["status"], strict=True):
            found.append(f"{label}: {status}")
        return found

    def _headline(self) -> list[str]:
        summary = self.summary
        dataset, images = summary.get("dataset") or {}, summary.get("images") or {}
        backend = " · ".join(
            str(part)
            for part in (summary.get("backend"), summary.get("api"), *(summary.get("model_versions") or []))
            if part
        )
        lines = [
            f"{type(self).__name__}: {dataset.get('name', self.dataset_name)} "
            f"({dataset.get('format') or '?'}), "
            f"{images.get('evaluated', '?')} of {images.get('total', '?')} images evaluated",
            f"backend: {backend or '?'}; objective {summary.get('objective')}",
        ]
        best = self.global_threshold or {}
        use = min_confidence_to_use(best.get("threshold"), best.get("threshold_low"))
        if use is not None:
            lines.append(
                f"one MinConfidence for all labels: {_number_text(use)} "
                f"(precision {_rate(best.get('precision'))}, "
                f"recall {_rate(best.get('recall'))}, F1 {_rate(best.get('f1'))})"
            )
        return lines

    def _listed(self) -> tuple[pd.DataFrame, int]:
        table = self.recommended()
        order = np.lexsort((np.arange(len(table)), -table["support"].to_numpy(np.int64)))
        return table.iloc[order[:REPR_LABELS]], max(0, len(table) - REPR_LABELS)

    def __repr__(self) -> str:
        lines = self._headline()
        shown, rest = self._listed()
        if len(shown):
            text = shown.to_string(
                float_format=lambda value: f"{value:.3f}",
                na_rep="-",
                formatters={"min_confidence": _number_text},
            )
            lines += ["recommended per label (min_confidence: the value to send):", *text.splitlines()]
            if rest:
                lines.append(f"... and {rest} more labels: result.labels")
        problems = self.problems()
        lines.append("problems: " + ("none" if not problems else f"{len(problems)}"))
        lines += [f"  - {problem}" for problem in problems[:REPR_LABELS]]
        if len(problems) > REPR_LABELS:
            lines.append(f"  ... and {len(problems) - REPR_LABELS} more")
        lines.append(f"run folder: {self.out_dir}" if self.out_dir else "run folder: not written")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        escape = html.escape
        head = "".join(f"<div>{escape(line)}</div>" for line in self._headline())
        shown, rest = self._listed()
        table = shown.to_html(
            float_format=lambda value: f"{value:.3f}",
            na_rep="–",
            formatters={"min_confidence": _number_text},
            border=0,
        )
        more = f"<div>… and {rest} more labels: <code>result.labels</code></div>" if rest else ""
        problems = self.problems()
        listed = "".join(f"<li>{escape(problem)}</li>" for problem in problems[:REPR_LABELS])
        if len(problems) > REPR_LABELS:
            listed += f"<li>… and {len(problems) - REPR_LABELS} more</li>"
        folder = escape(str(self.out_dir)) if self.out_dir else "not written"
        return (
            f'<div class="rekognition-eval">{head}{table}{more}'
            f"<div>problems: {'none' if not problems else len(problems)}</div>"
            + (f"<ul>{listed}</ul>" if listed else "")
            + f"<div>run folder: {folder}</div></div>"
        )

    @property
    def complete(self) -> bool:
        """True when every image of the dataset was evaluated (the CLI's exit code says the same)."""
        return bool(self.summary["images"]["not_evaluated"] == 0 and not self.summary["dataset"]["bad_lines"])


def _number_text(value: Any) -> str:
    """A confidence with every digit it has (92.3263, 60), "-" where there is none."""
    if is_missing(value):
        return "-"
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


def _rate(value: Any) -> str:
    return fixed(value, dash="-")
