"""evaluation.stats.calibration: the reliability table, counted by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from evaluation.stats.calibration import CALIBRATION_COLUMNS, reliability_table
from evaluation.stats.intervals import wilson_interval
from evaluation.stats.metrics import ScoredPairs


def test_reliability_table_by_hand() -> None:
    pairs = ScoredPairs(
        labels=("Cat", "Dog"),
        n_images=6,
        support=np.array([3, 1]),
        label_idx=np.array([0, 0, 0, 0, 1]),
        image_idx=np.array([0, 1, 2, 3, 4]),
        confidence=np.array([95.0, 91.0, 55.0, 100.0, 10.0]),
        is_true=np.array([True, False, True, True, False]),
    )
    table = reliability_table(pairs, bins=[0, 50, 90, 100])
    assert list(table.columns) == list(CALIBRATION_COLUMNS) and len(table) == 6
    cat_top = table.iloc[2]  # [90, 100]: 95 (true), 91 (false), 100 (true: the last bin is closed)
    assert (cat_top["bin_low"], cat_top["bin_high"], cat_top["predictions"], cat_top["tp"]) == (90, 100, 3, 2)
    assert cat_top["mean_confidence"] == pytest.approx((95 + 91 + 100) / 3)
    assert cat_top["observed_precision"] == pytest.approx(2 / 3)
    assert [cat_top["precision_low"], cat_top["precision_high"]] == pytest.approx(
        [float(bound) for bound in wilson_interval(2, 3)]
    )
    assert cat_top["gap"] == pytest.approx(2 / 3 - 286 / 300)
    cat_low = table.iloc[0]
    assert cat_low["predictions"] == 0 and math.isnan(cat_low["observed_precision"])
    dog_low = table.iloc[3]
    assert (dog_low["predictions"], dog_low["tp"], dog_low["observed_precision"]) == (1, 0, 0.0)
    assert list(reliability_table(pairs, bins=4)["bin_low"][:4]) == [0, 25, 50, 75]
    with pytest.raises(ValueError, match="cover"):
        reliability_table(pairs, bins=[10, 100])
