"""The full data's own recommendation, every image counted once: the centre of the bag of little
bootstraps' intervals (evaluation.stats.little_bootstraps).

With every multiplicity 1, a running sum of multiplicities over sorted entries is only how many entries
(or true entries) it has passed, so the counts at a candidate point are exact integers, the same as
_recommendations' running sums at every multiplicity 1 (an int32 or int64 sum of ones never rounds),
hence the same floats from _select. They are counted in one pass, a block of entries at a time, over the
order by confidence the analysis has already sorted (ScoredPairs.by_confidence), for the global curve
and every label's at once: no curve's sorted copies of the entries, no points, no running sums over
their images (at 28 million entries, 0.65 GB at once on top of what the analysis holds; now 0.1 GB).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from evaluation.stats.resampled_curves import (
    _by_confidence_descending,
    _candidates,
    _Entries,
    _select,
    _sum_rows_by_group,
)
from evaluation.stats.thresholds import Objective

_Found = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # group, confidence, tp, predicted
# entries read at a time: each block's temporaries (a dozen arrays of 8 bytes an entry) stay near 25 MB
_BLOCK = 1 << 18


def _full_recommendations(
    entries: _Entries, objective: Objective, ones: np.ndarray, *, by_confidence: np.ndarray | None = None
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """``_recommendations(entries.curves(), entries, objective, ones)`` for ``ones``, every multiplicity 1
    (N, 1): ((threshold, f1) (1, L), (threshold, f1) (1, 1)), the same numbers, from the entries' order
    by confidence ``by_confidence`` (ScoredPairs.by_confidence; sorted here when not given)."""
    n_labels = entries.n_labels
    if by_confidence is None:
        by_confidence = _by_confidence_descending(entries.confidence)
    support = _sum_rows_by_group(ones[entries.positive_image], entries.positive_label, n_labels)  # (L, 1)
    (per_label, label_count), (overall, total) = _count_candidates(by_confidence, entries, ones.dtype)
    return (
        _unit_recommendation(per_label, label_count, objective, support),
        _unit_recommendation(overall, total, objective, support.sum(axis=0, keepdims=True)),
    )


def _unit_recommendation(
    found: _Found, count: np.ndarray, objective: Objective, support: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(threshold, f1), each (1, G), from each group's candidates ``found`` (sorted by group, then
    threshold descending) and its count of entries, ``support`` (G, 1) its positives. As
    _recommendations: _select's choice among the candidates, F1 0 for a group with positives and no
    entry at all (recommend's no-predictions row)."""
    group, value, tp, predicted = found
    among = _candidates(np.arange(group.shape[0]), group, count.shape[0])
    chosen, f1 = _select(among, objective, tp[:, None], predicted[:, None], support)
    threshold = (
        np.where(chosen >= 0, value[np.maximum(chosen, 0)], np.nan)
        if value.size
        else np.full(chosen.shape, np.nan)  # no candidate: no threshold
    )
    f1 = np.where((count[:, None] == 0) & (support > 0), 0.0, f1)
    return threshold.T, f1.T


def _count_candidates(
    order: np.ndarray, entries: _Entries, dtype: np.dtype
) -> tuple[tuple[_Found, np.ndarray], ...]:
    """The candidates of every label's curve and of the global one, with (tp, predicted) at each in
    ``dtype`` (the multiplicities') and each curve's count of entries, in one pass over the entries in
    ``order`` (confidence descending).

    A point is the last entry of a run of one curve's entries of one confidence, a candidate a point
    whose run holds a true entry (as _curve finds them): the global curve's runs follow one another in
    ``order``; a label's entries keep that order, each block's sorted stably by label (a radix sort of
    narrow codes), its last entry in the block left pending until the label's next entry shows whether
    its run goes on."""
    total = order.shape[0]
    labels = _LabelRuns.empty(entries.n_labels, dtype)
    whole = _LabelRuns.empty(1, dtype)
    for start in range(0, total, _BLOCK):
        rows = order[start : start + _BLOCK]
        value = entries.confidence[rows]
        truth = entries.is_true[rows]
        labels.add(entries.label[rows].astype(labels.codes), value, truth)
        whole.add(np.zeros(rows.shape[0], dtype=np.int8), value, truth)
    return labels.finish(), whole.finish()


@dataclass
class _LabelRuns:
    """Runs of each group's entries seen so far, a block at a time in confidence order, and the
    candidates found: through each group's entries so far, its count and true count, the true count at
    its last point, and its last entry (pending: a point when the group's next entry differs)."""

    seen: np.ndarray  # (G,) int64
    true_seen: np.ndarray  # (G,) int64
    true_at_point: np.ndarray  # (G,) int64
    pending: np.ndarray  # (G,) bool
    pending_value: np.ndarray  # (G,) float64
    pending_true: np.ndarray  # (G,) int64
    dtype: np.dtype  # of the counts found
    codes: type[np.signedinteger]  # of the groups: the narrowest (a radix sort for up to 16 bits)
    found: tuple[list[np.ndarray], ...] = field(default_factory=lambda: ([], [], [], []))  # as _Found

    @classmethod
    def empty(cls, n_groups: int, dtype: np.dtype) -> _LabelRuns:
        zeros = np.zeros(n_groups, dtype=np.int64)
        codes = np.int8 if n_groups < 2**7 else np.int16 if n_groups < 2**15 else np.int32
        pending = np.zeros(n_groups, dtype=bool)
        return cls(zeros, zeros.copy(), zeros.copy(), pending, np.zeros(n_groups), zeros.copy(), dtype, codes)

    def add(self, group: np.ndarray, value: np.ndarray, truth: np.ndarray) -> None:
        """The next block of entries (confidence descending), their group codes, confidences, truth."""
        if self.seen.shape[0] > 1:  # one group (the global curve): already in order
            by_group = np.argsort(group, kind="stable")
            group, value, truth = group[by_group], value[by_group], truth[by_group]
        first = np.ones(group.shape[0], dtype=bool)  # each group's first entry in the block
        first[1:] = group[1:] != group[:-1]
        starts = np.flatnonzero(first)
        segment = np.cumsum(first) - 1
        in_block = np.cumsum(truth, dtype=np.int64)
        true_through = in_block - (in_block[starts] - truth[starts])[segment] + self.true_seen[group]
        seen_through = np.arange(1, group.shape[0] + 1) - starts[segment] + self.seen[group]
        # a pending entry is a point when its group's first entry here has another confidence
        present = group[starts]
        pending = present[self.pending[present]]
        ended = pending[self.pending_value[pending] != value[starts[self.pending[present]]]]
        self._points(ended, self.pending_value[ended], self.pending_true[ended], self.seen[ended])
        # the points inside the block: the next entry of the same group has another confidence
        run_end = np.zeros(group.shape[0], dtype=bool)
        run_end[:-1] = ~first[1:] & (value[1:] != value[:-1])
        at = np.flatnonzero(run_end)
        self._points(group[at], value[at], true_through[at], seen_through[at])
        # each group's last entry here is pending; its counts so far carried on
        last = np.append(starts[1:], group.shape[0]) - 1
        self.pending[present] = True
        self.pending_value[present] = value[last]
        self.pending_true[present] = true_through[last]
        self.seen[present] = seen_through[last]
        self.true_seen[present] = true_through[last]

    def _points(
        self, group: np.ndarray, value: np.ndarray, true_through: np.ndarray, seen: np.ndarray
    ) -> None:
        """Points sorted by group, then confidence descending: the candidates among them kept, each
        group's true count at its last point carried on."""
        first = np.ones(group.shape[0], dtype=bool)
        first[1:] = group[1:] != group[:-1]
        before = np.empty_like(true_through)
        before[1:] = true_through[:-1]
        before[first] = self.true_at_point[group[first]]
        keep = true_through > before
        counts = (true_through[keep].astype(self.dtype), seen[keep].astype(self.dtype))
        for parts, found in zip(
            self.found, (group[keep].astype(self.codes), value[keep], *counts), strict=True
        ):
            parts.append(found)
        last = np.ones(group.shape[0], dtype=bool)  # each group's last point
        last[:-1] = first[1:]
        self.true_at_point[group[last]] = true_through[last]

    def finish(self) -> tuple[_Found, np.ndarray]:
        """Every candidate, by group then confidence descending, and each group's count of entries."""
        ended = np.flatnonzero(self.pending)  # a group's last entry of all ends its last run
        self._points(ended, self.pending_value[ended], self.pending_true[ended], self.seen[ended])
        by_group = np.argsort(np.concatenate(self.found[0]), kind="stable")  # each group's in order
        group, value, tp, predicted = (self._sorted(parts, by_group) for parts in self.found)
        return (group, value, tp, predicted), self.seen

    @staticmethod
    def _sorted(parts: list[np.ndarray], order: np.ndarray) -> np.ndarray:
        """The parts found, joined and put in ``order``, each dropped once joined."""
        joined = np.concatenate(parts)
        parts.clear()
        return joined[order]
