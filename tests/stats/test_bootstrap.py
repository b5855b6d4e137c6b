"""evaluation.stats.bootstrap against a slow reference that rebuilds every resampled dataset and calls
recommend on it; reproducibility and invariance to the images' order."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from evaluation.stats.bootstrap import (
    BOOTSTRAP_COLUMNS,
    bootstrap_counts_at,
    bootstrap_recommendations,
    percentile_interval,
    resample_counts,
)
from evaluation.stats.metrics import ScoredPairs, exact_curves, global_curve
from evaluation.stats.thresholds import Objective, recommend, recommend_global
from tests.support.scored import pairs_of, random_case, simulated_run


def resampled_pairs(
    pairs: ScoredPairs, positive_image: np.ndarray, positive_label: np.ndarray, counts: np.ndarray
) -> ScoredPairs:
    """The resampled dataset spelled out: image i appears counts[i] times, each copy a new image."""
    copies = np.repeat(np.arange(pairs.n_images), counts)  # new image j is a copy of copies[j]
    new_of_old = [np.flatnonzero(copies == image) for image in range(pairs.n_images)]
    entries = [
        (new, label, confidence, truth)
        for image, label, confidence, truth in zip(
            pairs.image_idx, pairs.label_idx, pairs.confidence, pairs.is_true, strict=True
        )
        for new in new_of_old[image]
    ]
    support = np.zeros(pairs.n_labels, dtype=np.int64)
    for image, label in zip(positive_image, positive_label, strict=True):
        support[label] += counts[image]
    image_idx, label_idx, confidence, is_true = (np.array(column) for column in zip(*entries, strict=True))
    return ScoredPairs(
        labels=pairs.labels,
        n_images=int(counts.sum()),
        support=support,
        label_idx=label_idx.astype(np.int64),
        image_idx=image_idx.astype(np.int64),
        confidence=confidence.astype(np.float64),
        is_true=is_true.astype(bool),
        floor=pairs.floor,
    )


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize(
    "objective",
    ["best-f1", "recall-at-precision:0.6", "precision-at-recall:0.5", "recall-at-precision:0.5:certain"],
)
def test_bootstrap_matches_a_slow_reference(seed: int, objective: str) -> None:
    floor = 20.0 if seed == 2 else 0.0
    pairs, positive_image, positive_label = random_case(seed, floor=floor)
    n_resamples = 25
    result = bootstrap_recommendations(
        pairs,
        positive_image_idx=positive_image,
        positive_label_idx=positive_label,
        objective=objective,
        n_resamples=n_resamples,
        seed=7,
    )
    counts = resample_counts(pairs.n_images, n_resamples=n_resamples, seed=7)
    parsed = Objective.parse(objective)
    for b in range(n_resamples):
        resampled = resampled_pairs(pairs, positive_image, positive_label, counts[b])
        table = recommend(
            exact_curves(resampled),
            labels=resampled.labels,
            support=resampled.support,
            objective=parsed,
            min_support=0,
            floor=floor,
        )
        assert_array_equal(result.threshold[b], table["threshold"].to_numpy(np.float64))
        np.testing.assert_allclose(result.f1[b], table["f1"].to_numpy(np.float64), rtol=1e-12)
        overall = recommend_global(global_curve(resampled), objective=parsed, floor=floor)
        expected_threshold = math.nan if overall["threshold"] is None else overall["threshold"]
        expected_f1 = math.nan if overall["f1"] is None else overall["f1"]
        assert_array_equal(result.global_threshold[b], expected_threshold)
        np.testing.assert_allclose(result.global_f1[b], expected_f1, rtol=1e-12)


def test_resample_counts_contract() -> None:
    counts = resample_counts(50, n_resamples=40, seed=3)
    assert counts.shape == (40, 50) and (counts.sum(axis=1) == 50).all()
    assert_array_equal(counts, resample_counts(50, n_resamples=40, seed=3))
    assert_array_equal(counts[10:20], resample_counts(50, n_resamples=40, seed=3, start=10, stop=20))
    assert_array_equal(counts[:5], resample_counts(50, n_resamples=5, seed=3)[:5])  # a prefix stays the same
    assert not np.array_equal(counts, resample_counts(50, n_resamples=40, seed=4))
    # keys: each image's multiplicity follows its key, whatever its position
    keys = np.array([f"sha-{i:03d}" for i in range(50)])
    shuffle = np.random.default_rng(0).permutation(50)
    by_key = resample_counts(50, n_resamples=40, seed=3, image_keys=keys)
    shuffled = resample_counts(50, n_resamples=40, seed=3, image_keys=keys[shuffle])
    assert_array_equal(shuffled, by_key[:, shuffle])
    with pytest.raises(ValueError, match="unique"):
        resample_counts(3, n_resamples=2, image_keys=["a", "b", "a"])
    with pytest.raises(ValueError, match="n_resamples"):
        resample_counts(3, n_resamples=0)


def test_shuffling_images_changes_nothing_with_the_same_seed_and_keys() -> None:
    pairs, positive_image, positive_label = random_case(5, n_images=60, n_labels=5)
    keys = np.array([f"image-{i}.jpg" for i in range(pairs.n_images)])
    permutation = np.random.default_rng(1).permutation(pairs.n_images)  # new index of old image i
    entry_order = np.random.default_rng(2).permutation(pairs.n_pairs)
    shuffled = ScoredPairs(
        labels=pairs.labels,
        n_images=pairs.n_images,
        support=pairs.support,
        label_idx=pairs.label_idx[entry_order],
        image_idx=permutation[pairs.image_idx][entry_order],
        confidence=pairs.confidence[entry_order],
        is_true=pairs.is_true[entry_order],
    )
    new_keys = np.empty_like(keys)
    new_keys[permutation] = keys
    common = {"objective": "best-f1", "n_resamples": 200, "seed": 11}
    first = bootstrap_recommendations(
        pairs, positive_image_idx=positive_image, positive_label_idx=positive_label, image_keys=keys, **common
    )
    second = bootstrap_recommendations(
        shuffled,
        positive_image_idx=permutation[positive_image][::-1],
        positive_label_idx=positive_label[::-1],
        image_keys=new_keys,
        **common,
    )
    for name in ("threshold", "f1", "global_threshold", "global_f1"):
        assert_array_equal(getattr(first, name), getattr(second, name))
    assert first.per_label().equals(second.per_label())


def test_per_label_and_global_intervals() -> None:
    pairs, positive_image, positive_label = random_case(0, n_images=80)
    result = bootstrap_recommendations(
        pairs,
        positive_image_idx=positive_image,
        positive_label_idx=positive_label,
        objective="best-f1",
        seed=1,
    )
    table = result.per_label()
    assert list(table.columns) == list(BOOTSTRAP_COLUMNS) and len(table) == pairs.n_labels
    defined = table.dropna()
    assert (defined["min_confidence_low"] <= defined["min_confidence_high"]).all()
    assert ((defined["f1_low"] >= 0) & (defined["f1_high"] <= 1)).all()
    no_positives = table.iloc[-1]  # the last label has no positives: never a threshold
    assert no_positives["resamples_defined"] == 0 and math.isnan(no_positives["min_confidence_low"])
    overall = result.global_interval()
    assert overall["resamples"] == 1000 and overall["level"] == 0.95 and overall["seed"] == 1
    assert overall["min_confidence_low"] <= overall["min_confidence_high"]
    low, high = percentile_interval(np.array([[1.0], [2.0], [3.0], [np.nan]]), level=0.5)
    assert (float(low[0]), float(high[0])) == (1.5, 2.5)


def test_counts_at_fixed_thresholds_match_the_spelled_out_resamples() -> None:
    pairs, positive_image, positive_label = random_case(3)
    thresholds = np.array([50.0, 60.0, np.nan, 40.0])
    tp, fp, fn = bootstrap_counts_at(
        pairs,
        positive_image_idx=positive_image,
        positive_label_idx=positive_label,
        thresholds=thresholds,
        n_resamples=10,
        seed=5,
    )
    counts = resample_counts(pairs.n_images, n_resamples=10, seed=5)
    for b in range(10):
        resampled = resampled_pairs(pairs, positive_image, positive_label, counts[b])
        for label in range(pairs.n_labels):
            mine = (resampled.label_idx == label) & (resampled.confidence >= thresholds[label])
            assert tp[b, label] == (mine & resampled.is_true).sum()
            assert fp[b, label] == (mine & ~resampled.is_true).sum()
            assert fn[b, label] == resampled.support[label] - tp[b, label]


def test_positive_pairs_are_checked() -> None:
    pairs, positive_image, positive_label = random_case(0)
    with pytest.raises(ValueError, match="disagree with pairs"):
        bootstrap_recommendations(
            pairs,
            positive_image_idx=positive_image[1:],
            positive_label_idx=positive_label[1:],
            objective="best-f1",
        )


def test_benchmark_10000_images_50_labels_1000_resamples() -> None:
    """Not a speed limit (machines differ), a record: the time goes in the report."""
    rng = np.random.default_rng(0)
    n_images, n_labels = 10_000, 50
    truth = rng.random((n_images, n_labels)) < 0.1
    returned = rng.random((n_images, n_labels)) < np.where(truth, 0.9, 0.2)
    image_idx, label_idx = np.nonzero(returned)
    confidence = np.round(np.clip(rng.normal(np.where(truth, 80, 55), 12), 50, 100), 4)
    positive_image, positive_label = np.nonzero(truth)
    pairs = pairs_of(truth, image_idx, label_idx, confidence[image_idx, label_idx], floor=50.0)
    started = time.perf_counter()
    result = bootstrap_recommendations(
        pairs, positive_image_idx=positive_image, positive_label_idx=positive_label, objective="best-f1"
    )
    elapsed = time.perf_counter() - started
    print(
        f"\nbootstrap: {n_images} images x {n_labels} labels ({pairs.n_pairs} entries) x 1000: {elapsed:.2f}s"
    )
    assert result.threshold.shape == (1000, n_labels)
    assert elapsed < 120


def simulated_case(n_images: int, seed: int) -> tuple[ScoredPairs, np.ndarray, np.ndarray]:
    """Five labels, prevalence 40% down to 5%; positives score around 75, others around 55 (floor 50)."""
    return simulated_run(n_images, seed, (0.4, 0.3, 0.2, 0.1, 0.05), half_points=False)


def test_little_bootstraps_agree_with_the_exact_bootstrap_on_a_simulated_run() -> None:
    """4,000 images, where the exact bootstrap is affordable: 10 subsets of 333 images x 100 resamples.

    Tolerances: F1 is a smooth statistic, and both bootstraps estimate the same distribution; measured
    over 3 datasets x 6 seeds the endpoints differ by at most 0.007 on average and 0.012 for one seed
    (the exact bootstrap's own seed-to-seed spread is 0.001-0.003), so 0.015. The MinConfidence is an
    argmax on a flat maximum: no bootstrap estimates its distribution consistently, and the two differ
    by up to ~40% of the exact interval's width on these data; so half the width (plus half a point for
    confidences on a 0.1 grid). A wrong centring (the subsets' own F1) would miss F1 by ~0.02.
    """
    pairs, positive_image, positive_label = simulated_case(4000, 0)
    arguments = dict(
        positive_image_idx=positive_image, positive_label_idx=positive_label, objective="best-f1"
    )
    exact = bootstrap_recommendations(pairs, **arguments, exact=True)
    little = bootstrap_recommendations(pairs, **arguments, exact=False)
    assert little.method is not None and little.method.little
    assert (little.method.subsets, little.method.subset_images) == (10, 333)
    assert little.threshold.shape == exact.threshold.shape == (1000, pairs.n_labels)
    assert little.method.exact_labels == 1  # L4: 200 positives, 17 expected in a subset of 333
    exact_table, little_table = exact.per_label(), little.per_label()
    np.testing.assert_allclose(little_table["f1_low"], exact_table["f1_low"], atol=0.015)
    np.testing.assert_allclose(little_table["f1_high"], exact_table["f1_high"], atol=0.015)
    width = (exact_table["min_confidence_high"] - exact_table["min_confidence_low"]).to_numpy()
    for name in ("min_confidence_low", "min_confidence_high"):
        gap = np.abs(little_table[name] - exact_table[name]).to_numpy()
        assert (gap <= 0.5 * width + 0.5).all(), (name, gap, width)
    exact_global, little_global = exact.global_interval(), little.global_interval()
    for name in ("f1_low", "f1_high"):
        assert little_global[name] == pytest.approx(exact_global[name], abs=0.015)
    global_width = exact_global["min_confidence_high"] - exact_global["min_confidence_low"]
    for name in ("min_confidence_low", "min_confidence_high"):
        assert abs(little_global[name] - exact_global[name]) <= 0.5 * global_width + 0.5
    assert little_global["method"]["method"] == "bag of little bootstraps"
    assert exact_global["method"] == {"method": "exact", "resamples": 1000, "seed": 0}


def test_a_rare_label_keeps_the_exact_bootstrap_distribution() -> None:
    """Labels too rare for a subset are resampled exactly through the Binomial(n, K/n) shortcut: its
    interval must match the exact bootstrap's as two exact bootstraps with different seeds do."""
    pairs, positive_image, positive_label = simulated_case(4000, 1)
    arguments = dict(
        positive_image_idx=positive_image, positive_label_idx=positive_label, objective="best-f1"
    )
    little = bootstrap_recommendations(pairs, **arguments, exact=False, seed=3).per_label().iloc[4]
    exact = bootstrap_recommendations(pairs, **arguments, exact=True, seed=3).per_label().iloc[4]
    other = bootstrap_recommendations(pairs, **arguments, exact=True, seed=4).per_label().iloc[4]
    for name in ("f1_low", "f1_high"):
        assert abs(little[name] - exact[name]) <= max(0.01, 3 * abs(exact[name] - other[name]))
    assert little["resamples_defined"] == 1000


def test_little_bootstraps_are_reproducible_and_invariant_to_the_images_order_with_keys() -> None:
    pairs, positive_image, positive_label = simulated_case(1500, 2)
    keys = np.array([f"img{i:05d}" for i in range(pairs.n_images)], dtype=object)
    permutation = np.random.default_rng(9).permutation(pairs.n_images)
    new_of_old = np.argsort(permutation)  # image i moves to new_of_old[i]
    shuffled = ScoredPairs(
        labels=pairs.labels,
        n_images=pairs.n_images,
        support=pairs.support,
        label_idx=pairs.label_idx,
        image_idx=new_of_old[pairs.image_idx],
        confidence=pairs.confidence,
        is_true=pairs.is_true,
        floor=pairs.floor,
    )
    first = bootstrap_recommendations(
        pairs,
        positive_image_idx=positive_image,
        positive_label_idx=positive_label,
        objective="recall-at-precision:0.7",
        n_resamples=300,
        seed=5,
        image_keys=keys,
        exact=False,
    )
    second = bootstrap_recommendations(
        shuffled,
        positive_image_idx=new_of_old[positive_image],
        positive_label_idx=positive_label,
        objective="recall-at-precision:0.7",
        n_resamples=300,
        seed=5,
        image_keys=keys[permutation],
        exact=False,
    )
    assert first.method == second.method and first.method is not None and first.method.subsets == 3
    assert first.per_label().equals(second.per_label())
    assert first.global_interval() == second.global_interval()


def test_the_default_switches_at_the_work_budget() -> None:
    from evaluation.stats.bootstrap import EXACT_WORK_BUDGET, subset_size, use_little_bootstraps

    assert not use_little_bootstraps(10_000, EXACT_WORK_BUDGET // 1000, 1000)
    assert use_little_bootstraps(10_000, EXACT_WORK_BUDGET // 1000 + 1, 1000)
    assert (subset_size(100_000), subset_size(1_000_000), subset_size(1)) == (3163, 15849, 1)
