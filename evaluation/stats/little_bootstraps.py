"""The bag of little bootstraps behind evaluation.stats.bootstrap at scale (the method, its checks and
its reproducibility contract are described there)."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from evaluation.stats.curve_points import grouped_then_descending
from evaluation.stats.full_curves import _full_recommendations
from evaluation.stats.metrics import ScoredPairs
from evaluation.stats.micro_counts import block_counts
from evaluation.stats.percentiles import percentile_interval
from evaluation.stats.resampled_curves import (
    _CELLS_PER_CHUNK,
    _canonical_order,
    _count_dtype,
    _Entries,
    _recommendations,
)
from evaluation.stats.thresholds import Objective

# Above this much work, resamples x (scored pairs + positives), the default is the bag of little
# bootstraps: about 10 s of the exact bootstrap on 2 cores (20,000 images x 30 labels is 3.3 times it).
EXACT_WORK_BUDGET = 200_000_000
BLB = "bag of little bootstraps"
BLB_GAMMA = 0.7  # b = n ** gamma images per subset (Kleiner et al. find 0.6-0.8 enough; 0.7 their middle)
BLB_RESAMPLES_PER_SUBSET = 100  # r, as in Kleiner et al.; s = resamples / r subsets (10 for 1,000)
# a label with fewer expected positives in a subset (support * b / n) is bootstrapped exactly instead
BLB_MIN_SUBSET_POSITIVES = 25


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
    image_keys: Sequence[Any] | np.ndarray | None,
) -> dict[str, Any]:
    """The bag of little bootstraps (see evaluation.stats.bootstrap), with the rare labels resampled
    exactly: BootstrapResult's arrays, method and little parts."""
    n_images, n_labels = pairs.n_images, pairs.n_labels
    b = subset_size(n_images)
    per_subset = _subset_resamples(n_resamples)
    n_subsets = per_subset.size
    order = _canonical_order(n_images, image_keys)
    streams = np.random.SeedSequence(seed).spawn(n_subsets + 1)
    dtype = _count_dtype(pairs.image_idx, n_images)
    # the full data's own recommendation (every multiplicity 1): the centre of every interval
    ones = np.ones((n_images, 1), dtype=dtype)
    shared = pairs.by_confidence if entries.confidence is pairs.confidence else None  # sorted once
    full_label, full_global = _full_recommendations(entries, objective, ones, by_confidence=shared)
    by_pair = _by_image(entries.image, n_images)
    by_positive = _by_image(entries.positive_image, n_images)

    rare = (pairs.support > 0) & (pairs.support * (b / n_images) < BLB_MIN_SUBSET_POSITIVES)
    per_label_subsets = _per_label_subsets(rare)
    threshold = np.full((n_resamples, n_labels), np.nan)
    f1 = np.full((n_resamples, n_labels), np.nan)
    global_threshold = np.empty(n_resamples)
    global_f1 = np.empty(n_resamples)
    subset_of = np.repeat(np.arange(n_subsets), per_subset)
    centre_threshold = np.full((n_subsets, n_labels), np.nan)
    centre_f1 = np.full((n_subsets, n_labels), np.nan)
    centre_global = np.empty((2, n_subsets))
    done = 0
    for index in range(n_subsets):
        rng = np.random.default_rng(streams[index])
        images = order[rng.choice(n_images, size=b, replace=False)]  # drawn over the canonical order
        weights = rng.multinomial(n_images, np.full(b, 1.0 / b), size=int(per_subset[index]))  # (r, b)
        by_image = np.argsort(images)
        images, weights = images[by_image], weights[:, by_image]
        subset = _subset_entries(entries, by_pair, by_positive, images)
        curves = subset.curves() if per_label_subsets else (None, subset.global_curve())
        own_label, own_global = _recommendations(curves, subset, objective, np.full((b, 1), n_images / b))
        assert own_global is not None
        if own_label is not None:
            centre_threshold[index], centre_f1[index] = own_label[0][0], own_label[1][0]
        centre_global[:, index] = own_global[0][0, 0], own_global[1][0, 0]
        size = max(1, _CELLS_PER_CHUNK // max(subset.cells, 1))
        for start in range(0, weights.shape[0], size):
            chunk = np.ascontiguousarray(weights[start : start + size].T, dtype=dtype)  # (b, C)
            per_label, overall = _recommendations(curves, subset, objective, chunk)
            assert overall is not None
            rows = slice(done, done + chunk.shape[1])
            if per_label is not None:
                threshold[rows], f1[rows] = per_label
            global_threshold[rows], global_f1[rows] = overall[0][:, 0], overall[1][:, 0]
            done += chunk.shape[1]
        del subset, curves, weights  # not beside the next subset's while it is built

    if rare.any():
        rare_threshold, rare_f1 = _rare_exactly(
            entries, rare, objective, n_images, n_resamples, streams[-1], order
        )
        threshold[:, rare], f1[:, rare] = rare_threshold[:, rare], rare_f1[:, rare]
    return dict(
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


def _per_label_subsets(rare: np.ndarray) -> bool:
    """Whether the subsets recommend per label: not when every label is rare (about 25,000 images and
    fewer), as then the rare labels' exact bootstrap replaces every subset's per-label recommendation
    and the intervals take none of them (their per-label centres are left NaN); the global curve is
    all the subsets are for."""
    return not rare.all()


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


def _by_image(image: np.ndarray, n_images: int) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """(order, start, count): positions sorted by image and where each image's run starts, for gathering
    the entries of a subset of images without a pass over all entries. The order is None when the
    entries are already by image (ScoredPairs' are, image by image): its stable sort is the identity,
    and at 28 million entries its int64 positions held 0.2 GB through the little bootstraps."""
    order = None if grouped_then_descending(image) else np.argsort(image, kind="stable")
    count = block_counts(image, n_images)
    return order, np.cumsum(count) - count, count


def _gather(
    index: tuple[np.ndarray | None, np.ndarray, np.ndarray], images: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(positions, local image) of every entry of ``images``, local image i being ``images[i]``."""
    order, start, count = index
    counts = count[images]
    total = int(counts.sum())
    first = np.repeat(start[images] - (np.cumsum(counts) - counts), counts)
    sorted_at = first + np.arange(total)
    return (sorted_at if order is None else order[sorted_at]), np.repeat(np.arange(images.size), counts)


def _subset_entries(
    entries: _Entries,
    by_pair: tuple[np.ndarray | None, np.ndarray, np.ndarray],
    by_positive: tuple[np.ndarray | None, np.ndarray, np.ndarray],
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
