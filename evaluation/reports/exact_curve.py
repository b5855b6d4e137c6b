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

from evaluation.stats.curve_points import label_positions

if TYPE_CHECKING:
    from evaluation.analysis import EvaluationResult

MAX_EXACT_STOPS = 1000  # per label: distinct confidences the slider stops at (more are merged by quantile)


def _label_runs(label: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The first and last position of each run of equal labels."""
    change = np.flatnonzero(label[1:] != label[:-1]) + 1
    return np.concatenate(([0], change)), np.append(change - 1, len(label) - 1)


def descending_order(label: np.ndarray, threshold: np.ndarray) -> np.ndarray | None:
    """The order that puts each label's points together, thresholds descending: None when they already
    are (curves as stored: each label in one run, its thresholds distinct), else `np.lexsort((threshold,
    label))` reversed label by label (equal thresholds in the mirror of lexsort's order, so working
    through them backwards is working through lexsort's order)."""
    first, last = _label_runs(label)
    inside = np.ones(len(label) - 1, dtype=bool)  # neighbours in one run
    inside[first[1:] - 1] = False
    if (threshold[1:] < threshold[:-1])[inside].all() and len(np.unique(label[first])) == len(first):
        return None  # strictly descending (no ties, no NaN) with each label in one run
    order = np.lexsort((threshold, label))
    first, last = _label_runs(label[order])
    lengths = last - first + 1
    return order[np.repeat(first + last, lengths) - np.arange(len(label))]


def round10(values: np.ndarray) -> list[float]:
    """`[round(value, 10) for value in values.tolist()]`, ten times faster: Python rounds the exact value
    to ten decimals (ties to even) and returns the double nearest that decimal, k / 1e10, which is what
    the division below gives once k is right. k is rint(value * 1e10) wherever the product as computed
    (within half its spacing of the exact one) is further than its spacing from a half: the exact product
    then rounds to the same integer. Elsewhere (about one value in a hundred: exact ties, huge or
    non-finite values) Python rounds it."""
    with np.errstate(over="ignore", invalid="ignore"):
        scaled = values * 1e10
        rounded = (np.rint(scaled) / 1e10).tolist()
        sure = np.abs(scaled - np.floor(scaled) - 0.5) > np.abs(np.spacing(scaled))
        sure &= np.abs(scaled) < 2.0**51  # rint, floor and the subtraction exact
    for index in np.flatnonzero(~sure).tolist():
        rounded[index] = round(float(values[index]), 10)
    return rounded


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
    counts at every kept stop and every whole number (which the page adds) stay exact.

    Labels are independent: their points are worked through a block of whole labels at a time
    (`BLOCK_POINTS`), so no temporary is as long as the curve (25 million points at a million images:
    1.2 GB of 64-bit copies when done at once)."""
    labels = list(result.labels["label"].astype(object))
    floor = (result.summary.get("floor") or {}).get("evaluated_from") or 0.0
    recommended = dict(zip(labels, result.labels["threshold"], strict=True))
    curves = result.curve_table  # read by column: tp and fp as held, nothing made
    out: list[Any] = [[] for _ in labels]
    thinned = [False] * len(labels)
    if curves.empty:
        return out, thinned
    shown = label_positions(curves["label"], pd.Index(labels, dtype=object), np.int32)
    threshold = curves["threshold"].to_numpy(np.float64)
    counts = [_integers(curves[column].to_numpy()) for column in ("tp", "fp")]  # as stored: views
    wanted = shown >= 0
    wanted &= threshold >= float(floor)
    rows: np.ndarray | None = None  # None: every point, in the frame's order (no copy)
    if not wanted.all():
        if not wanted.any():
            return out, thinned
        rows = np.flatnonzero(wanted)
    del wanted
    if rows is None:
        order = descending_order(shown, threshold)
    else:
        order = descending_order(shown[rows], threshold[rows])
    if order is not None:
        rows = order if rows is None else rows[order]
    del order
    # Each label's points together, thresholds descending: ascending is read backwards, run by run.
    if rows is not None:
        shown = shown[rows]
    first, last = _label_runs(shown)
    labels_of_run = shown[first].tolist()
    for begin, end in _blocks(first, last):
        span = slice(int(first[begin]), int(last[end - 1]) + 1)
        points = span if rows is None else rows[span]
        _bins_of_runs(
            labels_of_run[begin:end],
            first[begin:end] - span.start,
            last[begin:end] - span.start,
            threshold[points],
            [column[points] for column in counts],
            max_stops,
            [recommended.get(labels[index]) for index in labels_of_run[begin:end]],
            out,
            thinned,
        )
    return out, thinned


BLOCK_POINTS = 1 << 20  # curve points worked at a time (whole labels: a longer label is one block)


def _integers(values: np.ndarray) -> np.ndarray:
    """A count column as stored when it holds integers, else as int64."""
    return values if values.dtype.kind in "iu" else values.astype(np.int64)


def _blocks(first: np.ndarray, last: np.ndarray) -> list[tuple[int, int]]:
    """Runs [begin, end) of consecutive labels of at most `BLOCK_POINTS` points together (at least one)."""
    blocks, begin = [], 0
    for run, end_point in enumerate(last.tolist()):
        if run > begin and end_point + 1 - int(first[begin]) > BLOCK_POINTS:
            blocks.append((begin, run))
            begin = run
    blocks.append((begin, len(last)))
    return blocks


def _bins_of_runs(
    run_labels: list[int],
    first: np.ndarray,
    last: np.ndarray,
    threshold: np.ndarray,
    counts: list[np.ndarray],
    max_stops: int,
    chosen: list[Any],
    out: list[Any],
    thinned: list[bool],
) -> None:
    """exact_bins of a block of whole labels (each one run, thresholds descending, `first` and `last`
    within the block), written into `out` and `thinned` at the labels' positions."""
    added = []
    for column in counts:  # each point's count minus that of the next higher threshold of its label
        count = column.astype(np.int64, copy=False)
        step = count.copy()
        np.subtract(count[1:], count[:-1], out=step[1:])
        step[first] = count[first]
        added.append(step)
    keep = np.ones(len(threshold), dtype=bool)
    for run in np.flatnonzero(last - first + 1 > max_stops).tolist():
        span = slice(int(first[run]), int(last[run]) + 1)
        keep[span] = _kept_stops(threshold[span][::-1], chosen[run], max_stops)[::-1]
        thinned[run_labels[run]] = True
    # each bin merged into the kept stop at or below it, the next kept point (a label's last is kept)
    stops = np.flatnonzero(keep)
    added_tp, added_fp = (np.add.reduceat(step, np.append(0, stops[:-1] + 1)) for step in added)
    shown_stop = np.flatnonzero((added_tp != 0) | (added_fp != 0))
    # as number(value, 10): thresholds are confidences, never NaN
    bins = [
        [value, a, b]
        for value, a, b in zip(
            round10(threshold[stops[shown_stop]]),
            added_tp[shown_stop].tolist(),
            added_fp[shown_stop].tolist(),
            strict=True,
        )
    ]
    stop_run = np.searchsorted(stops[shown_stop], first)  # where each run's bins start
    ends = np.append(stop_run[1:], len(bins)).tolist()
    for index, begin, end in zip(run_labels, stop_run.tolist(), ends, strict=True):
        out[index] = bins[begin:end][::-1]
