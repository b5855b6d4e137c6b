"""recommend's choice a block of rows at a time, on the curve's own int32 counts and int32 label codes,
against the former whole-array choice on int64 copies (kept here): the same frames, bit for bit."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import pytest

from evaluation.stats import thresholds
from evaluation.stats.curve_points import curve_points_by_label
from evaluation.stats.metrics import exact_curves, global_curve
from evaluation.stats.thresholds import recommend, recommend_global
from tests.support.scored import pairs_of

OBJECTIVES = [
    "best-f1",
    "recall-at-precision:0.7",
    "precision-at-recall:0.6",
    "recall-at-precision:0.6:certain",
    "precision-at-recall:0.5:certain@0.8",
]


def former_first_per_sorted_group(
    group: np.ndarray, n_groups: int, keys_desc: Sequence[np.ndarray]
) -> np.ndarray:
    n_rows = group.shape[0]
    starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
    counts = np.diff(np.r_[starts, n_rows])
    left = np.ones(n_rows, dtype=bool)
    for key in keys_desc:
        negated = isinstance(key, thresholds._Negated)  # the former code was given the negated copy
        values = -np.asarray(key.values, dtype=np.float64) if negated else np.asarray(key, dtype=np.float64)
        nan = np.isnan(values)
        masked = values.copy()
        masked[~left | nan] = -np.inf
        best = np.repeat(np.maximum.reduceat(masked, starts), counts)
        kept = masked == best
        kept |= np.isneginf(best) & nan
        left &= kept
    remaining = np.flatnonzero(left)
    chosen = np.full(n_groups, -1, dtype=np.int64)
    chosen[group[starts]] = remaining[np.searchsorted(remaining, starts)]
    return chosen


def former_sorted_curve(curves: pd.DataFrame, labels: tuple[str, ...]) -> dict[str, np.ndarray]:
    stated = ("support",) if "support" in curves.columns else ()
    return curve_points_by_label(curves, labels, ("tp", "fp", "fn", "precision", "recall", "f1", *stated))


@pytest.mark.parametrize("seed", range(6))
def test_the_blocks_choose_the_former_rows(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Groups across blocks; keys with ties, NaN (a group all NaN), -inf, -0.0 and 0.0, bools."""
    rng = np.random.default_rng(seed)
    n_groups = 9
    group = np.sort(rng.integers(0, n_groups, 300))
    keys = [
        rng.random(300) < 0.4,
        np.round(rng.normal(0, 2, 300)),
        np.where(rng.random(300) < 0.2, np.nan, rng.integers(0, 3, 300).astype(float)),
        np.where(group == 2, np.nan, rng.choice([-0.0, 0.0, -np.inf, 1.0], 300)),
    ]
    for block in (1, 7, 64, 1 << 20):
        monkeypatch.setattr(thresholds, "_ROWS_PER_BLOCK", block)
        for count in range(1, len(keys) + 1):
            for order in (keys[:count], keys[::-1][:count]):
                new = thresholds._first_per_sorted_group(group, n_groups, order)
                assert np.array_equal(new, former_first_per_sorted_group(group, n_groups, order))


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("objective", OBJECTIVES)
def test_recommend_is_the_former_frame(seed: int, objective: str, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(seed)
    n_images, n_labels = 120, 12
    truth = rng.random((n_images, n_labels)) < np.linspace(0.0, 0.5, n_labels)
    returned = rng.random((n_images, n_labels)) < np.where(truth, 0.85, 0.4)
    returned[:, 3] = False
    image_idx, label_idx = np.nonzero(returned)
    confidence = np.round(np.clip(rng.normal(np.where(truth, 75, 60), 12), 50, 100))[image_idx, label_idx]
    pairs = pairs_of(truth, image_idx, label_idx, confidence, floor=50.0)
    curves = exact_curves(pairs)
    assert curves["tp"].dtype == np.int32
    arguments = dict(labels=pairs.labels, support=pairs.support, objective=objective, floor=50.0)
    monkeypatch.setattr(thresholds, "_ROWS_PER_BLOCK", 16)
    new = recommend(curves, **arguments)
    new_global = recommend_global(global_curve(pairs), objective=objective, floor=50.0)
    monkeypatch.setattr(thresholds, "_first_per_sorted_group", former_first_per_sorted_group)
    monkeypatch.setattr(thresholds, "_sorted_curve", former_sorted_curve)
    old = recommend(curves, **arguments)
    assert new.equals(old)
    for name in ("threshold", "threshold_low", "precision", "recall", "f1"):
        assert np.array_equal(new[name].to_numpy().view(np.int64), old[name].to_numpy().view(np.int64))
    assert recommend_global(global_curve(pairs), objective=objective, floor=50.0) == new_global
