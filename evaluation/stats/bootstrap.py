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

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from evaluation.stats.little_bootstraps import (
    BLB,
    EXACT_WORK_BUDGET,
    BootstrapMethod,
    _Little,
    _little_bootstraps,
    _little_interval,
    subset_size,
    use_little_bootstraps,
)
from evaluation.stats.metrics import ScoredPairs
from evaluation.stats.percentiles import percentile_interval
from evaluation.stats.resampled_curves import (
    _check_resamples,
    _chunks,
    _count_dtype,
    _Entries,
    _positive_pairs,
    _recommendations,
    _sum_rows_by_group,
    resample_counts,
)
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

# ------------------------------------------------------------------------------------------ results


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
    del positive_order  # one int64 per positive, else held through the whole bootstrap
    if exact is None:
        exact = not use_little_bootstraps(pairs.n_images, entries.cells, n_resamples)
    if not exact and pairs.n_images >= 2:
        return BootstrapResult(
            labels=pairs.labels,
            objective=objective,
            level=float(level),
            n_resamples=int(n_resamples),
            seed=int(seed),
            **_little_bootstraps(pairs, entries, objective, int(n_resamples), int(seed), image_keys),
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
