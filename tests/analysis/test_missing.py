"""The one test for a missing number, and how the reports write one."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from evaluation.analysis.missing import DASH, fixed, fixed_with_interval, float_or_none, is_missing


@pytest.mark.parametrize("value", [None, pd.NA, float("nan"), np.float64("nan"), np.nan])
def test_every_missing_value_pandas_may_hold_is_missing(value):
    assert is_missing(value)
    assert float_or_none(value) is None
    assert fixed(value) == DASH
    assert fixed_with_interval(value, 0.1, 0.9) == DASH


@pytest.mark.parametrize("value", [0, 0.0, 1, np.int64(3), np.float64(0.25), "", "text", pd.Timestamp(0)])
def test_numbers_zero_and_other_values_are_not_missing(value):
    assert not is_missing(value)


def test_float_or_none_turns_numbers_into_floats_and_anything_else_into_none():
    assert float_or_none(np.int64(3)) == 3.0 and isinstance(float_or_none(np.int64(3)), float)
    assert float_or_none("92.5") == 92.5
    assert float_or_none("high") is None and float_or_none([1]) is None
    assert float_or_none("nan") is None


def test_fixed_writes_the_digits_asked_and_its_own_dash():
    assert fixed(0.5) == "0.500" and fixed(92.32631, 2) == "92.33" and fixed(1) == "1.000"
    assert fixed(None, dash="-") == "-"


def test_an_undefined_interval_leaves_the_number_alone():
    assert fixed_with_interval(0.9, 0.7, 0.97) == "0.900 [0.700, 0.970]"
    assert fixed_with_interval(0.9, float("nan"), 0.97) == "0.900"
    assert fixed_with_interval(12.34567, None, pd.NA, 4) == "12.3457"
