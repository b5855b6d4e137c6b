"""evaluation.stats.robust: a value with margin that still reproduces the recommended counts."""

from __future__ import annotations

import math

import numpy as np
import pytest

from evaluation.stats.metrics import exact_curves
from evaluation.stats.robust import robust_min_confidence, robust_min_confidences
from evaluation.stats.thresholds import recommend
from tests.support.scored import pairs_of


@pytest.mark.parametrize(
    ("threshold", "low", "expected"),
    [
        (92.3263, 1.34, 47.0),  # the Cat: the middle, 46.83, to the fewest digits
        (87.3, 87.1, 87.2),
        (1.0, 0.0, 1.0),  # 0.5 rounds to 0 or 1 equally: the higher, since the top is inside
        (50.00001, 50.0, 50.00001),
        (99.99, 99.9, 99.95),
        (60.0, 59.0, 60.0),  # the middle, 59.5, ties: 60 is inside, 59 is not
    ],
)
def test_robust_min_confidence(threshold: float, low: float, expected: float) -> None:
    value = robust_min_confidence(threshold, low)
    assert value == expected
    assert low < value <= threshold


def test_robust_values_reproduce_the_counts() -> None:
    rng = np.random.default_rng(0)
    n_images, n_labels = 60, 6
    truth = rng.random((n_images, n_labels)) < 0.4
    image_idx, label_idx = np.nonzero(rng.random((n_images, n_labels)) < 0.7)
    confidence = rng.uniform(0, 100, (n_images, n_labels)).round(rng.integers(0, 6))[image_idx, label_idx]
    pairs = pairs_of(truth, image_idx, label_idx, confidence)
    table = recommend(exact_curves(pairs), labels=pairs.labels, support=pairs.support, objective="best-f1")
    values = robust_min_confidences(table["threshold"], table["threshold_low"])
    for index, row in table.iterrows():
        if math.isnan(row["threshold"]):
            assert math.isnan(values[index])
            continue
        mine = pairs.label_idx == index
        kept = mine & (pairs.confidence >= values[index])
        assert (kept & pairs.is_true).sum() == row["tp"] and (kept & ~pairs.is_true).sum() == row["fp"]
        assert len(repr(float(values[index]))) <= len(repr(float(row["threshold"]))) + 2


def test_robust_needs_a_range() -> None:
    with pytest.raises(ValueError, match="low < threshold"):
        robust_min_confidence(50.0, 50.0)
    assert math.isnan(robust_min_confidence(math.nan, 3.0))
