"""evaluation.stats.intervals: Wilson values worked out elsewhere, coverage by simulation, planning."""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from evaluation.stats.intervals import (
    INTERVAL_COLUMNS,
    trials_for_half_width,
    trials_to_certify,
    wilson_half_width,
    wilson_interval,
    with_wilson,
    z_value,
)
from evaluation.stats.metrics import ScoredPairs, exact_curves, grid_table

# Values of statsmodels.stats.proportion.proportion_confint(count, nobs, alpha=0.05, method="wilson"),
# reproduced with scipy.stats.binomtest(count, nobs).proportion_ci(method="wilson") (scipy 1.x), and by
# hand: z = 1.959964, centre = (p + z^2/2n) / (1 + z^2/n), half = z sqrt(p(1-p)/n + z^2/4n^2) / (1 + z^2/n).
# 0 of 6: centre = (0 + 0.320122) / 1.640243 = 0.195167 = half, so (0, 0.390334).
HAND_WORKED = [
    (0, 6, 0.0, 0.3903342879021653),
    (6, 6, 0.6096657120978346, 1.0),
    (5, 10, 0.236593090512564, 0.7634069094874361),
    (1, 10, 0.017876213095072896, 0.4041500267952385),  # scipy binomtest(1, 10), as above
    (81, 263, 0.2553, 0.3662),  # Newcombe, Stat. Med. 17 (1998) 857-872, example 81/263, to 4 decimals
]


@pytest.mark.parametrize(("successes", "trials", "low", "high"), HAND_WORKED)
def test_wilson_hand_worked(successes: int, trials: int, low: float, high: float) -> None:
    got_low, got_high = wilson_interval(successes, trials)
    decimals = 4 if trials == 263 else 10
    assert round(float(got_low), decimals) == pytest.approx(low, abs=10**-decimals)
    assert round(float(got_high), decimals) == pytest.approx(high, abs=10**-decimals)


def test_wilson_against_scipy_on_many_counts() -> None:
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(3)
    trials = rng.integers(1, 400, size=60)
    successes = rng.integers(0, trials + 1)
    for level in (0.8, 0.95, 0.99):
        low, high = wilson_interval(successes, trials, level=level)
        for index in range(trials.size):
            reference = stats.binomtest(int(successes[index]), int(trials[index])).proportion_ci(
                confidence_level=level, method="wilson"
            )
            assert low[index] == pytest.approx(reference.low, abs=1e-12)
            assert high[index] == pytest.approx(reference.high, abs=1e-12)


def test_wilson_is_undefined_at_zero_trials_and_vectorised() -> None:
    low, high = wilson_interval(np.array([[0, 1], [2, 0]]), np.array([[0, 2], [4, 0]]))
    assert low.shape == (2, 2)
    assert math.isnan(low[0, 0]) and math.isnan(high[1, 1])
    assert 0 < low[0, 1] < 0.5 < high[0, 1] < 1
    assert z_value(0.95) == pytest.approx(1.959963984540054)
    with pytest.raises(ValueError, match="level must be in"):
        z_value(95)
    with pytest.raises(ValueError, match="successes <= trials"):
        wilson_interval(3, 2)


def test_wilson_coverage_by_simulation() -> None:
    """400 datasets from a known model: the 95% intervals cover the true precision and recall 93-97%."""
    rng = np.random.default_rng(20240612)
    n_datasets, n_images, prevalence, threshold = 400, 300, 0.3, 60.0
    positive, negative = NormalDist(72, 12), NormalDist(45, 12)
    true_recall = 1 - positive.cdf(threshold)
    false_rate = 1 - negative.cdf(threshold)
    true_precision = prevalence * true_recall / (prevalence * true_recall + (1 - prevalence) * false_rate)

    is_positive = rng.random((n_datasets, n_images)) < prevalence
    confidence = np.where(
        is_positive,
        rng.normal(positive.mean, positive.stdev, (n_datasets, n_images)),
        rng.normal(negative.mean, negative.stdev, (n_datasets, n_images)),
    )
    predicted = confidence >= threshold
    tp = (predicted & is_positive).sum(axis=1)
    fp = (predicted & ~is_positive).sum(axis=1)
    support = is_positive.sum(axis=1)

    low, high = wilson_interval(tp, tp + fp)
    precision_coverage = np.mean((low <= true_precision) & (true_precision <= high))
    low, high = wilson_interval(tp, support)
    recall_coverage = np.mean((low <= true_recall) & (true_recall <= high))
    assert 0.93 <= precision_coverage <= 0.97, precision_coverage
    assert 0.93 <= recall_coverage <= 0.97, recall_coverage


def test_trials_for_half_width_is_the_fewest_by_the_wilson_function_itself() -> None:
    proportions = np.array([0.0, 0.1, 0.5, 0.83, 1.0, np.nan])
    for half_width in (0.02, 0.05, 0.1):
        needed = trials_for_half_width(proportions, half_width)
        planned = np.where(np.isnan(proportions), 0.5, proportions)
        assert (wilson_half_width(planned * needed, needed) <= half_width).all()
        fewer = needed - 1
        assert (wilson_half_width(planned * fewer, np.maximum(fewer, 1)) > half_width).all()
    # at p = 1 the half-width is z^2 / (2 (n + z^2)): <= 0.05 from n = z^2/0.1 - z^2 = 34.57, so 35
    assert int(trials_for_half_width(1.0, 0.05)) == 35
    assert int(trials_for_half_width(0.5, 0.05)) == 381  # the familiar "about 384" of the Wald formula


def test_trials_to_certify_lands_on_the_target() -> None:
    proportions = np.array([1.0, 0.95, 0.9, 0.7])
    targets = np.array([0.6097, 0.9, 0.8, 0.5])
    trials = trials_to_certify(proportions, targets)
    low, _ = wilson_interval(proportions * trials, trials)
    assert_allclose(low, targets, atol=1e-9)
    low_before, _ = wilson_interval(proportions * (trials - 0.5), trials - 0.5)
    assert (low_before < targets).all()
    assert trials[0] == pytest.approx(6, abs=0.01)  # 6 of 6 certifies precision 0.6097 (see above)
    assert np.isinf(trials_to_certify([0.8, 0.9, 1.0], [0.8, 0.95, 1.0])).all()


def test_with_wilson_adds_columns_to_grid_and_curves() -> None:
    pairs = ScoredPairs(
        labels=("Cat", "Dog"),
        n_images=6,
        support=np.array([3, 0]),
        label_idx=np.array([0, 0, 0, 1]),
        image_idx=np.array([0, 1, 2, 3]),
        confidence=np.array([90.0, 80.0, 70.0, 60.0]),
        is_true=np.array([True, False, True, False]),
    )
    grid = with_wilson(grid_table(pairs, thresholds=[50, 75, 95]))
    assert list(grid.columns[grid.columns.get_loc("recall") + 1 :][:4]) == list(INTERVAL_COLUMNS)
    cat_75 = grid[(grid["label"] == "Cat") & (grid["threshold"] == 75)].iloc[0]
    expected = [float(bound) for bound in wilson_interval(1, 2)]
    assert [cat_75["precision_low"], cat_75["precision_high"]] == pytest.approx(expected)
    expected = [float(bound) for bound in wilson_interval(1, 3)]
    assert [cat_75["recall_low"], cat_75["recall_high"]] == pytest.approx(expected)
    dog = grid[grid["label"] == "Dog"]
    assert dog["recall_low"].isna().all()  # no positives: undefined, not [0, 1]
    assert grid[(grid["label"] == "Cat") & (grid["threshold"] == 95)]["precision_low"].isna().all()
    curves = with_wilson(exact_curves(pairs))
    assert curves["precision_high"].notna().all()
    recommended = pd.DataFrame({"tp": pd.array([2, pd.NA], dtype="Int64"), "fp": [1, None], "fn": [1, None]})
    out = with_wilson(recommended)
    assert math.isnan(out.loc[1, "precision_low"]) and out.loc[0, "recall_low"] > 0
