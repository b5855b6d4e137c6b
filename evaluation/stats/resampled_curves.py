"""The machinery under evaluation.stats.bootstrap: drawing resamples, the sorted curves, and one
vectorised pass that re-chooses every label's recommendation on many weighted resamples at once (see
that module for the method and the reproducibility contract)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from evaluation.stats.curve_points import by_confidence_descending as _by_confidence_descending
from evaluation.stats.intervals import wilson_interval
from evaluation.stats.metrics import ScoredPairs, by_group_then_confidence
from evaluation.stats.micro_counts import block_counts
from evaluation.stats.packed_counts import pack, packed_fields, unpack
from evaluation.stats.thresholds import Objective

# resamples x entries held at once (int32: ~32 MB per array); fewer columns leave numpy's row-wise take
# and cumsum dominated by per-row overhead (exact bootstrap, 20,000 images: 6 columns at 4,000,000, 1.6x
# slower), more only add memory
_CELLS_PER_CHUNK = 8_000_000
# rows x resamples of a running sum taken and summed at once (int32: 64 KB, within the core's cache; the
# packed uint64 columns of several resamples, packed_counts: 128 KB, measured as fast per cell):
# numpy's cumsum along the rows walks each column down the whole block, so a block larger than the
# cache is read from memory once per column (at 277,000 rows x 26 resamples, 3 times slower)
_RUNNING_SUM_CELLS = 16_384


# ------------------------------------------------------------------------------------------ resampling


def _canonical_order(n_images: int, image_keys: Sequence[Any] | np.ndarray | None) -> np.ndarray:
    """Image indices in the order resamples are drawn over: by key when keys are given."""
    if image_keys is None:
        return np.arange(n_images)
    keys = np.asarray(image_keys)
    if keys.shape != (n_images,):
        raise ValueError(f"image_keys must give one key per image, shape ({n_images},); got {keys.shape}")
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    if n_images > 1 and (sorted_keys[1:] == sorted_keys[:-1]).any():
        raise ValueError("image_keys must be unique: a repeated key would make the order arbitrary")
    return order


def _check_resamples(n_resamples: int, seed: int) -> None:
    if not isinstance(n_resamples, (int, np.integer)) or n_resamples < 1:
        raise ValueError(f"n_resamples must be an int >= 1, e.g. 1000; got {n_resamples!r}")
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be an int >= 0; got {seed!r}")


def resample_counts(
    n_images: int,
    *,
    n_resamples: int = 1000,
    seed: int = 0,
    image_keys: Sequence[Any] | np.ndarray | None = None,
    start: int = 0,
    stop: int | None = None,
) -> np.ndarray:
    """Multiplicities of resamples ``start``..``stop`` (default all): int32 array (stop - start, n_images).

    Row b, column i: how many times image i is drawn in resample b; each row sums to n_images. See the
    module's reproducibility contract for ``seed`` and ``image_keys``.
    """
    _check_resamples(n_resamples, seed)
    stop = n_resamples if stop is None else stop
    if not 0 <= start <= stop <= n_resamples:
        raise ValueError(f"need 0 <= start <= stop <= n_resamples={n_resamples}; got {start}, {stop}")
    order = _canonical_order(n_images, image_keys)
    children = np.random.SeedSequence(int(seed)).spawn(int(n_resamples))[start:stop]
    counts = np.zeros((stop - start, n_images), dtype=np.int32)
    if n_images == 0:
        return counts
    for row, child in enumerate(children):  # only the draw loops; all arithmetic is on whole chunks
        drawn = np.random.default_rng(child).integers(0, n_images, size=n_images)
        counts[row, order] = np.bincount(drawn, minlength=n_images)
    return counts


def _chunks(n_images: int, n_resamples: int, seed: int, image_keys: Any, cells: int) -> Iterator[np.ndarray]:
    size = max(1, min(n_resamples, _CELLS_PER_CHUNK // max(cells, 1)))
    for start in range(0, n_resamples, size):
        stop = min(n_resamples, start + size)
        yield resample_counts(
            n_images, n_resamples=n_resamples, seed=seed, image_keys=image_keys, start=start, stop=stop
        )


# ------------------------------------------------------------------------------------------ inputs


def _positive_pairs(
    pairs: ScoredPairs, positive_image_idx: Any, positive_label_idx: Any
) -> tuple[np.ndarray, np.ndarray]:
    """The ground-truth positive (image, label) pairs, checked against ``pairs`` (support and is_true)."""
    image = np.asarray(positive_image_idx, dtype=np.int64).reshape(-1)
    label = np.asarray(positive_label_idx, dtype=np.int64).reshape(-1)
    if image.shape != label.shape:
        raise ValueError(
            f"positive_image_idx and positive_label_idx differ in length: {image.shape}, {label.shape}"
        )
    n_labels = max(pairs.n_labels, 1)
    if image.size and (
        image.min() < 0 or image.max() >= pairs.n_images or label.min() < 0 or label.max() >= pairs.n_labels
    ):
        raise ValueError("positive pairs must index images in [0, n_images) and labels in [0, L)")
    # sorted keys, not np.unique / np.isin (hash tables: 1.7 million keys, 1.3 s each against 0.02 s)
    key = np.sort(image * n_labels + label)
    if (key[1:] == key[:-1]).any():
        raise ValueError("positive (image, label) pairs must be unique")
    if not np.array_equal(np.bincount(label, minlength=pairs.n_labels), pairs.support):
        raise ValueError(
            "positive pairs disagree with pairs.support: they must list every positive of each label"
        )
    true_key = np.sort(pairs.image_idx[pairs.is_true] * np.int64(n_labels) + pairs.label_idx[pairs.is_true])
    found = key[np.minimum(np.searchsorted(key, true_key), key.size - 1)] if key.size else key
    if true_key.size and (found.size == 0 or (found != true_key).any()):
        raise ValueError("an entry marked is_true is not among the positive pairs")
    return image, label


@dataclass(frozen=True)
class _Sums:
    """Where to read weighted sums over runs of entries from one running sum: row ``end`` minus row
    ``start`` of the running sum of ``rows`` (image of each summed entry) led by a zero row."""

    rows: np.ndarray  # (R,) image of each entry summed, in sorted order
    end: np.ndarray  # (Q,) 1 + index (in rows) of the last entry of each sum
    start: np.ndarray  # (Q,) index (in rows) of the first entry of each sum

    @cached_property
    def longest(self) -> int:
        """The most rows in one sum (with :attr:`most`, what bounds a packed sum: see packed_counts)."""
        return int((self.end - self.start).max()) if self.end.size else 0

    @cached_property
    def most(self) -> int:
        """The most rows of any one image."""
        return int(block_counts(self.rows, 0).max()) if self.rows.size else 0


@dataclass(frozen=True)
class _Curve:
    """Entries sorted by (group, confidence desc), with the curve's points (last entry of each run).

    Only a point whose run holds a true entry can be chosen (see :func:`_select`): those are the
    candidates, and the resampled counts are read at them alone, plus each group's total drawn weight.
    """

    image: np.ndarray  # (M,) image of each sorted entry
    is_true: np.ndarray  # (M,) bool
    confidence: np.ndarray  # (M,)
    points: np.ndarray  # (P,) sorted position of each point
    point_group: np.ndarray  # (P,)
    group_start: np.ndarray  # (G,) first sorted position of each group (M for an empty group)
    segment_start: np.ndarray  # (S,) first point of each group that has points
    segment_group: np.ndarray  # (S,)
    n_groups: int
    candidate: np.ndarray  # (K,) index into points of each candidate
    candidate_group: np.ndarray  # (K,)
    candidate_start: np.ndarray  # (T,) first candidate of each group that has candidates
    candidate_segment: np.ndarray  # (K,) index into candidate_start of each candidate's group
    candidate_segment_group: np.ndarray  # (T,)
    total_group: np.ndarray  # (A,) groups with points that can have support: their total is read
    tp: _Sums  # true entries only; K sums, one per candidate
    predicted: _Sums  # every entry; K + A sums: the candidates', then each total_group's
    predicted_counted: _Sums  # the same sums over the entries of total_group's groups only


@dataclass(frozen=True)
class _Candidates:
    """What :func:`_select` reads of a curve: its candidates, by group (a _Curve has the same fields)."""

    n_groups: int
    candidate: np.ndarray  # (K,) index into the curve's points of each candidate
    candidate_group: np.ndarray  # (K,) sorted
    candidate_start: np.ndarray  # (T,) first candidate of each group that has candidates
    candidate_segment: np.ndarray  # (K,) index into candidate_start of each candidate's group
    candidate_segment_group: np.ndarray  # (T,)


def _candidates(candidate: np.ndarray, candidate_group: np.ndarray, n_groups: int) -> _Candidates:
    """The candidates ``candidate`` (indices of points) of sorted groups ``candidate_group``, by group."""
    first = np.ones(candidate.shape[0], dtype=bool)
    first[1:] = candidate_group[1:] != candidate_group[:-1]
    start = np.flatnonzero(first)
    return _Candidates(
        n_groups, candidate, candidate_group, start, np.cumsum(first) - 1, candidate_group[start]
    )


def _sums_at(rows_of: np.ndarray, positions: np.ndarray, ends: np.ndarray, starts: np.ndarray) -> _Sums:
    """Sums over the entries at sorted ``positions`` (increasing) from position ``starts`` to ``ends``
    (inclusive), each end being one of ``positions``."""
    return _Sums(
        rows=rows_of[positions],
        end=np.searchsorted(positions, ends, side="right"),
        start=np.searchsorted(positions, starts, side="left"),
    )


def _curve(
    group: np.ndarray,
    image: np.ndarray,
    confidence: np.ndarray,
    is_true: np.ndarray,
    n_groups: int,
    positive_group: np.ndarray,
) -> _Curve:
    """The curve of entries already sorted by (group, confidence desc); ``positive_group`` (the group of
    each positive) says which groups can have support."""
    run_end = np.ones(group.shape[0], dtype=bool)
    run_end[:-1] = (group[1:] != group[:-1]) | (confidence[1:] != confidence[:-1])
    points = np.flatnonzero(run_end)
    point_group = group[points]
    per_group = block_counts(group, n_groups)  # not bincount's int64 copy of the int8 groups
    group_start = np.cumsum(per_group) - per_group
    first_point = np.ones(points.shape[0], dtype=bool)
    first_point[1:] = point_group[1:] != point_group[:-1]
    segment_start = np.flatnonzero(first_point)
    segment_group = point_group[segment_start]

    # a point is a candidate when its run (from the point before it, exclusive) has a true entry: the
    # points ending the true entries' runs, each once (arrays the size of the true entries, not the points)
    true_position = np.flatnonzero(is_true)
    run_of_true = np.searchsorted(points, true_position)
    candidate = run_of_true[np.diff(run_of_true, prepend=-1) > 0]
    candidate_group = point_group[candidate]
    chosen_among = _candidates(candidate, candidate_group, n_groups)

    can_have_support = block_counts(positive_group, n_groups) > 0
    can_have_support[group[true_position]] = True
    total_group = segment_group[can_have_support[segment_group]]
    group_last = group_start[total_group] + per_group[total_group] - 1
    ends = np.concatenate([points[candidate], group_last])
    starts = np.concatenate([group_start[candidate_group], group_start[total_group]])
    predicted = _Sums(rows=image, end=ends + 1, start=starts)
    counted = can_have_support[group]  # every entry (usual): the same sums, without a copy of image
    counted_sums = predicted if counted.all() else _sums_at(image, np.flatnonzero(counted), ends, starts)
    return _Curve(
        image=image,
        is_true=is_true,
        confidence=confidence,
        points=points,
        point_group=point_group,
        group_start=group_start,
        segment_start=segment_start,
        segment_group=segment_group,
        n_groups=n_groups,
        candidate=candidate,
        candidate_group=candidate_group,
        candidate_start=chosen_among.candidate_start,
        candidate_segment=chosen_among.candidate_segment,
        candidate_segment_group=chosen_among.candidate_segment_group,
        total_group=total_group,
        tp=_sums_at(image, true_position, points[candidate], group_start[candidate_group]),
        predicted=predicted,
        predicted_counted=counted_sums,
    )


def _sum_rows_by_group(values: np.ndarray, group: np.ndarray, n_groups: int) -> np.ndarray:
    """(K, C) values with sorted group codes (K,) -> (n_groups, C) sums, 0 for an empty group."""
    out = np.zeros((n_groups, values.shape[1]), dtype=np.float64)
    if group.size == 0:
        return out
    first = np.ones(group.shape[0], dtype=bool)
    first[1:] = group[1:] != group[:-1]
    starts = np.flatnonzero(first)
    out[group[starts]] = np.add.reduceat(values, starts, axis=0)
    return out


def _read_sums(sums: _Sums, weights_t: np.ndarray) -> np.ndarray:
    """(Q, C) weighted sums from multiplicities (N, C): one running sum down the rows (resamples as
    columns: contiguous rows, several times faster than along them), read at both ends. Integer
    multiplicities are summed several resamples to a uint64 (see packed_counts: the same integers in a
    fraction of the cells), floats as they are."""
    fields = _packing(weights_t, sums)
    return _read_packed(sums, pack(weights_t, fields) if fields > 1 else weights_t, fields, weights_t)


def _packing(weights_t: np.ndarray, *sums: _Sums) -> int:
    """How many resamples to pack into a uint64 for every sum of ``sums`` (packed_counts.packed_fields);
    their bounds are only looked at for integer multiplicities of several resamples."""
    if weights_t.shape[1] < 2 or not np.issubdtype(weights_t.dtype, np.integer):
        return 1
    return packed_fields(max(part.longest for part in sums), max(part.most for part in sums), weights_t)


def _read_packed(sums: _Sums, packed: np.ndarray, fields: int, weights_t: np.ndarray) -> np.ndarray:
    """:func:`_read_sums` from ``packed``, ``weights_t`` packed ``fields`` to a uint64 (1: itself)."""
    read = _running_sums_read(sums, packed)
    return read if fields == 1 else unpack(read, fields, weights_t.shape[1], weights_t.dtype)


def _running_sums_read(sums: _Sums, weights_t: np.ndarray) -> np.ndarray:
    """:func:`_read_sums` of ``weights_t`` as they are. The running sum is taken and summed
    :data:`_RUNNING_SUM_CELLS` at a time, each block continuing from the row before it: the same
    additions in the same order as one cumsum (bit for bit, floats too), from the cache.

    The running sum is the one over every sorted entry with the skipped entries' weights left out; a
    skipped entry is either never inside a sum read (an integer sum is the same in any order) or adds
    exactly 0 (a false entry to a true positive count), so every sum is the same number, bit for bit.
    """
    n_rows, n_columns = sums.rows.shape[0], weights_t.shape[1]
    running = np.empty((n_rows + 1, n_columns), dtype=weights_t.dtype)
    running[0] = 0
    block = max(1, _RUNNING_SUM_CELLS // max(n_columns, 1))
    for first in range(0, n_rows, block):
        last = min(n_rows, first + block)
        part = running[first : last + 1]  # led by the row before it: the running sum so far
        # mode "clip" (the rows are valid images) lets take write straight into ``out``: 3x faster than
        # indexing, which makes a temporary, and than take's default mode, which buffers ``out``
        weights_t.take(sums.rows[first:last], axis=0, out=part[1:], mode="clip")
        part.cumsum(axis=0, dtype=part.dtype, out=part)  # the row before it unchanged: the same adds
    out = running[sums.end]
    out -= running[sums.start]
    return out


def _resampled_points(curve: _Curve, weights_t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weighted (tp, predicted) at every candidate, (K, C), and each total_group's drawn weight (A, C),
    from multiplicities (N, C). Integer multiplicities stay integers (see :func:`_count_dtype`): exact,
    and half the memory traffic of float64; with them only the entries of groups that can have support
    are summed. Fractional ones sum every entry, in the same order as a running sum over all entries."""
    integer = np.issubdtype(weights_t.dtype, np.integer)
    read = curve.predicted_counted if integer else curve.predicted
    fields = _packing(weights_t, curve.tp, read)  # one packing for both
    packed = pack(weights_t, fields) if fields > 1 else weights_t
    tp = _read_packed(curve.tp, packed, fields, weights_t)
    sums = _read_packed(read, packed, fields, weights_t)
    n_candidates = curve.candidate.shape[0]
    return tp, sums[:n_candidates], sums[n_candidates:]


def _count_dtype(image_idx: np.ndarray, n_images: int) -> type[np.signedinteger]:
    """int32 when no running sum can overflow it, else int64.

    A resample's multiplicities sum to n_images, so a running sum over entries is at most n_images times
    the most entries any one image has; every count is then an exact integer, and every ratio computed
    from it (F1, precision, recall, Wilson) is the same float64 as from float64 counts.
    """
    most = int(block_counts(image_idx, 0).max()) if image_idx.size else 0  # int32: no int64 copy
    return np.int32 if max(n_images, 1) * max(most, 1) < 2**31 - 1 else np.int64


def _select(
    curve: _Curve | _Candidates,
    objective: Objective,
    tp: np.ndarray,
    predicted: np.ndarray,
    support_t: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Per (group, resample): the chosen point (-1 for none) and F1 there, by recommend's rule; inputs
    (K, C) at the candidates and support (G, C), outputs (G, C).

    Within a group points run from the highest threshold down, so "ties to the highest threshold" is
    "the first point reaching the maximum of the keys". A point whose run has no true entry repeats the
    tp of the point above it with at least its predictions: its F1, precision and their Wilson bounds
    are no higher, its recall the same (so are recall's bound and whether it is a candidate), so it never
    wins; nor does a group's first point without a true entry (tp 0: F1 and recall 0, never candidates).
    So only the candidates are evaluated (a point whose entries were not drawn repeats the counts of the
    point above it in the same way, and never wins a tie against a real point of the resample either).
    """
    n_candidates, n_chunk = tp.shape
    chosen = np.full((curve.n_groups, n_chunk), -1, dtype=np.int64)
    f1_chosen = np.full((curve.n_groups, n_chunk), np.nan)
    if n_candidates == 0:
        return chosen, f1_chosen
    point_support = support_t[curve.candidate_group]
    with np.errstate(invalid="ignore", divide="ignore"):
        denominator = predicted + point_support
        f1 = np.where(denominator > 0, 2.0 * tp / denominator, np.nan)
        if objective.kind == "best-f1":
            candidate = f1 > 0
            keys = [f1]
        else:
            precision = np.where(predicted > 0, tp / predicted, np.nan)
            recall = np.where(point_support > 0, tp / point_support, np.nan)
            measure = precision if objective.kind == "recall-at-precision" else recall
            if objective.certain:
                trials = predicted if objective.kind == "recall-at-precision" else point_support
                # the little bootstraps' centres weigh each image by n/b: float sums may round tp a
                # hair past its trials (or below 0); clipped, exact counts are untouched
                measure = wilson_interval(np.clip(tp, 0, trials), trials, level=objective.level)[0]
            candidate = measure >= objective.target
            if objective.kind == "recall-at-precision":
                candidate &= recall > 0
                keys = [recall]
            else:
                keys = [precision, recall]
    for key in keys:
        masked = np.where(candidate, key, -np.inf)
        best = np.maximum.reduceat(masked, curve.candidate_start, axis=0)
        candidate &= masked == best[curve.candidate_segment]
    position = np.where(candidate, np.arange(n_candidates)[:, None], n_candidates)
    first = np.minimum.reduceat(position, curve.candidate_start, axis=0)  # (T, C)
    found = first < n_candidates
    first = np.minimum(first, n_candidates - 1)
    chosen[curve.candidate_segment_group] = np.where(found, curve.candidate[first], -1)
    f1_chosen[curve.candidate_segment_group] = np.where(found, f1[first, np.arange(n_chunk)[None, :]], np.nan)
    return chosen, f1_chosen


@dataclass(frozen=True)
class _Entries:
    """The scored entries and the positives (sorted by label) one bootstrap works on."""

    image: np.ndarray
    label: np.ndarray
    confidence: np.ndarray
    is_true: np.ndarray
    positive_image: np.ndarray
    positive_label: np.ndarray
    n_labels: int

    def curves(self, *, with_global: bool = True) -> tuple[_Curve, _Curve | None]:
        """The per-label curves and the global one. Both sorts start from the one stable sort by
        confidence (descending): the global curve's order, and, sorted stably by label, the per-label
        curves' order (ties in entry order either way, so the same as sorting each from scratch)."""
        by_confidence = _by_confidence_descending(self.confidence)
        image, confidence = self.image[by_confidence], self.confidence[by_confidence]
        is_true = self.is_true[by_confidence]
        label = self.label[by_confidence]
        # already in that order, so its own sort by confidence would be the identity: not sorted again
        by_label = by_group_then_confidence(label, confidence, self.n_labels, np.arange(label.size))
        del by_confidence
        per_label = _curve(
            label[by_label],
            image[by_label],
            confidence[by_label],
            is_true[by_label],
            self.n_labels,
            self.positive_label,
        )
        if not with_global:
            return per_label, None
        del label, by_label
        return per_label, self._global(image, confidence, is_true)

    def global_curve(self) -> _Curve:
        """``curves()[1]`` alone, without the per-label curves."""
        by_confidence = _by_confidence_descending(self.confidence)
        at = self.image[by_confidence], self.confidence[by_confidence], self.is_true[by_confidence]
        return self._global(*at)

    def _global(self, image: np.ndarray, confidence: np.ndarray, is_true: np.ndarray) -> _Curve:
        """The curve of all entries as one group, from them sorted by confidence (descending)."""
        zeros = np.zeros(self.positive_label.size, dtype=np.int8)
        return _curve(np.zeros(image.size, dtype=np.int8), image, confidence, is_true, 1, zeros)

    @property
    def cells(self) -> int:
        return self.image.size + self.positive_image.size


def _recommendations(
    curves: tuple[_Curve | None, ...], entries: _Entries, objective: Objective, weights_t: np.ndarray
) -> list[tuple[np.ndarray, np.ndarray] | None]:
    """(threshold, f1) per resample (C, L) on the per-label curves and (C, 1) on the global curve (None
    without one), from multiplicities (N, C) of the images ``entries`` index."""
    support_t = _sum_rows_by_group(
        weights_t[entries.positive_image], entries.positive_label, entries.n_labels
    )
    results: list[tuple[np.ndarray, np.ndarray] | None] = []
    for curve, group_support in (
        (curves[0], support_t),
        (curves[1], support_t.sum(axis=0, keepdims=True)),
    ):
        if curve is None:
            results.append(None)
            continue
        tp, predicted, total = _resampled_points(curve, weights_t)
        chosen, f1 = _select(curve, objective, tp, predicted, group_support)
        point_confidence = curve.confidence[curve.points]
        threshold = (
            np.where(chosen >= 0, point_confidence[np.maximum(chosen, 0)], np.nan)
            if point_confidence.size
            else np.full(chosen.shape, np.nan)  # nothing scored at all: no threshold in any resample
        )
        # no prediction at all in this resample (none of the group's entries drawn) but positives:
        predicted_any = np.zeros(group_support.shape, dtype=total.dtype)
        predicted_any[curve.total_group] = total
        f1 = np.where((predicted_any == 0) & (group_support > 0), 0.0, f1)
        results.append((threshold.T, f1.T))
    return results
