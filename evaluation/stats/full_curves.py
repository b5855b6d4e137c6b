"""The full data's own recommendation, every image counted once: the centre of the bag of little
bootstraps' intervals (evaluation.stats.little_bootstraps).

With every multiplicity 1, a running sum of multiplicities over sorted entries is only how many entries
(or true entries) it has passed, so the counts at a candidate point are its position and a running count
of true entries, exact integers, the same as _recommendations' running sums at every multiplicity 1 (an
int32 or int64 sum of ones never rounds), hence the same floats from _select. They are read a block of
entries at a time from the one order by confidence the analysis has already sorted: no curve's sorted
copies of the entries, no points array, no running sum over their images (at 28 million entries, 0.8 GB
at once on top of what the analysis holds, against about 0.1 GB now).
"""

from __future__ import annotations

import numpy as np

from evaluation.stats.micro_counts import PAIRS_PER_BLOCK, block_counts
from evaluation.stats.resampled_curves import (
    _by_confidence_descending,
    _candidates,
    _Entries,
    _select,
    _sum_rows_by_group,
)
from evaluation.stats.thresholds import Objective

# the per-label curves are read for labels holding about this many entries at a time (their positions
# by label, int64: 32 MB each)
_FULL_ENTRIES_PER_PART = 4_000_000


def _full_recommendations(
    entries: _Entries,
    objective: Objective,
    ones: np.ndarray,
    most: int = _FULL_ENTRIES_PER_PART,
    *,
    by_confidence: np.ndarray | None = None,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """``_recommendations(entries.curves(), entries, objective, ones)`` for ``ones``, every multiplicity 1
    (N, 1): ((threshold, f1) (1, L), (threshold, f1) (1, 1)), the same numbers. The per-label curves for
    a few labels at a time (about ``most`` entries), each part's entries taken from the order by
    confidence ``by_confidence`` (ScoredPairs.by_confidence; sorted here when not given) and stably by
    label, as curves() sorts them; then the global curve straight from that order."""
    n_labels = entries.n_labels
    if by_confidence is None:
        by_confidence = _by_confidence_descending(entries.confidence)
    support = _sum_rows_by_group(ones[entries.positive_image], entries.positive_label, n_labels)  # (L, 1)
    codes = _labels_in_order(entries.label, by_confidence, n_labels)
    per_label = block_counts(entries.label, n_labels)  # no int64 copy of the int32 labels
    threshold, f1 = np.full((1, n_labels), np.nan), np.full((1, n_labels), np.nan)
    first = 0
    while first < n_labels:  # labels [first, last): at least one, else as many as fit in ``most``
        last = first + max(1, int(np.searchsorted(np.cumsum(per_label[first:]), most, side="right")))
        at = np.flatnonzero((codes >= first) & (codes < last))  # their positions in the order by confidence
        at = at[np.argsort(codes[at], kind="stable")]  # by label, then as by confidence (a radix sort)
        part = _unit_recommendation(
            by_confidence[at], codes[at], entries, n_labels, objective, support, ones.dtype
        )
        threshold[:, first:last], f1[:, first:last] = part[0][:, first:last], part[1][:, first:last]
        del at, part
        first = last
    del codes
    overall = _unit_recommendation(
        by_confidence, None, entries, 1, objective, support.sum(axis=0, keepdims=True), ones.dtype
    )
    return (threshold, f1), overall


def _labels_in_order(label: np.ndarray, order: np.ndarray, n_labels: int) -> np.ndarray:
    """``label[order]`` in the narrowest integers that hold every code up to n_labels (int8 for up to 127
    labels: 28 MB at 28 million entries, not 0.1 GB), a block at a time."""
    dtype = np.int8 if n_labels < 2**7 else np.int16 if n_labels < 2**15 else np.int32
    codes = np.empty(order.shape[0], dtype=dtype)
    for start in range(0, order.shape[0], PAIRS_PER_BLOCK):
        codes[start : start + PAIRS_PER_BLOCK] = label[order[start : start + PAIRS_PER_BLOCK]]
    return codes


def _unit_recommendation(
    order: np.ndarray,
    group: np.ndarray | None,
    entries: _Entries,
    n_groups: int,
    objective: Objective,
    support: np.ndarray,
    dtype: np.dtype,
) -> tuple[np.ndarray, np.ndarray]:
    """(threshold, f1), each (1, G), of the curves of the entries at ``order`` (sorted by group, then
    confidence descending) with groups ``group`` (None: one group), every multiplicity 1; ``support``
    (G, 1) the positives of each group. As _recommendations: the counts at the candidates in ``dtype``
    (the multiplicities'), _select's choice among them, F1 0 for a group with positives and no entry."""
    position, value, true_through, candidate_group, true_per_group = _unit_candidates(
        order, group, entries.confidence, entries.is_true, n_groups
    )
    count = block_counts(group, n_groups) if group is not None else np.array([order.shape[0]])
    group_start = np.cumsum(count) - count
    true_before = np.cumsum(true_per_group) - true_per_group
    tp = (true_through - true_before[candidate_group]).astype(dtype)[:, None]
    predicted = (position + 1 - group_start[candidate_group]).astype(dtype)[:, None]
    among = _candidates(np.arange(position.shape[0]), candidate_group, n_groups)
    chosen, f1 = _select(among, objective, tp, predicted, support)
    threshold = (
        np.where(chosen >= 0, value[np.maximum(chosen, 0)], np.nan)
        if value.size
        else np.full(chosen.shape, np.nan)  # no candidate: no threshold
    )
    # no prediction at all (no entry of the group) but positives: recommend's no-predictions row
    f1 = np.where((count[:, None] == 0) & (support > 0), 0.0, f1)
    return threshold.T, f1.T


def _unit_candidates(
    order: np.ndarray, group: np.ndarray | None, confidence: np.ndarray, is_true: np.ndarray, n_groups: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The candidates of the curves of the entries at ``order`` (sorted by group, then confidence
    descending), a block at a time: a point (the last entry of a run of one group and one confidence)
    whose run holds a true entry, as _curve finds them. Returns each candidate's position in ``order``,
    confidence, true entries up to it (int64), group, and each group's count of true entries."""
    total = order.shape[0]
    positions, values, trues, groups = [np.zeros(0, np.int64)], [confidence[:0]], [np.zeros(0, np.int64)], []
    groups.append(np.zeros(0, np.int64) if group is None else group[:0])
    true_per_group = np.zeros(n_groups, dtype=np.int64)
    true_before = 0  # true entries before the block
    true_at_point = 0  # true entries up to the last point before the block
    for start in range(0, total, PAIRS_PER_BLOCK):
        stop = min(total, start + PAIRS_PER_BLOCK)
        ahead = min(total, stop + 1)  # with the next block's first entry: is the block's last a point?
        value = confidence[order[start:ahead]]
        run_end = np.ones(stop - start, dtype=bool)
        run_end[: ahead - start - 1] = value[1:] != value[:-1]
        if group is not None:
            codes = group[start:ahead]
            run_end[: ahead - start - 1] |= codes[1:] != codes[:-1]
        truth = is_true[order[start:stop]]
        true_so_far = np.cumsum(truth, dtype=np.int64)
        true_so_far += true_before
        ends = np.flatnonzero(run_end)
        through = true_so_far[ends]
        before = np.empty_like(through)  # true entries up to the point before each
        if through.size:
            before[0], before[1:] = true_at_point, through[:-1]
            true_at_point = int(through[-1])
        if stop > start:
            true_before = int(true_so_far[-1])
        taken = ends[through > before]  # a true entry in its run
        positions.append(taken + start)
        values.append(value[taken])
        trues.append(true_so_far[taken])
        if group is not None:
            groups.append(codes[taken])
            true_per_group += np.bincount(codes[: stop - start][truth], minlength=n_groups)
    if group is None:
        groups.append(np.zeros(sum(part.size for part in positions), dtype=np.int64))
        true_per_group[0] = true_before
    return (
        np.concatenate(positions),
        np.concatenate(values),
        np.concatenate(trues),
        np.concatenate(groups),
        true_per_group,
    )
