"""The MinConfidence that costs least: false positives, false negatives and human reviews priced per label.

Expected cost per 1,000 images of a label at a threshold, from the counts on the evaluated images:
``1000 / n_images * (cost_fp * fp + cost_fn * fn + cost_review * (tp + fp))``, where ``cost_review`` is
what a person looking at each prediction costs (0 when predictions are used unseen). The cost per call
is the same at every threshold and is paid once per image for the whole application, not per label:
:func:`application_cost_per_1000` adds it. Costs are in any one currency (e.g. USD).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from evaluation.stats.bootstrap import bootstrap_counts_at, percentile_interval
from evaluation.stats.curve_points import curve_points_by_label, next_lower_at
from evaluation.stats.metrics import ScoredPairs

__all__ = [
    "MIN_COST_COLUMNS",
    "application_cost_per_1000",
    "min_cost_interval",
    "min_cost_thresholds",
    "per_label_costs",
]

MIN_COST_COLUMNS = ("label", "threshold", "threshold_low", "tp", "fp", "fn", "cost_per_1000", "status")


def per_label_costs(
    value: float | Mapping[str, float] | Sequence[float] | np.ndarray, labels: Sequence[str], name: str
) -> np.ndarray:
    """A cost as one float per label: a number for every label, a mapping label -> cost (every label
    named; a ``"*"`` key is the default), or a sequence in ``labels`` order. Costs must be >= 0."""
    labels = tuple(labels)
    if isinstance(value, Mapping):
        default = value.get("*")
        missing = [label for label in labels if label not in value and default is None]
        if missing:
            raise ValueError(f"{name} has no cost for label(s) {missing[:5]!r} (and no '*' default)")
        unknown = sorted(set(value) - set(labels) - {"*"})
        if unknown:
            raise ValueError(f"{name} names label(s) not in the vocabulary: {unknown[:5]!r}")
        out = np.array([float(value.get(label, default)) for label in labels])
    else:
        out = np.broadcast_to(np.asarray(value, dtype=np.float64), (len(labels),)).copy()
    if not np.isfinite(out).all() or (out < 0).any():
        raise ValueError(f"{name} must be finite costs >= 0; got {out[:5].tolist()}")
    return out


def min_cost_thresholds(
    curves: pd.DataFrame,
    *,
    labels: Sequence[str],
    support: Sequence[int] | np.ndarray,
    n_images: int,
    cost_fp: Any,
    cost_fn: Any,
    cost_review: Any = 0.0,
    floor: float = 0.0,
) -> pd.DataFrame:
    """Per label of ``labels``, the point of its exact curve (from ``exact_curves``) with the least
    expected cost per 1,000 images, or predicting nothing when that is cheaper: :data:`MIN_COST_COLUMNS`.

    Candidates are every curve point (any MinConfidence in (threshold_low, threshold] gives its counts)
    and "never predict" (tp = fp = 0, fn = support), which sits above every threshold. Ties go to the
    highest threshold (the fewest predictions), as in recommend; "never predict" wins a tie. ``status``:
    ``ok``, or ``predict-nothing`` (threshold NaN: no MinConfidence beats not using the label).
    """
    labels = tuple(labels)
    support = np.asarray(support, dtype=np.int64)
    if support.shape != (len(labels),):
        raise ValueError(f"support must give one count per label, shape ({len(labels)},)")
    if n_images <= 0:
        raise ValueError(f"n_images must be > 0; got {n_images!r}")
    fp_cost = per_label_costs(cost_fp, labels, "cost_fp")
    fn_cost = per_label_costs(cost_fn, labels, "cost_fn")
    review_cost = per_label_costs(cost_review, labels, "cost_review")
    points = curve_points_by_label(curves, labels)
    code, threshold, tp, fp = points["code"], points["threshold"], points["tp"], points["fp"]
    fn = support[code] - tp
    scale = 1000.0 / n_images
    cost = scale * (fp_cost[code] * fp + fn_cost[code] * fn + review_cost[code] * (tp + fp))
    nothing = scale * fn_cost * support

    # per label the cheapest point, ties to the first (highest threshold): one lexsort, no label loop
    by_cost = np.lexsort((np.arange(code.size), cost, code))
    head = np.ones(by_cost.size, dtype=bool)
    head[1:] = code[by_cost][1:] != code[by_cost][:-1]
    best = np.full(len(labels), -1, dtype=np.int64)
    best[code[by_cost][head]] = by_cost[head]
    # only these points' next lower thresholds are read (as recommend does), not the whole curve's
    low = (
        next_lower_at(code, threshold, floor, np.maximum(best, 0))[0]
        if code.size
        else np.full(len(best), np.nan)
    )

    # a sentinel last entry (index -1) stands for "no point" so that no label needs a branch
    threshold, cost = (np.append(values, np.nan) for values in (threshold, cost))
    tp, fp = np.append(tp, 0), np.append(fp, 0)
    point_cost = np.where(best >= 0, cost[best], np.inf)
    use_point = point_cost < nothing
    chosen = np.where(use_point, best, -1)
    return pd.DataFrame(
        {
            "label": pd.Series(labels, dtype=object),
            "threshold": threshold[chosen],
            "threshold_low": np.where(chosen >= 0, low, np.nan),
            "tp": tp[chosen],
            "fp": fp[chosen],
            "fn": support - tp[chosen],
            "cost_per_1000": np.where(use_point, point_cost, nothing),
            "status": pd.Series(np.where(use_point, "ok", "predict-nothing"), dtype=object),
        },
        columns=list(MIN_COST_COLUMNS),
    )


def application_cost_per_1000(table: pd.DataFrame, *, cost_call: float = 0.0) -> float:
    """The whole application's expected cost per 1,000 images: every label's cost plus 1,000 calls."""
    if cost_call < 0:
        raise ValueError(f"cost_call must be >= 0; got {cost_call!r}")
    return float(table["cost_per_1000"].sum()) + 1000.0 * float(cost_call)


def min_cost_interval(
    pairs: ScoredPairs,
    table: pd.DataFrame,
    *,
    positive_image_idx: Any,
    positive_label_idx: Any,
    cost_fp: Any,
    cost_fn: Any,
    cost_review: Any = 0.0,
    cost_call: float = 0.0,
    n_resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    image_keys: Any = None,
) -> tuple[pd.DataFrame, dict[str, float]]:
    """Bootstrap intervals of the cost per 1,000 images at the thresholds of ``table`` (from
    :func:`min_cost_thresholds`, in ``pairs.labels`` order), the thresholds kept fixed: what deploying
    them would cost on another sample of the same size. Returns (per label: label, cost_low, cost_high;
    the application: {"cost_low", "cost_high"} including the calls). Same resamples as the other
    bootstrap functions with the same seed and image keys."""
    labels = pairs.labels
    if tuple(table["label"].astype(object)) != labels:
        raise ValueError("table must have one row per label of pairs.labels, in that order")
    tp, fp, fn = bootstrap_counts_at(
        pairs,
        positive_image_idx=positive_image_idx,
        positive_label_idx=positive_label_idx,
        thresholds=table["threshold"].to_numpy(np.float64),
        n_resamples=n_resamples,
        seed=seed,
        image_keys=image_keys,
    )
    scale = 1000.0 / pairs.n_images
    cost = scale * (
        per_label_costs(cost_fp, labels, "cost_fp") * fp
        + per_label_costs(cost_fn, labels, "cost_fn") * fn
        + per_label_costs(cost_review, labels, "cost_review") * (tp + fp)
    )
    low, high = percentile_interval(cost, level=level)
    total_low, total_high = percentile_interval(cost.sum(axis=1) + 1000.0 * cost_call, level=level)
    per_label = pd.DataFrame({"label": pd.Series(labels, dtype=object), "cost_low": low, "cost_high": high})
    return per_label, {"cost_low": float(total_low), "cost_high": float(total_high)}
