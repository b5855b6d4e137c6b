"""evaluation.stats.costs: the min-cost threshold equals a brute-force search over the exact curve."""

from __future__ import annotations

import math

import numpy as np
import pytest

from evaluation.stats.costs import (
    MIN_COST_COLUMNS,
    application_cost_per_1000,
    min_cost_interval,
    min_cost_thresholds,
    per_label_costs,
)
from evaluation.stats.metrics import ScoredPairs, exact_curves
from tests.support.scored import random_case


@pytest.mark.parametrize("seed", range(4))
def test_min_cost_equals_brute_force(seed: int) -> None:
    pairs, _, _ = random_case(seed, n_images=50, n_labels=5)
    rng = np.random.default_rng(seed)
    cost_fp = {label: float(rng.uniform(0, 5)) for label in pairs.labels}
    cost_fn, cost_review = 2.0, float(rng.choice([0.0, 0.3]))
    curves = exact_curves(pairs)
    table = min_cost_thresholds(
        curves,
        labels=pairs.labels,
        support=pairs.support,
        n_images=pairs.n_images,
        cost_fp=cost_fp,
        cost_fn=cost_fn,
        cost_review=cost_review,
    )
    assert list(table.columns) == list(MIN_COST_COLUMNS)
    for index, label in enumerate(pairs.labels):
        mine = pairs.label_idx == index
        support = int(pairs.support[index])
        # brute force: every distinct confidence of the label as MinConfidence, and "never predict"
        options = [(cost_fn * support * 1000 / pairs.n_images, math.inf)]
        for threshold in np.unique(pairs.confidence[mine]):
            kept = mine & (pairs.confidence >= threshold)
            tp, fp = int((kept & pairs.is_true).sum()), int((kept & ~pairs.is_true).sum())
            cost = cost_fp[label] * fp + cost_fn * (support - tp) + cost_review * (tp + fp)
            options.append((cost * 1000 / pairs.n_images, threshold))
        best_cost = min(cost for cost, _ in options)
        best_threshold = max(threshold for cost, threshold in options if cost <= best_cost + 1e-9)
        row = table.iloc[index]
        assert row["cost_per_1000"] == pytest.approx(best_cost)
        if math.isinf(best_threshold):
            assert row["status"] == "predict-nothing" and math.isnan(row["threshold"])
        else:
            assert row["status"] == "ok" and row["threshold"] == best_threshold
    total = application_cost_per_1000(table, cost_call=0.001)
    assert total == pytest.approx(table["cost_per_1000"].sum() + 1.0)


def test_min_cost_interval_brackets_the_cost() -> None:
    pairs, positive_image, positive_label = random_case(1, n_images=200, n_labels=3)
    table = min_cost_thresholds(
        exact_curves(pairs),
        labels=pairs.labels,
        support=pairs.support,
        n_images=200,
        cost_fp=1.0,
        cost_fn=3.0,
    )
    per_label, overall = min_cost_interval(
        pairs,
        table,
        positive_image_idx=positive_image,
        positive_label_idx=positive_label,
        cost_fp=1.0,
        cost_fn=3.0,
        cost_call=0.001,
        n_resamples=300,
        seed=2,
    )
    assert (per_label["cost_low"] <= table["cost_per_1000"] + 1e-9).all()
    assert (table["cost_per_1000"] <= per_label["cost_high"] + 1e-9).all()
    assert overall["cost_low"] <= application_cost_per_1000(table, cost_call=0.001) <= overall["cost_high"]


def test_costs_are_validated() -> None:
    with pytest.raises(ValueError, match="no cost for label"):
        per_label_costs({"A": 1.0}, ["A", "B"], "cost_fp")
    assert per_label_costs({"A": 1.0, "*": 2.0}, ["A", "B"], "cost_fp").tolist() == [1.0, 2.0]
    with pytest.raises(ValueError, match=">= 0"):
        per_label_costs(-1.0, ["A"], "cost_fn")
    empty = ScoredPairs(
        labels=("A",),
        n_images=4,
        support=np.array([2]),
        label_idx=[],
        image_idx=[],
        confidence=[],
        is_true=[],
    )
    table = min_cost_thresholds(
        exact_curves(empty), labels=("A",), support=[2], n_images=4, cost_fp=1.0, cost_fn=1.0
    )
    assert table.iloc[0]["status"] == "predict-nothing" and table.iloc[0]["cost_per_1000"] == 500.0
