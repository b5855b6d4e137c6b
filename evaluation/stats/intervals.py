"""Wilson score intervals for proportions, and the data needed to make them narrow or to certify a target.

Precision is a proportion of predictions (tp of tp + fp) and recall a proportion of positives (tp of
support); both get Wilson score intervals, which behave at 0 of n and n of n where the normal ("Wald")
interval collapses to a point. Everything is vectorised over arrays of counts; counts may be floats (the
planning functions evaluate the interval at fractional, scaled counts). An interval with 0 trials is
undefined: NaN, never [0, 1].

The normal quantile comes from :class:`statistics.NormalDist`, so this module needs no scipy.
"""

from __future__ import annotations

from statistics import NormalDist
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "INTERVAL_COLUMNS",
    "trials_for_half_width",
    "trials_to_certify",
    "wilson_half_width",
    "wilson_interval",
    "with_wilson",
    "z_value",
]

INTERVAL_COLUMNS = ("precision_low", "precision_high", "recall_low", "recall_high")


def z_value(level: float) -> float:
    """The two-sided standard normal quantile for a confidence ``level`` in (0, 1): 1.959964 for 0.95."""
    level = float(level)
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), e.g. 0.95; got {level!r}")
    return NormalDist().inv_cdf(0.5 + level / 2.0)


def wilson_interval(successes: Any, trials: Any, *, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """(low, high) Wilson score interval of successes / trials, element-wise, as float arrays.

    ``successes`` and ``trials`` broadcast against each other (ints, or floats for planning); NaN where
    ``trials`` is 0 or either input is NaN. 0 <= successes <= trials is required. The bounds are
    clipped to [0, 1] and are exactly 0 at 0 successes and exactly 1 at ``successes == trials``.
    """
    z = z_value(level)
    successes = np.asarray(successes, dtype=np.float64)
    trials = np.asarray(trials, dtype=np.float64)
    bad = (successes < 0) | (successes > trials)
    if np.any(bad & ~np.isnan(successes) & ~np.isnan(trials)):
        raise ValueError("wilson_interval needs 0 <= successes <= trials")
    defined = trials > 0
    n = np.where(defined, trials, 1.0)
    p = np.where(defined, successes, 0.0) / n
    z2 = z * z
    denominator = 1.0 + z2 / n
    centre = (p + z2 / (2.0 * n)) / denominator
    half = z * np.sqrt(np.maximum(p * (1.0 - p) / n + z2 / (4.0 * n * n), 0.0)) / denominator
    low = np.clip(centre - half, 0.0, 1.0)
    high = np.clip(centre + half, 0.0, 1.0)
    # exact ends: rounding may leave 1e-17 instead of 0 at p = 0, or 0.99999... at p = 1
    low = np.where(p <= 0.0, 0.0, low)
    high = np.where(p >= 1.0, 1.0, high)
    low = np.where(defined, low, np.nan)
    high = np.where(defined, high, np.nan)
    return low, high


def wilson_half_width(successes: Any, trials: Any, *, level: float = 0.95) -> np.ndarray:
    """(high - low) / 2 of :func:`wilson_interval` (before clipping, which never binds), NaN at 0 trials."""
    low, high = wilson_interval(successes, trials, level=level)
    return (high - low) / 2.0


def trials_for_half_width(proportion: Any, half_width: float = 0.05, *, level: float = 0.95) -> np.ndarray:
    """The fewest whole trials n with a Wilson half-width <= ``half_width`` when the observed proportion
    is ``proportion`` (a planning value in [0, 1]; NaN plans for the worst case, 0.5).

    A vectorised bisection on the Wilson function itself (the half-width falls as n grows at a fixed
    proportion), so the answer is exactly what :func:`wilson_half_width` would confirm. int64 array.
    """
    if not 0.0 < float(half_width) < 0.5:
        raise ValueError(f"half_width must be in (0, 0.5), e.g. 0.05; got {half_width!r}")
    proportion = np.asarray(proportion, dtype=np.float64)
    proportion = np.where(np.isnan(proportion), 0.5, proportion)
    if np.any((proportion < 0) | (proportion > 1)):
        raise ValueError("proportion must be in [0, 1]")

    def narrow_enough(n: np.ndarray) -> np.ndarray:
        return wilson_half_width(proportion * n, n, level=level) <= half_width

    low = np.zeros(proportion.shape, dtype=np.int64)  # not enough (0 trials: undefined)
    high = np.full(proportion.shape, 1, dtype=np.int64)
    while True:  # grow the upper end until every element is narrow enough (at most ~40 doublings)
        short = ~narrow_enough(high.astype(np.float64))
        if not short.any():
            break
        low = np.where(short, high, low)
        high = np.where(short, high * 2, high)
    while np.any(high - low > 1):
        middle = (low + high) // 2
        ok = narrow_enough(middle.astype(np.float64))
        high = np.where(ok, middle, high)
        low = np.where(ok, low, middle)
    return high


def trials_to_certify(proportion: Any, target: Any, *, level: float = 0.95) -> np.ndarray:
    """How many trials at the observed ``proportion`` make the Wilson LOWER bound reach ``target``.

    Closed form: the lower bound equals ``target`` where z^4 t(1-t) u^2 + z^2 (t(1-t) - d^2) u - d^2 = 0
    with u = 1/n and d = proportion - target (squaring the bound's equation; the other root belongs to
    the upper bound, which is always above the proportion). Returns a float array (fractional trials:
    round up for whole ones); inf where no number of trials certifies it (proportion <= target, or a
    target of 1, which a Wilson lower bound never reaches).
    """
    z = z_value(level)
    p = np.asarray(proportion, dtype=np.float64)
    t = np.broadcast_to(np.asarray(target, dtype=np.float64), p.shape)
    p, t = np.broadcast_arrays(p, t)
    d = p - t
    a = z**4 * t * (1.0 - t)
    b = z**2 * (t * (1.0 - t) - d * d)
    out = np.full(p.shape, np.inf)
    possible = (d > 0) & (t < 1.0) & (t > 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        u = (-b + np.sqrt(b * b + 4.0 * a * d * d)) / (2.0 * a)
        out = np.where(possible, 1.0 / u, out)
    return out


def with_wilson(frame: pd.DataFrame, *, level: float = 0.95) -> pd.DataFrame:
    """A copy of a counts frame with :data:`INTERVAL_COLUMNS` added after ``recall``.

    Works on :func:`~evaluation.stats.metrics.grid_table` (metrics.csv), exact curves, the global curve
    and :func:`~evaluation.stats.thresholds.recommend`'s frame: it needs ``tp``, ``fp``, ``fn``
    (missing counts, as where recommend has no threshold, give NaN bounds). Precision's interval is over
    tp + fp predictions, recall's over tp + fn = support positives; both NaN where undefined (0 trials).
    """
    missing = [name for name in ("tp", "fp", "fn") if name not in frame.columns]
    if missing:
        raise ValueError(f"with_wilson needs the count columns tp, fp, fn; missing {missing}")
    tp, fp, fn = (
        pd.to_numeric(frame[name]).astype("Float64").to_numpy(np.float64, na_value=np.nan)
        for name in ("tp", "fp", "fn")
    )
    precision_low, precision_high = wilson_interval(tp, tp + fp, level=level)
    recall_low, recall_high = wilson_interval(tp, tp + fn, level=level)
    out = frame.copy()
    position = list(out.columns).index("recall") + 1 if "recall" in out.columns else len(out.columns)
    for offset, (name, values) in enumerate(
        zip(INTERVAL_COLUMNS, (precision_low, precision_high, recall_low, recall_high), strict=True)
    ):
        if name in out.columns:
            out[name] = values
        else:
            out.insert(position + offset, name, values)
    return out
