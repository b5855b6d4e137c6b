"""Certain objectives in evaluation.stats.thresholds: the target must hold at the Wilson lower bound."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from evaluation.errors import UserError
from evaluation.stats.intervals import wilson_interval
from evaluation.stats.metrics import ScoredPairs, exact_curves, global_curve
from evaluation.stats.thresholds import (
    RECOMMEND_COLUMNS,
    STATUSES,
    Objective,
    recommend,
    recommend_global,
)
from tests.support.scored import pairs_of


def random_pairs(seed: int, n_images: int = 120, n_labels: int = 10) -> ScoredPairs:
    rng = np.random.default_rng(seed)
    truth = rng.random((n_images, n_labels)) < rng.uniform(0.05, 0.5, n_labels)
    returned = rng.random((n_images, n_labels)) < np.where(truth, 0.9, 0.4)
    image_idx, label_idx = np.nonzero(returned)
    confidence = np.round(np.clip(rng.normal(np.where(truth, 80, 60), 10), 50, 100), 1)[image_idx, label_idx]
    return pairs_of(truth, image_idx, label_idx, confidence, floor=50.0)


@pytest.mark.parametrize(
    ("text", "options", "expected"),
    [
        ("recall-at-precision:0.9:certain", {}, Objective("recall-at-precision", 0.9, certain=True)),
        ("precision>=90%", {"certain": True}, Objective("recall-at-precision", 0.9, certain=True)),
        ("recall>=0.8:certain@0.99", {}, Objective("precision-at-recall", 0.8, certain=True, level=0.99)),
        ("precision-at-recall:0.8", {"level": 0.9}, Objective("precision-at-recall", 0.8, True, 0.9)),
        ("recall-at-precision:0.9", {}, Objective("recall-at-precision", 0.9)),
    ],
)
def test_parse_certain(text: str, options: dict, expected: Objective) -> None:
    parsed = Objective.parse(text, **options)
    assert parsed == expected
    assert Objective.parse(str(parsed)) == parsed  # str round-trips, suffix included


def test_certain_is_refused_where_it_means_nothing() -> None:
    with pytest.raises(UserError, match="not to best-f1"):
        Objective.parse("best-f1", certain=True)
    with pytest.raises(UserError, match="not to best-f1"):
        Objective("best-f1", certain=True)
    with pytest.raises(UserError, match="level must be in"):
        Objective("recall-at-precision", 0.9, certain=True, level=95)
    assert str(Objective.parse("precision>=0.9")) == "recall-at-precision:0.9"  # unchanged when off
    assert "lower bound" in Objective.parse("precision>=0.9:certain").describe()


def test_six_of_six_cannot_certify_precision_above_0_61() -> None:
    """The issue's Cat: 6 positives, all found with no false positive, precision 1.000."""
    curves = pd.DataFrame(
        {
            "label": ["Cat", "Cat"],
            "threshold": [92.3263, 1.34],
            "tp": [6, 6],
            "fp": [0, 30],
            "fn": [0, 0],
            "precision": [1.0, 6 / 36],
            "recall": [1.0, 1.0],
            "f1": [1.0, 12 / 42],
        }
    )
    sure = recommend(
        curves, labels=["Cat"], support=[6], objective="precision>=0.6:certain", min_support=0
    ).iloc[0]
    assert sure["status"] == "ok" and sure["threshold"] == 92.3263 and sure["positives_to_certify"] == 0
    unsure = recommend(
        curves, labels=["Cat"], support=[6], objective="precision>=0.9:certain", min_support=0
    ).iloc[0]
    assert unsure["status"] == "uncertified" and math.isnan(unsure["threshold"])
    # 0.9 at p = 1 needs n with z^2/(n + z^2) <= 0.1: n >= 9 z^2 = 34.57, so 35 predictions = 35 positives
    assert unsure["positives_to_certify"] == 35 - 6
    assert "29 more positive image(s)" in unsure["note"]
    plain = recommend(curves, labels=["Cat"], support=[6], objective="precision>=0.9", min_support=0).iloc[0]
    assert plain["status"] == "ok" and "positives_to_certify" not in plain.index
    assert list(plain.index) == list(RECOMMEND_COLUMNS)
    assert "uncertified" in STATUSES


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("objective", ["recall-at-precision:0.8", "precision-at-recall:0.7"])
def test_certain_never_certifies_what_the_lower_bound_misses(seed: int, objective: str) -> None:
    pairs = random_pairs(seed)
    curves = exact_curves(pairs)
    certain = Objective.parse(objective, certain=True)
    table = recommend(curves, labels=pairs.labels, support=pairs.support, objective=certain, floor=50.0)
    plain = recommend(curves, labels=pairs.labels, support=pairs.support, objective=objective, floor=50.0)
    precision_kind = certain.kind == "recall-at-precision"
    low_p, _ = wilson_interval(curves["tp"], curves["tp"] + curves["fp"])
    low_r, _ = wilson_interval(curves["tp"], curves["tp"] + curves["fn"])
    bound = pd.Series(low_p if precision_kind else low_r, index=curves.index)
    certifiable = (bound >= certain.target) & (curves["tp"] > 0)
    for _, row in table.iterrows():
        mine = curves["label"] == row["label"]
        if not math.isnan(row["threshold"]):
            at = curves[mine & (curves["threshold"] == row["threshold"])].index[0]
            assert bound[at] >= certain.target  # never certifies a target the lower bound misses
            # and it is the best certified point: the highest recall (or precision) among them
            best = curves[mine & certifiable]
            key = "recall" if precision_kind else "precision"
            assert row[key] == best[key].max()
            assert row["positives_to_certify"] == 0
        else:
            assert not certifiable[mine].any(), row["label"]
            if row["status"] == "uncertified":
                assert not math.isnan(plain.set_index("label").loc[row["label"], "threshold"])
                more = int(row["positives_to_certify"])
                # scaling every count by (support + more) / support certifies some point, one fewer does not
                rows = curves[mine]
                trials = rows["tp"] + (rows["fp"] if precision_kind else rows["fn"])
                ok = (rows["recall"] > 0) if precision_kind else pd.Series(True, index=rows.index)

                def certifies(
                    positives: int, rows=rows, trials=trials, ok=ok, support=row["support"]
                ) -> bool:
                    scale = positives / support
                    low, _ = wilson_interval(rows["tp"] * scale, trials * scale)
                    return bool(((low >= certain.target - 1e-12) & ok).any())

                assert certifies(row["support"] + more)
                if more > 1:
                    assert not certifies(row["support"] + more - 1)
    # off, nothing changes: the certain column is absent and every other column is as before
    assert list(plain.columns) == list(RECOMMEND_COLUMNS)
    assert list(table.columns) == [*RECOMMEND_COLUMNS, "positives_to_certify"]


def test_global_certain() -> None:
    pairs = random_pairs(1, n_images=40, n_labels=3)
    curve = global_curve(pairs)
    loose = recommend_global(curve, objective="precision>=0.85", floor=50.0)
    strict = recommend_global(curve, objective="precision>=0.85:certain", floor=50.0)
    assert loose["status"] in ("ok", "at-floor")
    if strict["status"] == "uncertified":
        assert strict["threshold"] is None and "pair(s)" in strict["note"]
    else:
        low, _ = wilson_interval(strict["tp"], strict["tp"] + strict["fp"])
        assert low >= 0.85
