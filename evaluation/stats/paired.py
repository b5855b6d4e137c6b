"""McNemar's exact test: did two runs' decisions on the same images really change how often they are right?

Only the discordant images count: b = right in run A and wrong in run B, c = wrong in A and right in B.
Under "no difference" each discordant image is a fair coin, so b ~ Binomial(b + c, 1/2); the two-sided
p-value is min(1, 2 P(X <= min(b, c))), the exact (conditional) test. Pure Python and numpy: no scipy.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["mcnemar_exact", "paired_comparison"]


def _binomial_half_cdf(k: int, n: int) -> float:
    """P(X <= k) for X ~ Binomial(n, 1/2), summed in log space (exact enough for any n)."""
    if k < 0:
        return 0.0
    if k >= n:
        return 1.0
    ks = np.arange(k + 1)
    log_pmf = (
        math.lgamma(n + 1)
        - np.array([math.lgamma(i + 1) + math.lgamma(n - i + 1) for i in ks])
        - n * math.log(2.0)
    )
    peak = log_pmf.max()
    return float(math.exp(peak) * np.exp(log_pmf - peak).sum())


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value from the discordant counts (1.0 when there are none)."""
    b, c = int(b), int(c)
    if b < 0 or c < 0:
        raise ValueError(f"discordant counts must be >= 0; got b={b}, c={c}")
    n = b + c
    if n == 0:
        return 1.0
    return min(1.0, 2.0 * _binomial_half_cdf(min(b, c), n))


def paired_comparison(correct_a: Any, correct_b: Any) -> dict[str, Any]:
    """Compare two runs' per-image correctness (bool arrays, the same images in the same order, e.g.
    each run's decision at its threshold == the ground truth): the 2x2 counts, McNemar's exact p-value
    and the effect, B's accuracy minus A's (= (c - b) / images)."""
    a = np.asarray(correct_a, dtype=bool)
    b_arr = np.asarray(correct_b, dtype=bool)
    if a.shape != b_arr.shape or a.ndim != 1:
        raise ValueError(
            f"correct_a and correct_b must be 1-D and the same length; got {a.shape}, {b_arr.shape}"
        )
    both = int((a & b_arr).sum())
    only_a = int((a & ~b_arr).sum())
    only_b = int((~a & b_arr).sum())
    neither = int((~a & ~b_arr).sum())
    images = int(a.size)
    return {
        "images": images,
        "both_right": both,
        "only_a_right": only_a,
        "only_b_right": only_b,
        "both_wrong": neither,
        "p_value": mcnemar_exact(only_a, only_b),
        "effect": (only_b - only_a) / images if images else float("nan"),
    }
