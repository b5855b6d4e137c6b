"""A seeded bootstrap over images: where the recommended MinConfidence and its F1 would land on another
sample of the same size.

One resample draws N images with replacement (exactly N, uniformly: ``rng.integers`` over images, no
Poisson approximation) and serves every label at once, so per-label, micro and application-wide figures
come from the same resampled datasets. A resample is a vector of multiplicities (how many times each
image was drawn); every count (tp, fp, support) becomes a weighted sum, and the recommendation is
re-chosen with the same rule as :func:`evaluation.stats.thresholds.recommend` (feasibility, keys, ties to
the highest threshold, the floor) on each resample's exact curve. The work is vectorised over resamples
and curve points (one cumulative sum per chunk of resamples); there is no Python loop over resamples x
thresholds.

Reproducibility contract: resample ``b`` is drawn from ``SeedSequence(seed).spawn(n_resamples)[b]`` over
the images in the order of ``image_keys`` (a stable identity per image, e.g. the sha256 of its bytes or
its dataset name). With keys, reordering the images changes nothing; without them the images' index
order is the identity, so the same data in another order gives other (equally valid) resamples. Resample
``b`` does not depend on ``n_resamples`` beyond it nor on the chunking.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from evaluation.stats.intervals import wilson_interval
from evaluation.stats.metrics import ScoredPairs
from evaluation.stats.thresholds import Objective

__all__ = [
    "BOOTSTRAP_COLUMNS",
    "BootstrapResult",
    "bootstrap_counts_at",
    "bootstrap_recommendations",
    "percentile_interval",
    "resample_counts",
]

BOOTSTRAP_COLUMNS = (
    "label",
    "min_confidence_low",
    "min_confidence_high",
    "f1_low",
    "f1_high",
    "resamples_defined",
)
_CELLS_PER_CHUNK = 4_000_000  # resamples x entries held at once (float64: ~32 MB per array)


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


def percentile_interval(samples: np.ndarray, *, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """(low, high) percentile interval over axis 0, ignoring NaN (undefined resamples); NaN where every
    resample is undefined. Linear interpolation between order statistics (numpy's default)."""
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), e.g. 0.95; got {level!r}")
    tail = (1.0 - level) / 2.0 * 100.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: NaN is the answer
        low, high = np.nanpercentile(np.asarray(samples, dtype=np.float64), [tail, 100.0 - tail], axis=0)
    return low, high


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
    key = image * n_labels + label
    if np.unique(key).size != key.size:
        raise ValueError("positive (image, label) pairs must be unique")
    if not np.array_equal(np.bincount(label, minlength=pairs.n_labels), pairs.support):
        raise ValueError(
            "positive pairs disagree with pairs.support: they must list every positive of each label"
        )
    true_key = pairs.image_idx[pairs.is_true] * n_labels + pairs.label_idx[pairs.is_true]
    if not np.isin(true_key, key).all():
        raise ValueError("an entry marked is_true is not among the positive pairs")
    return image, label


@dataclass(frozen=True)
class _Curve:
    """Entries sorted by (group, confidence desc), with the curve's points (last entry of each run)."""

    image: np.ndarray  # (M,) image of each sorted entry
    is_true: np.ndarray  # (M,) bool
    confidence: np.ndarray  # (M,)
    points: np.ndarray  # (P,) sorted position of each point
    point_group: np.ndarray  # (P,)
    group_start: np.ndarray  # (G,) first sorted position of each group (M for an empty group)
    segment_start: np.ndarray  # (S,) first point of each group that has points
    segment_group: np.ndarray  # (S,)
    n_groups: int


def _curve(
    group: np.ndarray, image: np.ndarray, confidence: np.ndarray, is_true: np.ndarray, n_groups: int
) -> _Curve:
    order = np.lexsort((-confidence, group))
    group, image, confidence, is_true = group[order], image[order], confidence[order], is_true[order]
    run_end = np.ones(group.shape[0], dtype=bool)
    run_end[:-1] = (group[1:] != group[:-1]) | (confidence[1:] != confidence[:-1])
    points = np.flatnonzero(run_end)
    point_group = group[points]
    per_group = np.bincount(group, minlength=n_groups)
    group_start = np.cumsum(per_group) - per_group
    first_point = np.ones(points.shape[0], dtype=bool)
    first_point[1:] = point_group[1:] != point_group[:-1]
    segment_start = np.flatnonzero(first_point)
    return _Curve(
        image=image,
        is_true=is_true,
        confidence=confidence,
        points=points,
        point_group=point_group,
        group_start=group_start,
        segment_start=segment_start,
        segment_group=point_group[segment_start],
        n_groups=n_groups,
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


def _running_before(running: np.ndarray, start: np.ndarray) -> np.ndarray:
    """Rows of a running sum just before each position in ``start`` (0 before the first row)."""
    if running.shape[0] == 0:  # no scored pair at all (every label's predictions below the floor)
        return np.zeros((len(start), *running.shape[1:]), dtype=running.dtype)
    before = running[np.maximum(start - 1, 0)]
    before[start == 0] = 0.0
    return before


def _resampled_points(curve: _Curve, weights_t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted (tp, predicted) at every point, (P, C), from multiplicities (N, C) (resamples as columns:
    the cumulative sums then run down contiguous rows, several times faster than along them)."""
    entry_weight = weights_t[curve.image]  # (M, C), a new array
    tp_running = entry_weight * curve.is_true[:, None]
    np.cumsum(tp_running, axis=0, out=tp_running)
    np.cumsum(entry_weight, axis=0, out=entry_weight)
    tp = tp_running[curve.points] - _running_before(tp_running, curve.group_start)[curve.point_group]
    predicted = (
        entry_weight[curve.points] - _running_before(entry_weight, curve.group_start)[curve.point_group]
    )
    return tp, predicted


def _select(
    curve: _Curve, objective: Objective, tp: np.ndarray, predicted: np.ndarray, support_t: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per (group, resample): the chosen point (-1 for none) and F1 there, by recommend's rule; inputs
    (P, C) and support (G, C), outputs (G, C).

    Within a group points run from the highest threshold down, so "ties to the highest threshold" is
    "the first point reaching the maximum of the keys". Points whose entries were not drawn repeat the
    counts of the point above them, so they never win a tie against a real point of the resample.
    """
    n_points, n_chunk = tp.shape
    point_support = support_t[curve.point_group]
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
                measure = wilson_interval(tp, trials, level=objective.level)[0]
            candidate = measure >= objective.target
            if objective.kind == "recall-at-precision":
                candidate &= recall > 0
                keys = [recall]
            else:
                keys = [precision, recall]
    chosen = np.full((curve.n_groups, n_chunk), -1, dtype=np.int64)
    if n_points == 0:
        return chosen, np.full((curve.n_groups, n_chunk), np.nan)
    segment_of_point = np.repeat(
        np.arange(curve.segment_start.size), np.diff(np.append(curve.segment_start, n_points))
    )
    for key in keys:
        masked = np.where(candidate, key, -np.inf)
        best = np.maximum.reduceat(masked, curve.segment_start, axis=0)
        candidate &= masked == best[segment_of_point]
    position = np.where(candidate, np.arange(n_points)[:, None], n_points)
    first = np.minimum.reduceat(position, curve.segment_start, axis=0)  # (S, C)
    chosen[curve.segment_group] = np.where(first < n_points, first, -1)
    columns = np.arange(n_chunk)[None, :]
    f1_chosen = np.where(chosen >= 0, f1[np.maximum(chosen, 0), columns], np.nan)
    return chosen, f1_chosen


# ------------------------------------------------------------------------------------------ results


@dataclass(frozen=True, eq=False)
class BootstrapResult:
    """Per-resample recommendations: ``threshold`` and ``f1`` are (B, L) (NaN where a resample has no
    recommendation), ``global_threshold`` and ``global_f1`` are (B,). Confidences are 0-100."""

    labels: tuple[str, ...]
    objective: Objective
    level: float
    n_resamples: int
    seed: int
    threshold: np.ndarray
    f1: np.ndarray
    global_threshold: np.ndarray
    global_f1: np.ndarray

    def per_label(self) -> pd.DataFrame:
        """One row per label: :data:`BOOTSTRAP_COLUMNS`. ``min_confidence_low/high`` bound where the
        recommended threshold lands on another sample of the same size, ``f1_low/high`` the F1 at the
        resample's own recommendation, both percentile intervals at ``level`` over the resamples that
        have a recommendation (``resamples_defined`` of them; NaN when none)."""
        threshold_low, threshold_high = percentile_interval(self.threshold, level=self.level)
        f1_low, f1_high = percentile_interval(self.f1, level=self.level)
        return pd.DataFrame(
            {
                "label": pd.Series(self.labels, dtype=object),
                "min_confidence_low": threshold_low,
                "min_confidence_high": threshold_high,
                "f1_low": f1_low,
                "f1_high": f1_high,
                "resamples_defined": (~np.isnan(self.threshold)).sum(axis=0).astype(np.int64),
            },
            columns=list(BOOTSTRAP_COLUMNS),
        )

    def global_interval(self) -> dict[str, Any]:
        """The application-wide figures as plain values: min_confidence_low/high, f1_low/high (None when
        undefined), resamples_defined, level, resamples, seed."""
        threshold_low, threshold_high = percentile_interval(self.global_threshold[:, None], level=self.level)
        f1_low, f1_high = percentile_interval(self.global_f1[:, None], level=self.level)

        def plain(value: np.ndarray) -> float | None:
            number = float(value[0])
            return None if np.isnan(number) else number

        return {
            "min_confidence_low": plain(threshold_low),
            "min_confidence_high": plain(threshold_high),
            "f1_low": plain(f1_low),
            "f1_high": plain(f1_high),
            "resamples_defined": int((~np.isnan(self.global_threshold)).sum()),
            "level": self.level,
            "resamples": self.n_resamples,
            "seed": self.seed,
        }


def _as_objective(objective: Objective | str) -> Objective:
    return Objective.parse(objective) if isinstance(objective, str) else objective


def bootstrap_recommendations(
    pairs: ScoredPairs,
    *,
    positive_image_idx: Any,
    positive_label_idx: Any,
    objective: Objective | str,
    n_resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    image_keys: Sequence[Any] | np.ndarray | None = None,
) -> BootstrapResult:
    """The bootstrap distribution of each label's recommended MinConfidence and its F1, and of the
    application-wide one (the global, micro curve), under ``objective``.

    ``positive_image_idx`` / ``positive_label_idx`` list every ground-truth positive (image, label) pair,
    returned or not (ScoredPairs keeps only their count, ``support``, but a resample needs to know which
    images they are). ``pairs.floor`` is honoured as in recommend: only entries at or above it exist.
    A resampled label's F1 is NaN where recommend would give no threshold, except that a label with
    positives but no prediction in the resample has F1 0 (recommend's no-predictions row).
    """
    objective = _as_objective(objective)
    positive_image, positive_label = _positive_pairs(pairs, positive_image_idx, positive_label_idx)
    _check_resamples(n_resamples, seed)
    n_labels = pairs.n_labels
    per_label = _curve(pairs.label_idx, pairs.image_idx, pairs.confidence, pairs.is_true, n_labels)
    everything = _curve(
        np.zeros(pairs.n_pairs, dtype=np.int64), pairs.image_idx, pairs.confidence, pairs.is_true, 1
    )
    positive_order = np.argsort(positive_label, kind="stable")
    positive_image, positive_label = positive_image[positive_order], positive_label[positive_order]

    thresholds, f1s, global_thresholds, global_f1s = [], [], [], []
    cells = pairs.n_pairs + positive_image.size
    for weights in _chunks(pairs.n_images, n_resamples, seed, image_keys, cells):
        weights_t = np.ascontiguousarray(weights.T, dtype=np.float64)  # (N, C)
        support_t = _sum_rows_by_group(weights_t[positive_image], positive_label, n_labels)  # (L, C)
        for curve, group_support, out_threshold, out_f1 in (
            (per_label, support_t, thresholds, f1s),
            (everything, support_t.sum(axis=0, keepdims=True), global_thresholds, global_f1s),
        ):
            tp, predicted = _resampled_points(curve, weights_t)
            chosen, f1 = _select(curve, objective, tp, predicted, group_support)
            point_confidence = curve.confidence[curve.points]
            threshold = (
                np.where(chosen >= 0, point_confidence[np.maximum(chosen, 0)], np.nan)
                if point_confidence.size
                else np.full(chosen.shape, np.nan)  # nothing scored at all: no threshold in any resample
            )
            # no prediction at all in this resample (none of the group's entries drawn) but positives:
            predicted_any = np.zeros_like(group_support)
            if curve.segment_start.size:
                last_point = np.append(curve.segment_start[1:], curve.points.size) - 1
                predicted_any[curve.segment_group] = predicted[last_point]
            f1 = np.where((predicted_any == 0) & (group_support > 0), 0.0, f1)
            out_threshold.append(threshold.T)
            out_f1.append(f1.T)
    return BootstrapResult(
        labels=pairs.labels,
        objective=objective,
        level=float(level),
        n_resamples=int(n_resamples),
        seed=int(seed),
        threshold=np.concatenate(thresholds),
        f1=np.concatenate(f1s),
        global_threshold=np.concatenate(global_thresholds)[:, 0],
        global_f1=np.concatenate(global_f1s)[:, 0],
    )


def bootstrap_counts_at(
    pairs: ScoredPairs,
    *,
    positive_image_idx: Any,
    positive_label_idx: Any,
    thresholds: Any,
    n_resamples: int = 1000,
    seed: int = 0,
    image_keys: Sequence[Any] | np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Resampled (tp, fp, fn), each float (B, L), at fixed per-label MinConfidence ``thresholds`` (L,)
    (a label is predicted when confidence >= its threshold; NaN or inf: never predicted). The same
    resamples as :func:`bootstrap_recommendations` with the same seed and keys; the images in a resample
    are always n_images, so tn = n_images - tp - fp - fn."""
    positive_image, positive_label = _positive_pairs(pairs, positive_image_idx, positive_label_idx)
    thresholds = np.asarray(thresholds, dtype=np.float64)
    if thresholds.shape != (pairs.n_labels,):
        raise ValueError(f"thresholds must give one MinConfidence per label, shape ({pairs.n_labels},)")
    with np.errstate(invalid="ignore"):
        predicted = pairs.confidence >= thresholds[pairs.label_idx]  # NaN compares False
    order = np.argsort(pairs.label_idx[predicted], kind="stable")
    image = pairs.image_idx[predicted][order]
    label = pairs.label_idx[predicted][order]
    is_true = pairs.is_true[predicted][order]
    positive_order = np.argsort(positive_label, kind="stable")
    positive_image, positive_label = positive_image[positive_order], positive_label[positive_order]
    tps, fps, fns = [], [], []
    for weights in _chunks(pairs.n_images, n_resamples, seed, image_keys, image.size + positive_image.size):
        weights_t = np.ascontiguousarray(weights.T, dtype=np.float64)  # (N, C)
        entry_weight = weights_t[image]
        tp = _sum_rows_by_group(entry_weight * is_true[:, None], label, pairs.n_labels)
        fp = _sum_rows_by_group(entry_weight * ~is_true[:, None], label, pairs.n_labels)
        support = _sum_rows_by_group(weights_t[positive_image], positive_label, pairs.n_labels)
        tps.append(tp.T)
        fps.append(fp.T)
        fns.append((support - tp).T)
    return np.concatenate(tps), np.concatenate(fps), np.concatenate(fns)
