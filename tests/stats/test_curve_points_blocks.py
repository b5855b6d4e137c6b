"""curve_points' order check, a block of points at a time, says what the whole differences said."""

from __future__ import annotations

import numpy as np
import pytest

from evaluation.stats import curve_points


def whole_check(code, threshold):
    step, fall = np.diff(code), np.diff(threshold)
    return bool(((step > 0) | ((step == 0) & (fall < 0))).all())


@pytest.mark.parametrize("block", [1, 2, 5, 1 << 20])
def test_grouped_descending_equals_the_whole_differences(monkeypatch, block):
    monkeypatch.setattr(curve_points, "_POINTS_PER_BLOCK", block)
    rng = np.random.default_rng(block)
    for size in (0, 1, 2, 3, 11, 40):
        for _ in range(30):
            code = np.sort(rng.integers(0, 4, size)).astype(np.int32)
            threshold = -np.sort(-rng.uniform(0, 100, size))
            threshold = threshold[np.lexsort((-threshold, code))] if size else threshold
            if size and rng.random() < 0.6:  # a tie, a NaN, a swap or a code out of order somewhere
                at = int(rng.integers(0, size))
                kind = int(rng.integers(0, 4))
                if kind == 0 and at + 1 < size:
                    threshold[at + 1] = threshold[at]
                elif kind == 1:
                    threshold[at] = np.nan
                elif kind == 2 and at + 1 < size:
                    code[[at, at + 1]] = code[[at + 1, at]]
                else:
                    code[at] = 3 - code[at]
            assert curve_points._grouped_descending(code, threshold) == whole_check(code, threshold)
