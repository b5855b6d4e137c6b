"""A missing number as pandas may hold it (None, NaN, pd.NA), and how the reports write it.

JSON has no NaN and a report should never say "nan": the analysis and every report ask `is_missing` and
write None (JSON, YAML) or a dash (text), through these few functions.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

__all__ = ["DASH", "fixed", "fixed_with_interval", "float_or_none", "is_missing"]

DASH = "–"


def is_missing(value: Any) -> bool:
    """None, pandas' NA or a float NaN (numpy's float64 included)."""
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def float_or_none(value: Any) -> float | None:
    """A float, or None for a missing value or anything that is not a number."""
    if is_missing(value):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def fixed(value: Any, digits: int = 3, *, dash: str = DASH) -> str:
    """`value` with `digits` decimals, or the dash where it is missing."""
    return dash if is_missing(value) else f"{float(value):.{digits}f}"


def fixed_with_interval(value: Any, low: Any, high: Any, digits: int = 3) -> str:
    """0.900 [0.700, 0.970]: the number and its interval (the interval left out where it is undefined)."""
    if is_missing(value):
        return DASH
    if is_missing(low) or is_missing(high):
        return fixed(value, digits)
    return f"{fixed(value, digits)} [{fixed(low, digits)}, {fixed(high, digits)}]"
