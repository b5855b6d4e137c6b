"""How every report shows a recommended MinConfidence: the value an application should use.

A recommended threshold is a confidence on a label's exact curve (e.g. 92.32634735), and any MinConfidence
in (threshold_low, threshold] gives the same counts. Rounded to the nearest 2 decimals (92.33) it would
drop the image at 92.3263, so the reports show thresholds.yaml's value instead
(:func:`evaluation.stats.thresholds.min_confidence_to_use`, i.e. ``safe_min_confidence``: the shortest decimal
rounded down that stays in that range) and, where there is room, the range itself.
"""

from __future__ import annotations

import math
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal
from typing import Any

from evaluation.analysis.missing import float_or_none
from evaluation.stats.thresholds import min_confidence_to_use

__all__ = ["confidence_text", "min_confidence", "same_counts_range", "use_text"]


def min_confidence(threshold: Any, low: Any) -> float | None:
    """thresholds.yaml's min_confidence for a recommendation (None where there is no threshold)."""
    exact = float_or_none(threshold)
    return None if exact is None else min_confidence_to_use(exact, float_or_none(low))


def _rounded(value: float, places: int, *, up: bool) -> float:
    """`value` with at most `places` decimals: the nearest if that is on the asked side, else the next one
    up (`up`) or down. 92.32629 stays 92.32629 (the same float), where rounding its binary expansion
    up would give 92.326291."""
    step = Decimal(1).scaleb(-places)
    nearest = float(Decimal(value).quantize(step, rounding=ROUND_HALF_EVEN))
    if (nearest >= value) if up else (nearest <= value):
        return nearest
    return float(Decimal(value).quantize(step, rounding=ROUND_CEILING if up else ROUND_FLOOR))


def same_counts_range(threshold: Any, low: Any) -> tuple[float | None, float] | None:
    """(above, up_to): every MinConfidence v with above < v <= up_to gives the recommendation's counts.

    The exact range is (low, threshold]; both ends are shown with few decimals, `above` never below low
    and `up_to` never above the threshold, so the stated range never lets in or drops a prediction.
    `above` is None when there is no lower confidence (every value up to the threshold works); the
    result is None when there is no threshold.
    """
    high = float_or_none(threshold)
    if high is None:
        return None
    below = float_or_none(low)
    if below is None or below == -math.inf:
        return None, _rounded(high, 4, up=False)
    use = min_confidence(high, below)
    for places in range(4, 18):
        above, up_to = _rounded(below, places, up=True), _rounded(high, places, up=False)
        if below <= above < use <= up_to <= high:  # thresholds.yaml's value lies inside what is shown
            return above, up_to
    return below, high


def confidence_text(value: Any) -> str:
    """A confidence with every digit it has and no more (92.3263, 60): the shortest text that reads back
    as the same number, as thresholds.yaml writes it (which adds ".0" to whole numbers)."""
    number = float_or_none(value)
    if number is None:
        return "–"
    text = repr(number)
    return text[:-2] if text.endswith(".0") else text


def use_text(threshold: Any, low: Any) -> str:
    """ "92.3262 (any value above 92.3101 up to 92.3263 gives the same counts)", or "–"."""
    value = min_confidence(threshold, low)
    if value is None:
        return "–"
    bounds = same_counts_range(threshold, low)
    if bounds is None:
        return confidence_text(value)
    above, up_to = bounds
    span = (
        f"any value up to {confidence_text(up_to)}"
        if above is None
        else (f"any value above {confidence_text(above)} up to {confidence_text(up_to)}")
    )
    return f"{confidence_text(value)} ({span} gives the same counts)"
