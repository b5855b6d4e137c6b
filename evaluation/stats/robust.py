"""A MinConfidence with margin on both sides of the range that gives the recommended counts.

recommend() reports ``threshold`` (the lowest confidence kept, the top of the range) and
``threshold_low`` (the next lower confidence returned for the label, or the floor): any MinConfidence v
with threshold_low < v <= threshold keeps exactly the same predictions, since a label is returned when
its confidence >= MinConfidence and no confidence of the label lies strictly inside the range. The top of
the range has no margin at all above the weakest kept prediction; the middle has the most on both sides.
"""

from __future__ import annotations

import math
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any

import numpy as np

__all__ = ["robust_min_confidence", "robust_min_confidences"]


def robust_min_confidence(threshold: float, low: float) -> float:
    """The middle of (low, threshold] on the confidence scale (0-100), rounded to the fewest decimal
    places (0 or more) that keep it strictly above ``low`` and at most ``threshold``.

    At each number of places the two multiples around the middle are tried, the nearer first (the
    higher on a tie); the first inside the range wins, so 1.34..92.3263 gives 47 and 87.1..87.3 gives
    87.2. Sending the result as MinConfidence reproduces the counts evaluated at ``threshold``. NaN in,
    NaN out (no threshold); ``low`` must be below ``threshold``.
    """
    threshold, low = float(threshold), float(low)
    if math.isnan(threshold):
        return math.nan
    if math.isnan(low) or not low < threshold:
        raise ValueError(f"need low < threshold to have a range; got low={low!r}, threshold={threshold!r}")
    high_exact, low_exact = Decimal(repr(threshold)), Decimal(repr(low))
    middle = (high_exact + low_exact) / 2
    for places in range(0, 18):
        step = Decimal(1).scaleb(-places)
        down = middle.quantize(step, rounding=ROUND_FLOOR)
        up = middle.quantize(step, rounding=ROUND_CEILING)
        for candidate in sorted({down, up}, key=lambda value: (abs(value - middle), -value)):
            value = float(candidate)
            if low < value <= threshold:
                return value
    return threshold


def robust_min_confidences(threshold: Any, low: Any) -> np.ndarray:
    """:func:`robust_min_confidence` element-wise (e.g. over recommend's ``threshold`` and
    ``threshold_low`` columns); NaN where ``threshold`` is NaN."""
    threshold = np.asarray(threshold, dtype=np.float64)
    low = np.broadcast_to(np.asarray(low, dtype=np.float64), threshold.shape)
    out = np.full(threshold.shape, np.nan)
    for index in np.ndindex(threshold.shape):
        out[index] = robust_min_confidence(threshold[index], low[index])
    return out
