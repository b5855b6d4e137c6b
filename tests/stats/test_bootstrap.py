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
from tests.support.scored import pairs_of, random_case


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
