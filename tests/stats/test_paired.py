"""evaluation.stats.paired: McNemar's exact test against a hand-worked table and scipy."""

from __future__ import annotations

import numpy as np
import pytest

from evaluation.stats.paired import mcnemar_exact, paired_comparison


def test_hand_worked_table() -> None:
    # b = 1, c = 9: P(X <= 1 | n = 10, 1/2) = (1 + 10) / 1024, two-sided 22/1024 = 0.021484375
    assert mcnemar_exact(1, 9) == pytest.approx(22 / 1024, rel=1e-12)
    assert mcnemar_exact(9, 1) == pytest.approx(22 / 1024, rel=1e-12)
    # b = 0, c = 5: 2 / 32 = 0.0625; equal counts give 1; no discordant images give 1
    assert mcnemar_exact(0, 5) == pytest.approx(0.0625, rel=1e-12)
    assert mcnemar_exact(4, 4) == 1.0 and mcnemar_exact(0, 0) == 1.0
    with pytest.raises(ValueError, match=">= 0"):
        mcnemar_exact(-1, 2)


def test_against_scipy_binomtest() -> None:
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(0)
    for b, c in [(3, 17), (50, 70), (200, 260), (0, 1), (1000, 1100), *rng.integers(0, 60, (20, 2)).tolist()]:
        if b + c == 0:
            continue
        expected = stats.binomtest(int(b), int(b + c), 0.5, alternative="two-sided").pvalue
        assert mcnemar_exact(b, c) == pytest.approx(expected, rel=1e-9, abs=1e-300)


def test_paired_comparison() -> None:
    correct_a = np.array([True, True, True, False, False, True, True, False])
    correct_b = np.array([True, False, True, True, True, True, True, True])
    result = paired_comparison(correct_a, correct_b)
    assert (result["both_right"], result["only_a_right"], result["only_b_right"], result["both_wrong"]) == (
        4,
        1,
        3,
        0,
    )
    assert result["p_value"] == pytest.approx(mcnemar_exact(1, 3))
    assert result["effect"] == pytest.approx(2 / 8)
