"""report.html's exact curves: per label, what first appears at each distinct confidence (curves.csv), from
which the page rebuilds tp, fp, fn, tn at every stop of its slider.

Every label is done at once over the curve's arrays (one pass over millions of points at 100,000 images);
only the labels thinned to `max_stops` and the few thousand bins written to the page are visited one by
one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from evaluation.stats.metrics import label_positions

if TYPE_CHECKING:
    from evaluation.analysis import EvaluationResult

MAX_EXACT_STOPS = 1000  # per label: distinct confidences the slider stops at (more are merged by quantile)


def label_then_threshold(label: np.ndarray, threshold: np.ndarray) -> np.ndarray:
    """The order of `np.lexsort((threshold, label))` (by label, then threshold ascending, ties as given).

    Curves are stored label after label, each label's thresholds distinct and descending: that order is
    recognised and reversed run by run in one pass, not sorted (a third of a second at 2.6 million
    points). Any other order is sorted as lexsort does.
    """
    size = len(label)
    if size:
        change = np.flatnonzero(label[1:] != label[:-1]) + 1
        first = np.concatenate(([0], change))
        last = np.append(change, size) - 1
        inside = np.ones(size - 1, dtype=bool)  # neighbours of one run
        inside[change - 1] = False
        run_label = label[first]
        # strictly descending (no ties, no NaN) and each label in one run: reversing each run is the sort
        if (threshold[1:] < threshold[:-1])[inside].all() and len(np.unique(run_label)) == len(run_label):
            runs = np.argsort(run_label)
            lengths = (last - first + 1)[runs]
            start = np.cumsum(lengths) - lengths  # where each run starts in the sorted order
            return np.repeat(last[runs], lengths) - (np.arange(size) - np.repeat(start, lengths))
    return np.lexsort((threshold, label))


def _kept_stops(threshold: np.ndarray, chosen: Any, max_stops: int) -> np.ndarray:
    """Positions kept of a label's ascending thresholds: `max_stops` by quantile, its recommended
    threshold, the first at or above each whole number (so the counts there stay exact), and the first."""
    size = len(threshold)
    keep = np.zeros(size, dtype=bool)
    keep[np.linspace(0, size - 1, max_stops).round().astype(np.int64)] = True
    if chosen is not None and not pd.isna(chosen):
        keep[np.searchsorted(threshold, float(chosen)).clip(0, size - 1)] = True
    anchors = np.searchsorted(threshold, np.arange(0, 101, dtype=np.float64), side="left")
    keep[anchors[anchors < size]] = True
    keep[0] = True
    return keep


def exact_bins(result: EvaluationResult, *, max_stops: int = MAX_EXACT_STOPS) -> tuple[list[Any], list[bool]]:
    """Per label, [[confidence, tp added, fp added], ...] ascending over its exact curve (curves.csv) at or
    above the floor, and whether its stops were thinned. A label with more than `max_stops` distinct
    confidences keeps `max_stops` of them (by quantile), its recommended threshold and the first confidence
    at or above each whole number; each other bin is merged into the kept stop at or below it, so the
    counts at every kept stop and every whole number (which the page adds) stay exact."""
    labels = list(result.labels["label"].astype(object))
    floor = (result.summary.get("floor") or {}).get("evaluated_from") or 0.0
    recommended = dict(zip(labels, result.labels["threshold"], strict=True))
    curves = result.curves
    out: list[Any] = [[] for _ in labels]
    thinned = [False] * len(labels)
    if curves.empty:
        return out, thinned
    shown = label_positions(curves["label"], pd.Index(labels, dtype=object))
    threshold = curves["threshold"].to_numpy(np.float64)
    rows = np.flatnonzero((shown >= 0) & (threshold >= float(floor)))
    if not len(rows):
        return out, thinned
    rows = rows[label_then_threshold(shown[rows], threshold[rows])]
    row_label = shown[rows]
    bounds = np.searchsorted(row_label, np.arange(len(labels) + 1))
    threshold = threshold[rows]
    added = []
    for column in ("tp", "fp"):  # each point's count minus the next one's of its label (0 after its last)
        count = curves[column].to_numpy(np.int64)[rows]
        step = count - np.append(count[1:], 0)
        label_last = np.flatnonzero(np.append(row_label[1:] != row_label[:-1], True))
        step[label_last] = count[label_last]
        added.append(step)
    keep = np.ones(len(rows), dtype=bool)
    for index in np.flatnonzero(np.diff(bounds) > max_stops).tolist():
        first, last = int(bounds[index]), int(bounds[index + 1])
        keep[first:last] = _kept_stops(threshold[first:last], recommended.get(labels[index]), max_stops)
        thinned[index] = True
    # each bin merged into the kept stop at or below it (a label's first point is always kept)
    stops = np.flatnonzero(keep)
    added_tp, added_fp = (np.add.reduceat(step, stops) for step in added)
    shown_stop = np.flatnonzero((added_tp != 0) | (added_fp != 0))
    bins = [
        [round(value, 10), a, b]  # as number(value, 10): thresholds are confidences, never NaN
        for value, a, b in zip(
            threshold[stops[shown_stop]].tolist(),
            added_tp[shown_stop].tolist(),
            added_fp[shown_stop].tolist(),
            strict=True,
        )
    ]
    ends = np.cumsum(np.bincount(row_label[stops[shown_stop]], minlength=len(labels))).tolist()
    for index, (first, last) in enumerate(zip([0, *ends[:-1]], ends, strict=True)):
        if last > first:
            out[index] = bins[first:last]
    return out, thinned
