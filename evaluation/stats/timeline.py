"""Time-weighted metrics of labels in videos: seconds present-and-predicted, present-and-missed and
predicted-and-absent at every threshold, as one sweep (sort once, cumulative sums), like metrics.py.

A video's time line is cut into pieces at every edge (ground-truth segments, detections, tolerance
zones), so inside a piece nothing changes: it is in the truth or not, in a tolerance zone or not, and
predicted from the highest confidence of the detections covering it. At threshold t a piece is predicted
when that confidence is >= t (as MinConfidence works). Time within `tolerance_ms` of a ground-truth
segment's edge is not judged at all (annotators and the service's sampling disagree by a frame or two
there), so it counts neither as a hit, nor as a miss, nor as a false alarm.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["SEGMENT_COLUMNS", "Pieces", "best_f1", "pieces", "subtract", "time_curve", "union"]

SEGMENT_COLUMNS = ("threshold", "tp_s", "fn_s", "fp_s", "precision", "recall", "f1")

Interval = tuple[float, float]


@dataclass(frozen=True)
class Pieces:
    """The judged pieces of one or more time lines: length (ms), in the truth, best detection confidence
    covering it (-inf when none does)."""

    length_ms: np.ndarray
    in_truth: np.ndarray
    confidence: np.ndarray

    @staticmethod
    def concat(parts: Sequence[Pieces]) -> Pieces:
        if not parts:
            return Pieces(np.zeros(0), np.zeros(0, bool), np.zeros(0))
        return Pieces(
            np.concatenate([p.length_ms for p in parts]),
            np.concatenate([p.in_truth for p in parts]),
            np.concatenate([p.confidence for p in parts]),
        )


def pieces(
    truth: Sequence[Interval],
    detections: Sequence[tuple[float, float, float]],
    *,
    duration_ms: float,
    tolerance_ms: float = 0.0,
) -> Pieces:
    """The judged pieces of one video and one label; `detections` are (start_ms, end_ms, confidence)."""
    if duration_ms <= 0:
        return Pieces.concat([])
    zones = [
        (edge - tolerance_ms, edge + tolerance_ms)
        for start, end in truth
        for edge in (start, end)
        if tolerance_ms > 0
    ]
    edges = {0.0, float(duration_ms)}
    for start, end in (*truth, *zones, *((s, e) for s, e, _ in detections)):
        edges.update((float(start), float(end)))
    cuts = np.asarray(sorted(edge for edge in edges if 0.0 <= edge <= duration_ms), dtype=np.float64)
    if cuts.size < 2:
        return Pieces.concat([])
    lengths = np.diff(cuts)
    middles = (cuts[:-1] + cuts[1:]) / 2
    in_truth = _covered(middles, truth)
    judged = ~_covered(middles, zones)
    confidence = np.full(middles.shape, -np.inf)
    if detections:
        spans = np.asarray(detections, dtype=np.float64)
        inside = (spans[None, :, 0] <= middles[:, None]) & (middles[:, None] < spans[None, :, 1])
        confidence = np.where(inside, spans[None, :, 2], -np.inf).max(axis=1)
    keep = judged & (lengths > 0)
    return Pieces(lengths[keep], in_truth[keep], confidence[keep])


def _covered(points: np.ndarray, intervals: Sequence[Interval]) -> np.ndarray:
    if not intervals:
        return np.zeros(points.shape, dtype=bool)
    spans = np.asarray(intervals, dtype=np.float64)
    return ((spans[None, :, 0] <= points[:, None]) & (points[:, None] < spans[None, :, 1])).any(axis=1)


def time_curve(judged: Pieces, *, floor: float = 0.0) -> pd.DataFrame:
    """Seconds TP/FN/FP and time-weighted precision, recall and F1 at every distinct confidence >= floor.

    Precision is NaN where nothing is predicted, recall NaN where the label is never present (undefined,
    never a silent 0).
    """
    positive_ms = float(judged.length_ms[judged.in_truth].sum())
    usable = judged.confidence >= floor
    conf = judged.confidence[usable]
    order = np.argsort(-conf, kind="stable")
    conf = conf[order]
    length = judged.length_ms[usable][order]
    truth = judged.in_truth[usable][order]
    if conf.size == 0:
        return pd.DataFrame(columns=list(SEGMENT_COLUMNS))
    tp = np.cumsum(length * truth)
    fp = np.cumsum(length * ~truth)
    last = np.flatnonzero(np.r_[conf[1:] != conf[:-1], True])
    tp, fp, thresholds = tp[last], fp[last], conf[last]
    fn = positive_ms - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(tp + fp > 0, tp / (tp + fp), np.nan)
        recall = np.where(positive_ms > 0, tp / positive_ms, np.nan)
        f1 = np.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), np.nan)
    return pd.DataFrame(
        {
            "threshold": thresholds,
            "tp_s": tp / 1000.0,
            "fn_s": fn / 1000.0,
            "fp_s": fp / 1000.0,
            "precision": precision,
            "recall": recall,
            "f1": f1,
        }
    )


def best_f1(curve: pd.DataFrame) -> dict[str, float] | None:
    """The row of highest F1 (ties: the highest threshold, the fewest false alarms); None if undefined."""
    if curve.empty or curve["f1"].isna().all():
        return None
    ranked = curve.assign(_f1=curve["f1"].fillna(-1.0)).sort_values(
        ["_f1", "threshold"], ascending=[False, False], kind="stable"
    )
    row = ranked.iloc[0]
    return {name: float(row[name]) for name in SEGMENT_COLUMNS}


def union(intervals: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """Sorted, disjoint intervals covering the same time (zero-length ones cover none)."""
    merged: list[tuple[float, float]] = []
    for start, end in sorted((s, e) for s, e in intervals if e > s):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def subtract(
    kept: Sequence[tuple[float, float]], removed: Sequence[tuple[float, float]]
) -> list[tuple[float, float]]:
    """The time of `kept` outside `removed` (both disjoint and sorted, as `union` returns them)."""
    out = []
    for start, end in kept:
        cursor = start
        for r_start, r_end in removed:
            if r_end <= cursor or r_start >= end:
                continue
            if r_start > cursor:
                out.append((cursor, r_start))
            cursor = max(cursor, r_end)
        if cursor < end:
            out.append((cursor, end))
    return out
