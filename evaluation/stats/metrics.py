"""Precision and recall of every label at every MinConfidence, from sparse predictions.

The layout follows scikit-learn's ``sklearn/metrics/_ranking.py``: sort the scores once, count true and
false positives at every distinct threshold with cumulative sums, derive precision/recall/F1 from the
counts and average precision from the curve. Everything works on the sparse (image, label) pairs that
Rekognition returned, so 100,000 images x 1,000 labels never becomes a dense N x L matrix.

A label is predicted for an image at threshold ``t`` when its confidence is ``>= t``, as Rekognition's
``MinConfidence`` works. A positive that was never returned is a false negative at every threshold.
Undefined values are NaN, never a silent 0 (see :func:`undefined_reasons`).
"""

from __future__ import annotations

import functools
import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from evaluation.errors import UserError
from evaluation.stats.curve_points import by_confidence_descending, grouped_then_descending
from evaluation.stats.curve_table import CURVE_COLUMNS, CurveTable, divide, rates
from evaluation.stats.frozen import int_array, readonly
from evaluation.stats.micro_counts import (
    block_counts,
    distinct_points,
    grid_cells,
    keys_increase,
    label_blocks,
)

__all__ = ["CURVE_COLUMNS", "GLOBAL_COLUMNS", "MICRO_MACRO_COLUMNS", "ScoredPairs", "average_precision"]
__all__ += [
    "CurveTable",
    "exact_curve_table",
    "exact_curves",
    "global_curve",
    "grid_table",
    "micro_macro",
    "undefined_reason",
    "undefined_reasons",
]

GLOBAL_COLUMNS = ("threshold", "tp", "fp", "fn", "precision", "recall", "f1")
MICRO_MACRO_COLUMNS = ("threshold", "micro_precision", "micro_recall", "micro_f1")
MICRO_MACRO_COLUMNS += ("macro_precision", "macro_recall", "macro_f1", "macro_labels")

PRECISION_UNDEFINED = "precision undefined: no predictions at this threshold"
RECALL_UNDEFINED = "recall undefined: no positives in the dataset"
F1_UNDEFINED = "f1 undefined: no positives and no predictions at this threshold"


# --------------------------------------------------------------------------------------------- input


@dataclass(frozen=True, eq=False)
class ScoredPairs:
    """Sparse predictions: one entry per (image, label) pair that the backend returned at or above the floor.

    Positives that were never returned are not entries; they only count in ``support``. Arrays are
    stored as read-only copies, so the one sort that every curve needs is done once and cached.
    ``eq=False`` because element-wise array equality has no single truth value.
    """

    labels: tuple[str, ...]  # the vocabulary, L labels, in report order
    n_images: int  # N images evaluated
    support: np.ndarray  # (L,) int: ground-truth positives per label
    label_idx: np.ndarray  # (M,) int in [0, L): int32 (products with it made in int64)
    image_idx: np.ndarray  # (M,) int in [0, N): int32 when N <= 2**31, else int64
    confidence: np.ndarray  # (M,) float, 0-100 as Rekognition reports
    is_true: np.ndarray  # (M,) bool: the image has that label in its ground truth
    floor: float = 0.0  # the lowest MinConfidence that was asked for; nothing below it is known
    # the arrays given are the instance's own (made read-only, not copied): for a caller that built them
    # for it alone (match: 0.7 GB of copies at 28 million pairs)
    take_arrays: bool = field(default=False, kw_only=True, repr=False)

    def __post_init__(self) -> None:
        labels = tuple(self.labels)
        not_text = [label for label in labels if not isinstance(label, str)]
        if not_text:
            raise ValueError(f"labels must be strings; got {not_text[:3]!r}")
        if len(set(labels)) != len(labels):
            seen: set[str] = set()
            repeated = sorted({label for label in labels if label in seen or seen.add(label)})
            raise ValueError(f"labels must be unique; repeated: {repeated[:5]!r}")
        if not isinstance(self.n_images, numbers.Integral) or isinstance(self.n_images, bool):
            raise ValueError(f"n_images must be an int; got {self.n_images!r}")
        if self.n_images < 0:
            raise ValueError(f"n_images must be >= 0; got {self.n_images}")
        floor = float(self.floor)
        if not 0.0 <= floor <= 100.0:
            raise ValueError(f"floor must be a confidence in [0, 100]; got {self.floor!r}")
        n_labels, n_images = len(labels), int(self.n_images)

        support = int_array("support", self.support, (n_labels,))
        label_idx = int_array("label_idx", self.label_idx, np.shape(self.label_idx), below=n_labels)
        if label_idx.ndim != 1:
            raise ValueError(f"label_idx must be 1-D, shape (M,); got shape {label_idx.shape}")
        n_pairs = label_idx.shape[0]
        image_idx = int_array("image_idx", self.image_idx, (n_pairs,), below=n_images)  # int32 (< 2**31)
        confidence = np.asarray(self.confidence, dtype=np.float64)
        if confidence.shape != (n_pairs,):
            raise ValueError(
                f"confidence must have shape (M,) = {(n_pairs,)} like label_idx; got {confidence.shape}"
            )
        is_true = np.asarray(self.is_true)
        if is_true.dtype != np.bool_:
            if is_true.size and (is_true.dtype.kind not in "iu" or not np.isin(is_true, (0, 1)).all()):
                raise ValueError(f"is_true must be boolean; got dtype {is_true.dtype}")
            is_true = is_true.astype(bool)
        if is_true.shape != (n_pairs,):
            raise ValueError(
                f"is_true must have shape (M,) = {(n_pairs,)} like label_idx; got {is_true.shape}"
            )

        if (support < 0).any() or (support > n_images).any():
            raise ValueError(
                f"support must be in [0, n_images={n_images}]; got {support.min()}..{support.max()}"
            )
        if n_pairs:
            if label_idx.min() < 0 or label_idx.max() >= n_labels:
                raise ValueError(
                    f"label_idx must be in [0, L={n_labels}); got {label_idx.min()}..{label_idx.max()}"
                )
            if image_idx.min() < 0 or image_idx.max() >= n_images:
                raise ValueError(
                    f"image_idx must be in [0, N={n_images}); got {image_idx.min()}..{image_idx.max()}"
                )
            if not np.isfinite(confidence).all() or confidence.min() < 0 or confidence.max() > 100:
                raise ValueError("confidence must be finite and in [0, 100] as Rekognition reports it")
            if confidence.min() < floor:
                raise ValueError(
                    f"{int((confidence < floor).sum())} confidence(s) below floor={floor} "
                    f"(lowest {confidence.min()}): nothing below the floor is known; drop them or lower floor"
                )
            # image-major, as responses arrive one image at a time: then the stable sort is ~linear; pairs
            # in (image, label) order (match's) have no repeats, checked a block at a time without it
            strictly = keys_increase(image_idx, label_idx, max(n_labels, 1))
            pair_key = (
                np.zeros(0, np.int64)
                if strictly
                else np.sort(image_idx * np.int64(max(n_labels, 1)) + label_idx, kind="stable")
            )
            if repeats := int((pair_key[1:] == pair_key[:-1]).sum()):
                raise ValueError(
                    f"{repeats} repeated (image, label) pair(s): keep one entry per pair (the max confidence)"
                )
        returned_positives = np.bincount(label_idx[is_true], minlength=n_labels)
        too_many = np.flatnonzero(returned_positives > support)
        if too_many.size:
            first = too_many[0]
            raise ValueError(
                f"{too_many.size} label(s) have more true entries than support, e.g. {labels[first]!r}: "
                f"{returned_positives[first]} true entries > support {support[first]}"
            )

        object.__setattr__(self, "labels", labels)
        object.__setattr__(self, "n_images", n_images)
        object.__setattr__(self, "floor", floor)
        object.__setattr__(self, "support", readonly(support, take=self.take_arrays))
        object.__setattr__(self, "label_idx", readonly(label_idx, take=self.take_arrays))
        object.__setattr__(self, "image_idx", readonly(image_idx, take=self.take_arrays))
        object.__setattr__(self, "confidence", readonly(confidence, take=self.take_arrays))
        object.__setattr__(self, "is_true", readonly(is_true, take=self.take_arrays))

    @property
    def n_labels(self) -> int:
        return len(self.labels)

    @property
    def n_pairs(self) -> int:
        return int(self.label_idx.shape[0])

    def forget_sweep(self) -> None:
        """Drop the cached sweep (four arrays the size of the curves), once the curves and AP are built."""
        self.__dict__.pop("_curve_points", None)

    def forget_order(self) -> None:
        """Drop the cached order by confidence (one int64 per pair), once the bootstrap has used it."""
        self.__dict__.pop("by_confidence", None)

    @functools.cached_property
    def by_confidence(self) -> np.ndarray:
        """Pairs by confidence descending, ties in entry order (``np.argsort(-confidence, kind="stable")``):
        the one sort the sweep, the global curve and the bootstrap's global curve start from (each took
        about 4 s at 28 million pairs, and the bootstrap's its peak memory), until forget_order."""
        order = by_confidence_descending(self.confidence)
        order.flags.writeable = False
        return order

    @functools.cached_property
    def _curve_points(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The sweep shared by exact_curves and average_precision, done once per (immutable) instance."""
        points = _sweep(self)
        for part in points:  # a cached result must not be edited by one caller for the next
            part.flags.writeable = False
        return points


# --------------------------------------------------------------------------------------- counts -> rates


_ROWS_PER_BLOCK = 1 << 20  # a block of labels' points at a time (average_precision)


def _label_column(codes: np.ndarray, labels: Sequence[str]) -> pd.Categorical:
    """Labels as a Categorical whose categories keep the vocabulary's report order (and cost 1 int each)."""
    return pd.Categorical.from_codes(codes, categories=pd.Index(list(labels), dtype=object))


def _owned(values: np.ndarray, dtype: type) -> np.ndarray:
    """``values`` as ``dtype`` for a table to hold without copying: a copy only when read-only."""
    return np.array(values, dtype=dtype, copy=True if not values.flags.writeable else None)


def _curve_table(
    pairs: ScoredPairs, points: list[np.ndarray], negatives: np.ndarray | None = None
) -> CurveTable:
    """The table of `points` (label codes, threshold, tp, fp), which it empties: each array goes as soon
    as the table has its own (the label's as int8 codes, the counts narrowed), so a cached sweep and the
    table are never held together. `negatives` per label: the images without it unless given (an
    operation's own, for detections: see Scored)."""
    narrow = np.int32 if pairs.n_images < 2**31 else np.int64  # 20 bytes less per row, on tens of millions
    label_codes, threshold, tp, fp = points
    points.clear()
    label = _label_column(label_codes, pairs.labels)
    del label_codes
    # a read-only array (exact_curves' cached sweep) is copied, the table's own
    threshold = _owned(threshold, np.float64)
    tp = _owned(tp, narrow)
    fp = _owned(fp, narrow)
    support = pairs.support
    if negatives is None:
        negatives = pairs.n_images - support
    for array in (threshold, tp, fp):
        array.flags.writeable = False  # read through the table's frames, never edited
    return CurveTable(label, threshold, tp, fp, support, np.asarray(negatives, dtype=np.int64), narrow)


def _curve_frame(pairs: ScoredPairs, points: list[np.ndarray]) -> pd.DataFrame:
    """The frame of `points` (label codes, threshold, tp, fp), with every column of CURVE_COLUMNS."""
    return _curve_table(pairs, points).frame()


# ------------------------------------------------------------------------------------------ the sweep


def by_group_then_confidence(
    group: np.ndarray, confidence: np.ndarray, n_groups: int, by_confidence: np.ndarray | None = None
) -> np.ndarray:
    """``np.lexsort((-confidence, group))`` (ties in entry order), without lexsort's cost on millions of
    entries: nothing when they are already in that order, else two stable sorts, the group's as 16-bit
    codes where they fit (numpy sorts those by radix); the first, by confidence, is ``by_confidence``
    when given (:attr:`ScoredPairs.by_confidence` of these confidences)."""
    if grouped_then_descending(group, confidence):
        return np.arange(group.shape[0])
    if by_confidence is None:
        by_confidence = by_confidence_descending(confidence)  # np.argsort(-confidence, kind="stable")
    codes = group[by_confidence]
    if 0 <= n_groups < 2**15:
        codes = codes.astype(np.int16)
    return by_confidence[np.argsort(codes, kind="stable")]


def _sweep(pairs: ScoredPairs) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per label, cumulative (tp, fp) at each distinct confidence, highest first.

    The one sort of all M entries, by (label, -confidence); ties collapse to the last entry of each run,
    as in sklearn's ``_binary_clf_curve``. Returns (label code, threshold, tp, fp), one item per point.
    """
    order = by_group_then_confidence(pairs.label_idx, pairs.confidence, pairs.n_labels, pairs.by_confidence)
    label = pairs.label_idx[order]
    confidence = pairs.confidence[order]
    is_true = pairs.is_true[order]
    del order  # each array the size of the entries goes once used, the rest in place: 28 million at scale
    # a count of entries fits int32 below 2**31 of them: half of int64's memory, the same numbers
    count = np.int32 if label.shape[0] < 2**31 else np.int64
    tp_running = np.cumsum(is_true, dtype=count)
    del is_true

    run_end = np.ones(label.shape[0], dtype=bool)
    run_end[:-1] = (label[1:] != label[:-1]) | (confidence[1:] != confidence[:-1])
    points = np.flatnonzero(run_end)
    del run_end

    per_label = block_counts(label, pairs.n_labels)  # no int64 copy of the int32 codes
    label_start = np.cumsum(per_label) - per_label  # first sorted position of each label
    # the true entries before each label's first: [0, *tp_running][label_start], without that copy
    before = tp_running[np.maximum(label_start - 1, 0)] if tp_running.size else np.zeros_like(label_start)
    tp_before_label = np.where(label_start > 0, before, 0).astype(count)

    point_label = label[points]
    del label
    tp = tp_running[points]
    del tp_running
    threshold = confidence[points]
    del confidence
    fp = points  # each point's sorted position, made its false positives in place
    fp += 1
    for start in range(0, fp.shape[0], _ROWS_PER_BLOCK):  # a block's gathers at a time, not the curve's
        rows = slice(start, start + _ROWS_PER_BLOCK)
        codes = point_label[rows]
        tp[rows] -= tp_before_label[codes]
        fp[rows] -= label_start[codes]
        fp[rows] -= tp[rows]  # the predictions through each point less its true ones
    return point_label, threshold, tp, fp


def exact_curves(pairs: ScoredPairs) -> pd.DataFrame:
    """One row per label per distinct confidence of that label, threshold descending within a label.

    Any MinConfidence in (next lower distinct confidence, threshold] gives the row's counts. A label with
    no predictions gets no rows (see :func:`grid_table` for every label). ``label`` is a Categorical whose
    categories are ``pairs.labels`` in report order. Columns: :data:`CURVE_COLUMNS`.
    """
    return exact_curve_table(pairs).frame()


def exact_curve_table(pairs: ScoredPairs, negatives: np.ndarray | None = None) -> CurveTable:
    """exact_curves' table as its points (see evaluation.stats.curve_table): what a large run holds.
    ``negatives``: per label, what a threshold's true negatives are counted from (Scored.negatives)."""
    points = list(pairs._curve_points)
    pairs.forget_sweep()  # the table takes its arrays over, one by one (average_precision would sweep again)
    return _curve_table(pairs, points, negatives)


def _grid(thresholds: Sequence[float] | np.ndarray | None, floor: float) -> np.ndarray:
    """The grid, ascending and unique; only thresholds at or above the floor are known."""
    if thresholds is None:
        return np.arange(math.ceil(floor), 101, dtype=np.float64)
    grid = np.asarray(thresholds, dtype=np.float64)
    if grid.ndim != 1 or grid.size == 0:
        raise UserError(f"thresholds must be a non-empty list of confidences; got shape {grid.shape}")
    bad = grid[~np.isfinite(grid) | (grid < floor) | (grid > 100)]
    if bad.size:
        raise UserError(
            f"thresholds must be confidences in [floor={floor:g}, 100] (nothing below the floor is known); "
            f"got {bad[:5].tolist()}"
        )
    return np.unique(grid)


def grid_table(pairs: ScoredPairs, *, thresholds: Sequence[float] | np.ndarray | None = None) -> pd.DataFrame:
    """One row per label (every label of the vocabulary) per grid threshold, threshold descending.

    Default grid: the whole numbers from ceil(floor) to 100. Each entry is counted once in the bin of the
    highest grid threshold it reaches; a reverse cumulative sum over bins gives the counts at every
    threshold. Memory is L x G, never N x L. Columns: :data:`CURVE_COLUMNS`.
    """
    grid = _grid(thresholds, pairs.floor)
    n_labels, n_grid = pairs.n_labels, grid.shape[0]
    tp_cells, fp_cells = grid_cells(pairs.label_idx, pairs.confidence, pairs.is_true, grid, n_labels)
    # Column j of the reversed cumsum counts every entry whose bin is the j-th highest or above.
    tp = np.cumsum(tp_cells[:, ::-1], axis=1, dtype=np.int64)
    fp = np.cumsum(fp_cells[:, ::-1], axis=1, dtype=np.int64)
    label_codes = np.repeat(np.arange(n_labels), n_grid)
    threshold = np.tile(grid[::-1], n_labels)
    return _curve_frame(pairs, [label_codes, threshold, tp.ravel(), fp.ravel()])


def average_precision(pairs: ScoredPairs) -> np.ndarray:
    """Average precision per label, shape (L,): AP = sum_n (R_n - R_{n-1}) P_n over the label's curve.

    sklearn's step-wise definition without interpolation, with one deliberate difference: positives that
    were never returned are never recalled, so recall may end below 1 and we do NOT add sklearn's final
    "predict every image" point (which would add (1 - R_last) * support / n_images). A label with positives
    but no predictions has AP 0. NaN where support == 0. When every image has a score for the label, this
    equals ``sklearn.metrics.average_precision_score`` (to a bit or two: the sum runs in another order).
    """
    label_codes, _, tp, fp = pairs._curve_points
    weighted = np.zeros(pairs.n_labels)
    # whole labels a block at a time: each label's sum runs over its points in order, as over the whole
    for rows in label_blocks(label_codes, pairs.n_labels, _ROWS_PER_BLOCK):
        codes, gained, predicted = label_codes[rows], tp[rows], tp[rows] + fp[rows]
        new_label = np.ones(codes.shape[0], dtype=bool)
        new_label[1:] = codes[1:] != codes[:-1]
        # true positives gained at this point: (R_n - R_{n-1}) * support
        recalled = np.diff(gained, prepend=0)
        recalled[new_label] = gained[new_label]
        weighted += np.bincount(codes, weights=recalled * (gained / predicted), minlength=pairs.n_labels)
    return divide(weighted, pairs.support)


def global_curve(pairs: ScoredPairs) -> pd.DataFrame:
    """Micro-averaged counts and rates at every distinct confidence over ALL labels, threshold descending.

    For choosing one application-wide MinConfidence: every label is predicted at the same threshold, so
    the micro counts are sums over labels. Columns: :data:`GLOBAL_COLUMNS`.
    """
    threshold, points, tp = distinct_points(pairs.confidence, pairs.is_true, pairs.by_confidence)
    fp = points + 1 - tp
    fn = int(pairs.support.sum()) - tp
    precision, recall, f1 = rates(tp, fp, fn)
    return pd.DataFrame(
        {
            "threshold": threshold,
            "tp": tp,
            "fp": fp,
            "fn": fn,
            "precision": precision,
            "recall": recall,
            "f1": f1,
        },
        columns=list(GLOBAL_COLUMNS),
        copy=False,  # its own arrays, not copied into blocks: millions of points
    )


def micro_macro(grid: pd.DataFrame) -> pd.DataFrame:
    """Micro and macro precision/recall/F1 per grid threshold (descending), from :func:`grid_table`.

    Micro rates come from counts summed over labels. Macro rates are the mean over the labels where each is
    defined: precision over labels with a prediction at t, recall over labels with support > 0, F1 over
    labels with either. ``macro_labels`` counts the labels in the macro *precision* mean, the one that
    shrinks as t rises (a high macro precision over few labels says little). Needs a grid (every label
    at the same thresholds), not :func:`exact_curves`.
    """
    missing = {"threshold", "tp", "fp", "fn", "precision", "recall", "f1"} - set(grid.columns)
    if missing:
        raise ValueError(f"micro_macro needs a grid_table frame; missing columns {sorted(missing)}")
    by_threshold = grid.groupby("threshold", sort=True)
    counts = by_threshold[["tp", "fp", "fn"]].sum()
    tp, fp, fn = (counts[name].to_numpy(dtype=np.int64) for name in ("tp", "fp", "fn"))
    precision, recall, f1 = rates(tp, fp, fn)
    means = by_threshold[["precision", "recall", "f1"]].mean()  # skips NaN: undefined labels drop out
    table = pd.DataFrame(
        {
            "threshold": counts.index.to_numpy(dtype=np.float64),
            "micro_precision": precision,
            "micro_recall": recall,
            "micro_f1": f1,
            "macro_precision": means["precision"].to_numpy(),
            "macro_recall": means["recall"].to_numpy(),
            "macro_f1": means["f1"].to_numpy(),
            "macro_labels": by_threshold["precision"].count().to_numpy(dtype=np.int64),
        },
        columns=list(MICRO_MACRO_COLUMNS),
    )
    return table.iloc[::-1].reset_index(drop=True)


# ------------------------------------------------------------------------------------------ reasons

_REASONS = np.array(
    [
        "; ".join(
            reason
            for bit, reason in ((1, PRECISION_UNDEFINED), (2, RECALL_UNDEFINED), (4, F1_UNDEFINED))
            if code & bit
        )
        for code in range(8)
    ],
    dtype=object,
)


def undefined_reasons(frame: pd.DataFrame) -> pd.Series:
    """Why each row's precision, recall or F1 is undefined ("" when all are defined), for reports.

    Decided from the counts (tp, fp, fn), not from NaN, so it also explains a frame that was rounded or
    re-read. Works for curve, grid and global frames.
    """
    tp = frame["tp"].to_numpy(dtype=np.int64)
    fp = frame["fp"].to_numpy(dtype=np.int64)
    fn = frame["fn"].to_numpy(dtype=np.int64)
    code = (tp + fp == 0) * 1 + (tp + fn == 0) * 2 + (2 * tp + fp + fn == 0) * 4
    return pd.Series(_REASONS[code], index=frame.index, name="undefined", dtype=object)


def undefined_reason(row: Mapping[str, Any] | pd.Series) -> str:
    """One row's reason (see :func:`undefined_reasons`); "" when precision, recall and F1 are defined."""
    tp, fp, fn = int(row["tp"]), int(row["fp"]), int(row["fn"])
    code = (tp + fp == 0) * 1 + (tp + fn == 0) * 2 + (2 * tp + fp + fn == 0) * 4
    return str(_REASONS[code])
