"""The bag of little bootstraps' full-data recommendation (evaluation.stats.full_curves) against the
former code path (every label's curve and the global one at once), and the curves' leaner candidates
and counted sums against the former formulas kept here: bit for bit."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from evaluation.stats.full_curves import _full_recommendations
from evaluation.stats.resampled_curves import _Entries, _recommendations, _sums_at
from evaluation.stats.thresholds import Objective
from tests.stats.test_resampled_points import OBJECTIVES, random_entries


def former_candidates_and_counted(entries: _Entries) -> list[tuple[np.ndarray, ...]]:
    """Per curve (per label, global): candidates and counted sums as the former _curve built them."""
    out = []
    for curve in entries.curves():
        assert curve is not None
        true_through = np.searchsorted(np.flatnonzero(curve.is_true), curve.points, side="right")
        candidate = np.flatnonzero(np.diff(true_through, prepend=0) > 0)
        group = np.repeat(np.arange(curve.n_groups), np.diff(np.append(curve.group_start, curve.image.size)))
        can_have_support = np.zeros(curve.n_groups, dtype=bool)
        can_have_support[curve.total_group] = True
        counted = np.flatnonzero(can_have_support[group])
        ends = curve.predicted.end - 1
        sums = _sums_at(curve.image, counted, ends, curve.predicted.start)
        out.append((candidate, sums.rows, sums.end, sums.start))
    return out


@pytest.mark.parametrize("seed", range(8))
def test_candidates_and_counted_sums_are_the_former_ones(seed: int) -> None:
    entries = random_entries(seed)
    for curve, (candidate, rows, end, start) in zip(
        entries.curves(), former_candidates_and_counted(entries), strict=True
    ):
        assert curve is not None
        for new, old in zip(
            (
                curve.candidate,
                curve.predicted_counted.rows,
                curve.predicted_counted.end,
                curve.predicted_counted.start,
            ),
            (candidate, rows, end, start),
            strict=True,
        ):
            assert new.dtype == old.dtype
            assert_array_equal(new, old)


@pytest.mark.parametrize("objective", OBJECTIVES)
def test_full_recommendations_are_the_former_ones(objective: str) -> None:
    """The same arrays as the former ``_recommendations(entries.curves(), ...)`` at every multiplicity 1
    (tests/stats/test_unit_counts.py: across blocks, ties, degenerate entries)."""
    parsed = Objective.parse(objective)
    for seed in range(5):
        entries = random_entries(seed)
        for dtype in (np.int32, np.int64):
            ones = np.ones((60, 1), dtype=dtype)
            former = _recommendations(entries.curves(), entries, parsed, ones)
            order = np.argsort(-entries.confidence, kind="stable")  # ScoredPairs.by_confidence
            for new in (
                _full_recommendations(entries, parsed, ones),
                _full_recommendations(entries, parsed, ones, by_confidence=order),
            ):
                for fast, slow in zip(new, former, strict=True):
                    assert slow is not None
                    for a, b in zip(fast, slow, strict=True):
                        assert a.dtype == b.dtype and a.shape == b.shape
                        assert_array_equal(a, b)


def _same_curve(new: object, old: object) -> None:
    for field in dataclasses.fields(new):  # type: ignore[arg-type]
        a, b = getattr(new, field.name), getattr(old, field.name)
        if dataclasses.is_dataclass(a):
            _same_curve(a, b)
        elif isinstance(a, np.ndarray):
            assert a.dtype == b.dtype and np.array_equal(a, b), field.name
        else:
            assert a == b, field.name


@pytest.mark.parametrize("seed", range(6))
def test_the_per_label_order_skips_a_second_sort_by_confidence(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The entries already sorted by confidence are not sorted by it again: the same curves as sorting."""
    from evaluation.stats import metrics, resampled_curves

    entries = random_entries(seed)
    if seed == 5:  # 0.0 and -0.0 among the confidences: one key to both sorts
        confidence = entries.confidence.copy()
        confidence[::7] = 0.0
        confidence[::11] = -0.0
        entries = dataclasses.replace(entries, confidence=confidence)
    new = entries.curves()
    former = metrics.by_group_then_confidence
    monkeypatch.setattr(
        resampled_curves,
        "by_group_then_confidence",
        lambda group, confidence, n, _=None: former(group, confidence, n),
    )
    for fresh, old in zip(new, entries.curves(), strict=True):
        _same_curve(fresh, old)
