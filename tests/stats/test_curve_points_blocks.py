"""curve_points' order check, a block of entries at a time, says what the whole differences said, in each
of its three uses: exact_curves' points (strict), the sweep's entries (ties allowed), a group alone."""

from __future__ import annotations

import numpy as np
import pytest

from evaluation.stats import curve_points


def whole_check(code, values, strict):
    step = np.diff(code)
    if values is None:
        return bool((step >= 0).all())
    fall = np.diff(values)
    falls = fall < 0 if strict else fall <= 0
    return bool(((step > 0) | ((step == 0) & falls)).all())


@pytest.mark.parametrize("strict", [True, False])
@pytest.mark.parametrize("with_values", [True, False])
@pytest.mark.parametrize("block", [1, 2, 5, 1 << 20])
def test_grouped_then_descending_equals_the_whole_differences(monkeypatch, block, with_values, strict):
    monkeypatch.setattr(curve_points, "_ENTRIES_PER_BLOCK", block)
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
            values = threshold if with_values else None
            expected = whole_check(code, values, strict)
            assert curve_points.grouped_then_descending(code, values, strict=strict) == expected


def test_codes_of_16_bits_are_compared_not_subtracted() -> None:
    code = np.array([-32768, 32767], dtype=np.int16)  # a difference would overflow int16
    assert curve_points.grouped_then_descending(code)
    assert not curve_points.grouped_then_descending(code[::-1].copy())
