"""A curve's points (exact_curves' frame) as arrays grouped by label, for the vectorised choices made
per label (thresholds, costs, the review band, the report's bins)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = ["curve_points_by_label", "label_positions", "next_lower_threshold"]

_COUNT_COLUMNS = ("tp", "fp", "fn", "tn", "support")


def curve_points_by_label(
    curves: pd.DataFrame, labels: Sequence[str], columns: Sequence[str] = ("tp", "fp")
) -> dict[str, np.ndarray]:
    """The points of ``curves`` (exact_curves' frame) as arrays sorted by the label's position in
    ``labels`` (``code``), then by ``threshold`` from the highest down, with ``columns`` (counts as int64,
    rates as float64): each label's points are one contiguous run, ready for vectorised work per label."""
    code = label_positions(curves["label"], pd.Index(tuple(labels), dtype=object))
    if (code < 0).any():
        unknown = sorted(set(curves["label"].astype(object)[code < 0]))
        raise ValueError(f"curves name label(s) not in labels: {unknown[:5]!r}")
    threshold = curves["threshold"].to_numpy(np.float64)
    step, fall = np.diff(code), np.diff(threshold)
    ordered = bool(((step > 0) | ((step == 0) & (fall < 0))).all())  # exact_curves' own order
    del step, fall
    points = {"code": code.astype(np.int64, copy=False), "threshold": threshold}
    for name in columns:
        points[name] = curves[name].to_numpy(np.int64 if name in _COUNT_COLUMNS else np.float64)
    if ordered:  # nothing to sort: the frame's columns as they are (read-only), not copies
        return points
    order = np.lexsort((-threshold, code))
    return {name: values[order] for name, values in points.items()}


def label_positions(label: pd.Series, labels: pd.Index) -> np.ndarray:
    """Each row's position in `labels` (-1 when absent): by category for a categorical column, a lookup
    per category instead of a hashed text per row (millions of curve points name a few labels)."""
    if not isinstance(label.dtype, pd.CategoricalDtype):
        return labels.get_indexer(label.astype(object))
    position = labels.get_indexer(label.cat.categories.astype(object))
    return np.append(position, -1)[label.cat.codes.to_numpy()]  # code -1 (a missing label): -1


def next_lower_threshold(
    code: np.ndarray, threshold: np.ndarray, floor: float
) -> tuple[np.ndarray, np.ndarray]:
    """Per point of a curve sorted by (code, threshold descending): the next lower threshold of its label
    (the floor for its last point), and whether the point is its label's lowest. Any MinConfidence in
    (next lower, threshold] gives the point's counts."""
    same_next = code[1:] == code[:-1]
    low = np.full(threshold.shape[0], float(floor))
    low[:-1][same_next] = threshold[1:][same_next]
    lowest = np.ones(threshold.shape[0], dtype=bool)
    lowest[:-1] = ~same_next
    return low, lowest
