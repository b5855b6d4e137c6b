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

At scale: the bag of little bootstraps (Kleiner, Talwalkar, Sarkar, Jordan 2014, JRSS-B 76(4)). The exact
bootstrap costs resamples x (scored pairs + positives) cells (20,000 images x 30 labels x 1,000
resamples: 33 s; a million images: half an hour). Above :data:`EXACT_WORK_BUDGET` cells (or with
``exact=False``) the default is instead: s = resamples / 100 subsets, each of b = ceil(n ** 0.7) distinct
images (100,000 images: b = 3,163) drawn without replacement; within each subset r ~ 100 resamples, each
a multinomial(n, 1/b) weighting of its b images, so that every resample stands for a dataset of all n
images (the counts, support and the Wilson bounds of a certain objective are on the full scale) and the
recommendation is re-chosen on the weighted sub-curve with the same rule. A resample then costs the
subset's entries, b/n of them (32x fewer at 100,000 images, 63x at a million). Per subset a percentile
interval; the endpoints averaged over subsets:

- F1 (a smooth, root-n statistic, where the theory holds): each subset's endpoints are taken relative to
  the subset's own recommendation (all b images weighted n/b) and added to the full data's, since a
  subset's resamples are centred on the subset's F1, which is off the full data's by O(1/sqrt(b)).
- MinConfidence (an argmax over a flat maximum: cube-root asymptotics, where no bootstrap is consistent,
  and where re-centring on the full data's noisy argmax moved the interval away from the exact
  bootstrap's): each subset's endpoints as drawn. Checked against the exact bootstrap on simulated data
  (tests/stats/test_bootstrap.py: F1 endpoints agree to 0.015, MinConfidence ones to half the exact
  interval's width).
- Labels too rare for a subset (fewer than :data:`BLB_MIN_SUBSET_POSITIVES` expected positives in b
  images, where a subset's curve is mostly empty) keep the exact bootstrap, at O(K) per resample for the
  K images that have an entry or a positive of such a label: in a draw of n images with replacement,
  Binomial(n, K/n) draws land among those K, each uniformly (the same distribution as drawing all n).

The BLB's contract: subset j and its weights come from ``SeedSequence(seed).spawn(s + 1)[j]`` (images
drawn by position in the canonical order above, so keys make it invariant to the images' order), the
rare labels' resamples from the last child. ``BootstrapResult.method`` says which was used and with what
sizes; summary.json and the reports print it.
"""

from __future__ import annotations

import math
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
    "BLB",
    "BOOTSTRAP_COLUMNS",
    "EXACT_WORK_BUDGET",
    "BootstrapMethod",
    "BootstrapResult",
    "bootstrap_counts_at",
    "bootstrap_recommendations",
    "percentile_interval",
    "resample_counts",
    "subset_size",
    "use_little_bootstraps",
]

BOOTSTRAP_COLUMNS = (
    "label",
    "min_confidence_low",
    "min_confidence_high",
    "f1_low",
    "f1_high",
    "resamples_defined",
)
_CELLS_PER_CHUNK = 4_000_000  # resamples x entries held at once (int32: ~16 MB per array)
# Above this much work, resamples x (scored pairs + positives), the default is the bag of little
# bootstraps: about 10 s of the exact bootstrap on 2 cores (20,000 images x 30 labels is 3.3 times it).
EXACT_WORK_BUDGET = 200_000_000
BLB = "bag of little bootstraps"
BLB_GAMMA = 0.7  # b = n ** gamma images per subset (Kleiner et al. find 0.6-0.8 enough; 0.7 their middle)
BLB_RESAMPLES_PER_SUBSET = 100  # r, as in Kleiner et al.; s = resamples / r subsets (10 for 1,000)
# a label with fewer expected positives in a subset (support * b / n) is bootstrapped exactly instead
BLB_MIN_SUBSET_POSITIVES = 25


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
    the cumulative sums then run down contiguous rows, several times faster than along them). Integer
    multiplicities stay integers (see :func:`_count_dtype`): exact, and half the memory traffic of float64."""
    entry_weight = weights_t[curve.image]  # (M, C), a new array
    tp_running = entry_weight * curve.is_true[:, None]
    np.cumsum(tp_running, axis=0, dtype=tp_running.dtype, out=tp_running)
    np.cumsum(entry_weight, axis=0, dtype=entry_weight.dtype, out=entry_weight)
    tp = tp_running[curve.points] - _running_before(tp_running, curve.group_start)[curve.point_group]
    predicted = (
        entry_weight[curve.points] - _running_before(entry_weight, curve.group_start)[curve.point_group]
    )
    return tp, predicted


def _count_dtype(image_idx: np.ndarray, n_images: int) -> type[np.signedinteger]:
    """int32 when no running sum can overflow it, else int64.

    A resample's multiplicities sum to n_images, so a running sum over entries is at most n_images times
    the most entries any one image has; every count is then an exact integer, and every ratio computed
    from it (F1, precision, recall, Wilson) is the same float64 as from float64 counts.
    """
    most = int(np.bincount(image_idx).max()) if image_idx.size else 0
    return np.int32 if max(n_images, 1) * max(most, 1) < 2**31 - 1 else np.int64


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


@dataclass(frozen=True)
class BootstrapMethod:
    """Which bootstrap gave the intervals, with its sizes (summary.json's ``intervals.bootstrap``)."""

    name: str  # "exact" or "bag of little bootstraps"
    n_images: int
    resamples: int
    seed: int
    subsets: int = 1
    subset_images: int = 0  # b, images per subset (0: exact, every image)
    exact_labels: int = 0  # labels too rare for the subsets, bootstrapped exactly

    @property
    def little(self) -> bool:
        return self.name == BLB

    def describe(self, unit: str = "images") -> str:
        """One line for the reports: the method, its sizes and the seed."""
        if not self.little:
            return f"percentile bootstrap over {unit}, {self.resamples} resamples, seed {self.seed}"
        per_subset = -(-self.resamples // self.subsets)
        rare = (
            f"; {self.exact_labels} label(s) with fewer than {BLB_MIN_SUBSET_POSITIVES} expected positives "
            f"per subset: exact percentile bootstrap"
            if self.exact_labels
            else ""
        )
        return (
            f"bag of little bootstraps over {unit}: {self.subsets} subsets of {self.subset_images:,} of the "
            f"{self.n_images:,} {unit}, about {per_subset} resamples each weighting its subset to all "
            f"{self.n_images:,} (multinomial); each subset's percentile interval, re-centred on the "
            f"full data's F1 (MinConfidence: as drawn), averaged over the subsets ({self.resamples} "
            f"resamples in all){rare}; seed {self.seed}; --exact-bootstrap for the exact one"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.name,
            "resamples": self.resamples,
            "seed": self.seed,
            **(
                {
                    "subsets": self.subsets,
                    "subset_images": self.subset_images,
                    "images": self.n_images,
                    "exact_labels": self.exact_labels,
                }
                if self.little
                else {}
            ),
        }


@dataclass(frozen=True, eq=False)
class _Little:
    """What the bag of little bootstraps adds to the resamples: which subset drew each, each subset's own
    recommendation (the centre of its resamples) and the full data's (the centre of the intervals)."""

    subset: np.ndarray  # (B,) subset of each resample
    centre_threshold: np.ndarray  # (S, L)
    centre_f1: np.ndarray  # (S, L)
    centre_global_threshold: np.ndarray  # (S,)
    centre_global_f1: np.ndarray  # (S,)
    full_threshold: np.ndarray  # (L,)
    full_f1: np.ndarray  # (L,)
    full_global_threshold: float
    full_global_f1: float
    exact_label: np.ndarray  # (L,) bool: resampled exactly (too rare for the subsets)


def _little_interval(
    samples: np.ndarray,
    subset: np.ndarray,
    centres: np.ndarray,
    full: np.ndarray,
    *,
    level: float,
    low_bound: float,
    high_bound: float,
    recentre: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """BLB percentile interval: the mean over subsets of each subset's percentile endpoints; with
    ``recentre``, of (endpoint - subset's centre), added to the full data's value. Clipped to the
    statistic's range; NaN where the full data (recentred) or every subset has no value."""
    lows, highs = [], []
    for index in range(centres.shape[0]):
        low, high = percentile_interval(samples[subset == index], level=level)
        shift = centres[index] if recentre else 0.0
        lows.append(low - shift)
        highs.append(high - shift)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a label no subset defines: NaN is the answer
        low = np.nanmean(np.asarray(lows), axis=0)
        high = np.nanmean(np.asarray(highs), axis=0)
    if recentre:
        low, high = full + low, full + high
    return np.clip(low, low_bound, high_bound), np.clip(high, low_bound, high_bound)


@dataclass(frozen=True, eq=False)
class BootstrapResult:
    """Per-resample recommendations: ``threshold`` and ``f1`` are (B, L) (NaN where a resample has no
    recommendation), ``global_threshold`` and ``global_f1`` are (B,). Confidences are 0-100. With the bag
    of little bootstraps (``method.little``) each resample stands for a dataset of all the images drawn
    from one subset; the intervals then come from :func:`_little_interval` (see the module)."""

    labels: tuple[str, ...]
    objective: Objective
    level: float
    n_resamples: int
    seed: int
    threshold: np.ndarray
    f1: np.ndarray
    global_threshold: np.ndarray
    global_f1: np.ndarray
    method: BootstrapMethod | None = None
    little: _Little | None = None

    def _intervals(
        self, threshold: np.ndarray, f1: np.ndarray, centres: tuple[np.ndarray, ...] | None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        threshold_low, threshold_high = percentile_interval(threshold, level=self.level)
        f1_low, f1_high = percentile_interval(f1, level=self.level)
        if self.little is None or centres is None:
            return threshold_low, threshold_high, f1_low, f1_high
        centre_threshold, centre_f1, full_threshold, full_f1, exact = centres
        little_threshold = _little_interval(
            threshold,
            self.little.subset,
            centre_threshold,
            full_threshold,
            level=self.level,
            low_bound=0.0,
            high_bound=100.0,
            recentre=False,
        )
        little_f1 = _little_interval(
            f1,
            self.little.subset,
            centre_f1,
            full_f1,
            level=self.level,
            low_bound=0.0,
            high_bound=1.0,
            recentre=True,
        )
        return (
            np.where(exact, threshold_low, little_threshold[0]),
            np.where(exact, threshold_high, little_threshold[1]),
            np.where(exact, f1_low, little_f1[0]),
            np.where(exact, f1_high, little_f1[1]),
        )

    def per_label(self) -> pd.DataFrame:
        """One row per label: :data:`BOOTSTRAP_COLUMNS`. ``min_confidence_low/high`` bound where the
        recommended threshold lands on another sample of the same size, ``f1_low/high`` the F1 at the
        resample's own recommendation, both percentile intervals at ``level`` over the resamples that
        have a recommendation (``resamples_defined`` of them; NaN when none)."""
        little = self.little
        centres = (
            None
            if little is None
            else (
                little.centre_threshold,
                little.centre_f1,
                little.full_threshold,
                little.full_f1,
                little.exact_label,
            )
        )
        threshold_low, threshold_high, f1_low, f1_high = self._intervals(self.threshold, self.f1, centres)
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
        undefined), resamples_defined, level, resamples, seed, method (a dict, see BootstrapMethod)."""
        little = self.little
        centres = (
            None
            if little is None
            else (
                little.centre_global_threshold[:, None],
                little.centre_global_f1[:, None],
                np.array([little.full_global_threshold]),
                np.array([little.full_global_f1]),
                np.zeros(1, dtype=bool),
            )
        )
        threshold_low, threshold_high, f1_low, f1_high = self._intervals(
            self.global_threshold[:, None], self.global_f1[:, None], centres
        )

        def plain(value: np.ndarray) -> float | None:
            number = float(value[0])
            return None if np.isnan(number) else number

        method = self.method or BootstrapMethod("exact", 0, self.n_resamples, self.seed)
        return {
            "min_confidence_low": plain(threshold_low),
            "min_confidence_high": plain(threshold_high),
            "f1_low": plain(f1_low),
            "f1_high": plain(f1_high),
            "resamples_defined": int((~np.isnan(self.global_threshold)).sum()),
            "level": self.level,
            "resamples": self.n_resamples,
            "seed": self.seed,
            "method": method.to_dict(),
        }


def _as_objective(objective: Objective | str) -> Objective:
    return Objective.parse(objective) if isinstance(objective, str) else objective


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
        per_label = _curve(self.label, self.image, self.confidence, self.is_true, self.n_labels)
        if not with_global:
            return per_label, None
        everything = _curve(
            np.zeros(self.image.size, dtype=np.int64), self.image, self.confidence, self.is_true, 1
        )
        return per_label, everything

    @property
    def cells(self) -> int:
        return self.image.size + self.positive_image.size


def _recommendations(
    curves: tuple[_Curve, _Curve | None], entries: _Entries, objective: Objective, weights_t: np.ndarray
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
        tp, predicted = _resampled_points(curve, weights_t)
        chosen, f1 = _select(curve, objective, tp, predicted, group_support)
        point_confidence = curve.confidence[curve.points]
        threshold = (
            np.where(chosen >= 0, point_confidence[np.maximum(chosen, 0)], np.nan)
            if point_confidence.size
            else np.full(chosen.shape, np.nan)  # nothing scored at all: no threshold in any resample
        )
        # no prediction at all in this resample (none of the group's entries drawn) but positives:
        predicted_any = np.zeros(group_support.shape, dtype=predicted.dtype)
        if curve.segment_start.size:
            last_point = np.append(curve.segment_start[1:], curve.points.size) - 1
            predicted_any[curve.segment_group] = predicted[last_point]
        f1 = np.where((predicted_any == 0) & (group_support > 0), 0.0, f1)
        results.append((threshold.T, f1.T))
    return results


def _by_image(image: np.ndarray, n_images: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(order, start, count): positions sorted by image and where each image's run starts, for gathering
    the entries of a subset of images without a pass over all entries."""
    order = np.argsort(image, kind="stable")
    count = np.bincount(image, minlength=n_images)
    return order, np.cumsum(count) - count, count


def _gather(
    index: tuple[np.ndarray, np.ndarray, np.ndarray], images: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(positions, local image) of every entry of ``images``, local image i being ``images[i]``."""
    order, start, count = index
    counts = count[images]
    total = int(counts.sum())
    first = np.repeat(start[images] - (np.cumsum(counts) - counts), counts)
    return order[first + np.arange(total)], np.repeat(np.arange(images.size), counts)


def _subset_entries(
    entries: _Entries,
    by_pair: tuple[np.ndarray, np.ndarray, np.ndarray],
    by_positive: tuple[np.ndarray, np.ndarray, np.ndarray],
    images: np.ndarray,
) -> _Entries:
    """The entries and positives of ``images`` only, re-indexed 0..len(images)-1."""
    pair_at, pair_image = _gather(by_pair, images)
    positive_at, positive_image = _gather(by_positive, images)
    positive_label = entries.positive_label[positive_at]
    by_label = np.argsort(positive_label, kind="stable")
    return _Entries(
        image=pair_image,
        label=entries.label[pair_at],
        confidence=entries.confidence[pair_at],
        is_true=entries.is_true[pair_at],
        positive_image=positive_image[by_label],
        positive_label=positive_label[by_label],
        n_labels=entries.n_labels,
    )


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
    exact: bool | None = None,
) -> BootstrapResult:
    """The bootstrap distribution of each label's recommended MinConfidence and its F1, and of the
    application-wide one (the global, micro curve), under ``objective``.

    ``positive_image_idx`` / ``positive_label_idx`` list every ground-truth positive (image, label) pair,
    returned or not (ScoredPairs keeps only their count, ``support``, but a resample needs to know which
    images they are). ``pairs.floor`` is honoured as in recommend: only entries at or above it exist.
    A resampled label's F1 is NaN where recommend would give no threshold, except that a label with
    positives but no prediction in the resample has F1 0 (recommend's no-predictions row).

    ``exact``: True, the exact bootstrap whatever it costs; False, the bag of little bootstraps; None
    (default), the exact one unless its work exceeds :data:`EXACT_WORK_BUDGET` (see the module).
    """
    objective = _as_objective(objective)
    positive_image, positive_label = _positive_pairs(pairs, positive_image_idx, positive_label_idx)
    _check_resamples(n_resamples, seed)
    positive_order = np.argsort(positive_label, kind="stable")
    entries = _Entries(
        image=pairs.image_idx,
        label=pairs.label_idx,
        confidence=pairs.confidence,
        is_true=pairs.is_true,
        positive_image=positive_image[positive_order],
        positive_label=positive_label[positive_order],
        n_labels=pairs.n_labels,
    )
    if exact is None:
        exact = not use_little_bootstraps(pairs.n_images, entries.cells, n_resamples)
    if not exact and pairs.n_images >= 2:
        return _little_bootstraps(
            pairs, entries, objective, int(n_resamples), int(seed), float(level), image_keys
        )
    curves = entries.curves()
    dtype = _count_dtype(pairs.image_idx, pairs.n_images)
    thresholds, f1s, global_thresholds, global_f1s = [], [], [], []
    for weights in _chunks(pairs.n_images, n_resamples, seed, image_keys, entries.cells):
        weights_t = np.ascontiguousarray(weights.T, dtype=dtype)  # (N, C)
        per_label, overall = _recommendations(curves, entries, objective, weights_t)
        assert overall is not None
        thresholds.append(per_label[0])
        f1s.append(per_label[1])
        global_thresholds.append(overall[0])
        global_f1s.append(overall[1])
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
        method=BootstrapMethod("exact", pairs.n_images, int(n_resamples), int(seed)),
    )


def use_little_bootstraps(n_images: int, cells: int, n_resamples: int) -> bool:
    """Whether the default (``exact=None``) uses the bag of little bootstraps: the exact bootstrap's work,
    resamples x (scored pairs + positives), above :data:`EXACT_WORK_BUDGET`."""
    return n_images >= 2 and n_resamples * cells > EXACT_WORK_BUDGET


def subset_size(n_images: int) -> int:
    """b = ceil(n ** BLB_GAMMA) images per subset (at most n)."""
    return min(n_images, max(1, math.ceil(n_images**BLB_GAMMA)))


def _subset_resamples(n_resamples: int) -> np.ndarray:
    """How many of the resamples each subset draws: BLB_RESAMPLES_PER_SUBSET or nearly, summing to B."""
    n_subsets = max(1, -(-n_resamples // BLB_RESAMPLES_PER_SUBSET))
    return np.array([part.size for part in np.array_split(np.arange(n_resamples), n_subsets)])


def _little_bootstraps(
    pairs: ScoredPairs,
    entries: _Entries,
    objective: Objective,
    n_resamples: int,
    seed: int,
    level: float,
    image_keys: Sequence[Any] | np.ndarray | None,
) -> BootstrapResult:
    """The bag of little bootstraps (see the module), with the rare labels resampled exactly."""
    n_images, n_labels = pairs.n_images, pairs.n_labels
    b = subset_size(n_images)
    per_subset = _subset_resamples(n_resamples)
    n_subsets = per_subset.size
    order = _canonical_order(n_images, image_keys)
    streams = np.random.SeedSequence(seed).spawn(n_subsets + 1)
    dtype = _count_dtype(pairs.image_idx, n_images)
    by_pair = _by_image(entries.image, n_images)
    by_positive = _by_image(entries.positive_image, n_images)

    # the full data's own recommendation (every multiplicity 1): the centre of every interval
    full_label, full_global = _recommendations(
        entries.curves(), entries, objective, np.ones((n_images, 1), dtype=dtype)
    )
    assert full_label is not None and full_global is not None

    threshold = np.empty((n_resamples, n_labels))
    f1 = np.empty((n_resamples, n_labels))
    global_threshold = np.empty(n_resamples)
    global_f1 = np.empty(n_resamples)
    subset_of = np.repeat(np.arange(n_subsets), per_subset)
    centre_threshold = np.empty((n_subsets, n_labels))
    centre_f1 = np.empty((n_subsets, n_labels))
    centre_global = np.empty((2, n_subsets))
    done = 0
    for index in range(n_subsets):
        rng = np.random.default_rng(streams[index])
        images = order[rng.choice(n_images, size=b, replace=False)]  # drawn over the canonical order
        weights = rng.multinomial(n_images, np.full(b, 1.0 / b), size=int(per_subset[index]))  # (r, b)
        by_image = np.argsort(images)
        images, weights = images[by_image], weights[:, by_image]
        subset = _subset_entries(entries, by_pair, by_positive, images)
        curves = subset.curves()
        own_label, own_global = _recommendations(curves, subset, objective, np.full((b, 1), n_images / b))
        assert own_label is not None and own_global is not None
        centre_threshold[index], centre_f1[index] = own_label[0][0], own_label[1][0]
        centre_global[:, index] = own_global[0][0, 0], own_global[1][0, 0]
        size = max(1, _CELLS_PER_CHUNK // max(subset.cells, 1))
        for start in range(0, weights.shape[0], size):
            chunk = np.ascontiguousarray(weights[start : start + size].T, dtype=dtype)  # (b, C)
            per_label, overall = _recommendations(curves, subset, objective, chunk)
            assert per_label is not None and overall is not None
            rows = slice(done, done + chunk.shape[1])
            threshold[rows], f1[rows] = per_label
            global_threshold[rows], global_f1[rows] = overall[0][:, 0], overall[1][:, 0]
            done += chunk.shape[1]

    rare = (pairs.support > 0) & (pairs.support * (b / n_images) < BLB_MIN_SUBSET_POSITIVES)
    if rare.any():
        rare_threshold, rare_f1 = _rare_exactly(
            entries, rare, objective, n_images, n_resamples, streams[-1], order
        )
        threshold[:, rare], f1[:, rare] = rare_threshold[:, rare], rare_f1[:, rare]
    return BootstrapResult(
        labels=pairs.labels,
        objective=objective,
        level=level,
        n_resamples=n_resamples,
        seed=seed,
        threshold=threshold,
        f1=f1,
        global_threshold=global_threshold,
        global_f1=global_f1,
        method=BootstrapMethod(
            BLB,
            n_images,
            n_resamples,
            seed,
            subsets=n_subsets,
            subset_images=b,
            exact_labels=int(rare.sum()),
        ),
        little=_Little(
            subset=subset_of,
            centre_threshold=centre_threshold,
            centre_f1=centre_f1,
            centre_global_threshold=centre_global[0],
            centre_global_f1=centre_global[1],
            full_threshold=full_label[0][0],
            full_f1=full_label[1][0],
            full_global_threshold=float(full_global[0][0, 0]),
            full_global_f1=float(full_global[1][0, 0]),
            exact_label=rare,
        ),
    )


def _rare_exactly(
    entries: _Entries,
    rare: np.ndarray,
    objective: Objective,
    n_images: int,
    n_resamples: int,
    stream: np.random.SeedSequence,
    order: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """The exact bootstrap of the ``rare`` labels' curves, (B, L) each (NaN in the other columns).

    Only the K images with an entry or a positive of a rare label matter to those curves, and in a draw
    of n images with replacement their multiplicities are exactly: m ~ Binomial(n, K/n) draws land among
    them, each uniformly on one of the K. So each resample costs O(K), not O(n); the K images are taken
    in the canonical order (one generator from ``stream``, resample after resample).
    """
    pair_rare = rare[entries.label]
    positive_rare = rare[entries.positive_label]
    images = np.unique(np.concatenate([entries.image[pair_rare], entries.positive_image[positive_rare]]))
    rank = np.empty(n_images, dtype=np.int64)
    rank[order] = np.arange(n_images)
    canonical = np.argsort(rank[images], kind="stable")  # draw position -> index into images
    sub = _Entries(
        image=np.searchsorted(images, entries.image[pair_rare]),
        label=entries.label[pair_rare],
        confidence=entries.confidence[pair_rare],
        is_true=entries.is_true[pair_rare],
        positive_image=np.searchsorted(images, entries.positive_image[positive_rare]),
        positive_label=entries.positive_label[positive_rare],
        n_labels=entries.n_labels,
    )
    curves = sub.curves(with_global=False)
    dtype = _count_dtype(entries.image, n_images)
    rng = np.random.default_rng(stream)
    k = images.size
    thresholds, f1s = [], []
    size = max(1, min(n_resamples, _CELLS_PER_CHUNK // max(sub.cells, 1)))
    for start in range(0, n_resamples, size):
        columns = min(size, n_resamples - start)
        weights_t = np.zeros((k, columns), dtype=dtype)
        for column in range(columns):
            landed = rng.binomial(n_images, k / n_images)
            weights_t[canonical, column] = np.bincount(rng.integers(0, k, size=landed), minlength=k)
        per_label, _ = _recommendations(curves, sub, objective, weights_t)
        assert per_label is not None
        thresholds.append(per_label[0])
        f1s.append(per_label[1])
    return np.concatenate(thresholds), np.concatenate(f1s)


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
