"""How sure each recommendation is, and what it costs: the part of the analysis that puts intervals, data
advice, costs, a human-review band and calibration beside the recommendations.

Rules (README "How sure is a recommendation"): precision and recall get Wilson score intervals from the
exact counts; F1 and the MinConfidence itself a seeded bootstrap over images (one resample serves every
label and the application-wide curve); the data advice plans, per label, the images needed for both
Wilson half-widths to be at most `half_width`. Everything here is computed from the curves and pairs the
analysis already has: no calls, no files.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from evaluation.analysis.missing import is_missing
from evaluation.calls.prices import PriceTable
from evaluation.errors import UserError
from evaluation.operations.base import Scored, unit_positives
from evaluation.options import PRICE_TABLE, AnalysisOptions, Costs
from evaluation.stats.bootstrap import (
    BootstrapMethod,
    bootstrap_counts_at,
    bootstrap_recommendations,
    percentile_interval,
)
from evaluation.stats.calibration import reliability_table
from evaluation.stats.costs import application_cost_per_1000, min_cost_interval, min_cost_thresholds
from evaluation.stats.intervals import wilson_interval, with_wilson
from evaluation.stats.metrics import ScoredPairs, global_curve
from evaluation.stats.review_band import a2i_activation_conditions, a2i_problems, review_band
from evaluation.stats.sample_size import apply_advice, data_advice
from evaluation.stats.thresholds import min_confidence_to_use

__all__ = ["LABEL_ORDER", "Uncertainty", "min_cost_recommendations", "with_uncertainty"]

# labels.csv: every interval beside its number
LABEL_ORDER = (
    "threshold",
    "threshold_low",
    "min_confidence_low",
    "min_confidence_high",
    "precision",
    "precision_low",
    "precision_high",
    "recall",
    "recall_low",
    "recall_high",
    "f1",
    "f1_low",
    "f1_high",
    "tp",
    "fp",
    "fn",
    "support",
    "positives_needed",
    "negatives_needed",
    "status",
    "flags",
    "note",
)
A2I_FILE = "a2i_activation_conditions.json"
BAND_FILE = "review_band.yaml"


@dataclass
class Uncertainty:
    """What `with_uncertainty` adds to one analysis."""

    labels: pd.DataFrame
    global_threshold: dict[str, Any]
    metrics: pd.DataFrame
    intervals: dict[str, Any]  # level, resamples, seed, half width, methods (summary.json, thresholds.yaml)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)  # calibration, review_band
    documents: dict[str, Any] = field(default_factory=dict)  # file name -> JSON/YAML document
    summary: dict[str, Any] = field(default_factory=dict)  # more of summary.json (costs, review band)


def positives_of(scored: Scored) -> tuple[np.ndarray, np.ndarray] | None:
    """Every ground-truth positive (unit, label) of the scored pairs, or None when unknown."""
    if scored.positives is not None:
        return scored.positives
    if scored.negatives is not None:  # detections: every entry is a unit of its own
        return unit_positives(scored.pairs)
    return None


def _image_keys(keys: Sequence[str] | None, n_images: int) -> np.ndarray | None:
    """Resample over images by their names (so reordering a dataset changes nothing), when unique."""
    if keys is None or len(keys) != n_images:
        return None
    array = np.asarray([str(key) for key in keys], dtype=object)
    return array if len(set(array)) == len(array) else None


def price_per_call(costs: Costs, run: Mapping[str, Any]) -> float:
    """The cost per call: a number, or `price-table`: the list price of the run's API in its region
    (the first volume tier of the packaged prices.yaml, the price of the first 1,000 images a month)."""
    if costs.call != PRICE_TABLE:
        return float(costs.call)
    backend = run.get("backend", {})
    api, region = str(backend.get("operation") or "DetectLabels"), backend.get("region")
    estimate = PriceTable.load().estimate(api, region, 1000)
    if estimate.usd is None:
        raise UserError(
            f"--cost-per-call price-table: no list price for {api} in {region or 'the default region'} "
            f"({'; '.join(estimate.notes)}); give the cost per call as a number"
        )
    return estimate.usd / 1000.0


def min_cost_recommendations(
    curves: pd.DataFrame, pairs: ScoredPairs, costs: Costs, *, floor: float, min_support: int, call: float
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """recommend()'s frame and recommend_global()'s dict under the min-cost objective.

    Per label the least expected cost per 1,000 images (predicting nothing when that is cheaper:
    status predict-nothing). Application-wide: the same rule on the micro curve of all labels with the
    default costs (a number, or the "*" entry of per-label costs; without one there is no single value).
    """
    labels = pairs.labels
    try:
        table = min_cost_thresholds(
            curves,
            labels=labels,
            support=pairs.support,
            n_images=max(pairs.n_images, 1),
            cost_fp=costs.fp,
            cost_fn=costs.fn,
            cost_review=costs.review,
            floor=floor,
        )
    except ValueError as error:
        raise UserError(f"costs: {error}") from None
    frame = _as_recommendation(table, curves, min_support=min_support)
    frame["cost_per_1000"] = table["cost_per_1000"].to_numpy()
    defaults = [_default_cost(value) for value in (costs.fp, costs.fn, costs.review)]
    curve = global_curve(pairs)
    if any(value is None for value in defaults) or (curve.empty and not int(pairs.support.sum())):
        best: dict[str, Any] = {
            **dict.fromkeys(("threshold", "threshold_low", "precision", "recall", "f1", "tp", "fp", "fn")),
            "support": int(pairs.support.sum()),
            "status": "unreachable",
            "note": "per-label costs without a '*' default: no application-wide cost to minimise",
        }
        return frame, best
    total = min_cost_thresholds(
        curve.assign(label="all"),
        labels=("all",),
        support=[int(pairs.support.sum())],
        n_images=max(pairs.n_images, 1),
        cost_fp=defaults[0],
        cost_fn=defaults[1],
        cost_review=defaults[2],
        floor=floor,
    )
    row = _as_recommendation(total, curve.assign(label="all"), min_support=0).iloc[0].to_dict()
    best = {
        key: (None if is_missing(value) else value)
        for key, value in row.items()
        if key not in ("label", "flags")
    }
    for name in ("tp", "fp", "fn", "support"):
        best[name] = None if best.get(name) is None else int(best[name])
    best["cost_per_1000"] = float(total["cost_per_1000"].iloc[0])
    best["application_cost_per_1000"] = application_cost_per_1000(table, cost_call=call)
    return frame, best


def _default_cost(value: float | Mapping[str, float]) -> float | None:
    if isinstance(value, Mapping):
        default = value.get("*")
        return None if default is None else float(default)
    return float(value)


def _as_recommendation(table: pd.DataFrame, curves: pd.DataFrame, *, min_support: int) -> pd.DataFrame:
    """A min-cost table in recommend()'s shape: rates from the exact curve at the chosen points only."""
    chosen = np.isin(curves["threshold"].to_numpy(np.float64), table["threshold"].dropna().to_numpy())
    rates = curves[chosen][["label", "threshold", "precision", "recall", "f1"]]  # not every point's
    merged = table.merge(rates, on=["label", "threshold"], how="left")
    support = (table["tp"] + table["fn"]).to_numpy(np.int64)
    nothing = table["threshold"].isna().to_numpy()
    recall = np.where(nothing & (support > 0), 0.0, merged["recall"].to_numpy(np.float64))
    f1 = np.where(nothing & (support > 0), 0.0, merged["f1"].to_numpy(np.float64))
    status, flags, notes = [], [], []
    for row, positives in zip(table.to_dict("records"), support, strict=True):
        label_flags = ["no-positives"] if positives == 0 else []
        label_notes = []
        if row["status"] == "predict-nothing":
            label_flags.append("predict-nothing")
            label_notes.append(
                f"no MinConfidence costs less than not using this label (cost per 1,000 images "
                f"{row['cost_per_1000']:.4g} when nothing is predicted)"
            )
        if 0 < positives < min_support:
            label_flags.append("low-support")
            label_notes.append(
                f"only {positives} positive image(s), fewer than the minimum support of "
                f"{min_support} (--min-support): too few to trust these numbers"
            )
        label_flags = label_flags or ["ok"]
        status.append(label_flags[0])
        flags.append(",".join(label_flags))
        notes.append("; ".join(label_notes))
    return pd.DataFrame(
        {
            "label": table["label"].astype(object),
            "threshold": table["threshold"].to_numpy(np.float64),
            "threshold_low": table["threshold_low"].to_numpy(np.float64),
            "precision": merged["precision"].to_numpy(np.float64),
            "recall": recall,
            "f1": f1,
            "tp": pd.array(table["tp"].to_numpy(np.int64), dtype="Int64"),
            "fp": pd.array(table["fp"].to_numpy(np.int64), dtype="Int64"),
            "fn": pd.array(table["fn"].to_numpy(np.int64), dtype="Int64"),
            "support": support,
            "status": pd.Series(status, dtype=object),
            "flags": pd.Series(flags, dtype=object),
            "note": pd.Series(notes, dtype=object),
        }
    )


def with_uncertainty(
    *,
    per_label: pd.DataFrame,
    global_threshold: dict[str, Any],
    metrics: pd.DataFrame,
    curves: pd.DataFrame,
    scored: Scored,
    options: AnalysisOptions,
    floor: float,
    image_names: Sequence[str] | None,
    operation: str,
    run: Mapping[str, Any],
) -> Uncertainty:
    """Intervals, data advice, costs, review band and calibration for one analysis (see the module)."""
    pairs, level = scored.pairs, options.level
    objective = options.objective
    labels = with_wilson(per_label, level=level)
    positives = positives_of(scored)
    keys = _image_keys(image_names, pairs.n_images) if positives is scored.positives else None
    bootstrapped = options.resamples > 0 and positives is not None and pairs.n_images > 0
    method: BootstrapMethod | None = None
    best = dict(global_threshold)
    best.update(_wilson_entry(best, level))
    for name in ("f1_low", "f1_high", "min_confidence_low", "min_confidence_high"):
        labels[name] = np.nan
        best[name] = None
    if bootstrapped:
        assert positives is not None
        if objective.kind == "min-cost":
            _fixed_threshold_f1(labels, best, pairs, positives, options, keys)
        else:
            result = bootstrap_recommendations(
                pairs,
                positive_image_idx=positives[0],
                positive_label_idx=positives[1],
                objective=objective,
                n_resamples=options.resamples,
                seed=options.seed,
                level=level,
                image_keys=keys,
                exact=True if options.exact_bootstrap else None,
            )
            method = result.method
            table = result.per_label()
            for name in ("f1_low", "f1_high", "min_confidence_low", "min_confidence_high"):
                labels[name] = table[name].to_numpy()
            overall = result.global_interval()
            for name in ("f1_low", "f1_high", "min_confidence_low", "min_confidence_high"):
                best[name] = overall[name]
    advice = data_advice(labels, n_images=pairs.n_images, half_width=options.half_width, level=level)
    labels = apply_advice(labels, advice, half_width=options.half_width, level=level)
    summary: dict[str, Any] = {}
    tables: dict[str, pd.DataFrame] = {}
    documents: dict[str, Any] = {}
    call = 0.0
    if options.costs is not None:
        call = price_per_call(options.costs, run)
        cost_table = _cost_table(labels, curves, pairs, options, floor)
        labels["cost_per_1000"] = cost_table["cost_per_1000"].to_numpy()
        summary["costs"] = {
            **options.costs.to_dict(),
            "call_resolved": call,
            "application_cost_per_1000": application_cost_per_1000(cost_table, cost_call=call),
        }
        if bootstrapped:
            assert positives is not None
            per_label_cost, total = min_cost_interval(
                pairs,
                cost_table,
                positive_image_idx=positives[0],
                positive_label_idx=positives[1],
                cost_fp=options.costs.fp,
                cost_fn=options.costs.fn,
                cost_review=options.costs.review,
                cost_call=call,
                n_resamples=options.resamples,
                seed=options.seed,
                level=level,
                image_keys=keys,
            )
            labels["cost_low"] = per_label_cost["cost_low"].to_numpy()
            labels["cost_high"] = per_label_cost["cost_high"].to_numpy()
            summary["costs"]["application_cost_low"] = total["cost_low"]
            summary["costs"]["application_cost_high"] = total["cost_high"]
    if options.review_band is not None:
        band = _band(curves, pairs, options, floor)
        tables["review_band"] = band
        name, document = _band_document(band, operation, options)
        documents[name] = document
        summary["review_band"] = {
            **options.review_band.to_dict(),
            "file": name,
            "labels_infeasible": [str(label) for label in band.loc[band["status"] == "infeasible", "label"]],
            "review_rate": float(band["reviewed"].sum() / max(pairs.n_images, 1)),
            "errors_left_rate": float(band["errors_left"].sum() / max(pairs.n_images, 1)),
        }
    if pairs.floor < 100.0:
        tables["calibration"] = reliability_table(pairs, bins=10, level=level)
    before = list(per_label.columns)[: list(per_label.columns).index("threshold")]  # label, ap, extras
    order = [*before, *[name for name in LABEL_ORDER if name in labels.columns]]
    labels = labels[[*order, *[name for name in labels.columns if name not in order]]]
    intervals = {
        "level": level,
        "precision_recall": "Wilson score interval over the exact counts",
        "f1_min_confidence": (
            (method or BootstrapMethod("exact", pairs.n_images, options.resamples, options.seed)).describe(
                "images" if scored.positives is not None else "entries"
            )
            if bootstrapped
            else "not computed (no resamples, or the positives are unknown)"
        ),
        **({"bootstrap": method.to_dict()} if bootstrapped and method is not None else {}),
        "resamples": options.resamples if bootstrapped else 0,
        "seed": options.seed,
        "half_width": options.half_width,
        "min_confidence_rule": (
            "the middle of the equally-good range (threshold_low, threshold] on the confidence scale, "
            "rounded to the fewest decimals that stay inside it"
        ),
    }
    metrics = with_wilson(metrics, level=level)
    return Uncertainty(labels, best, metrics, intervals, tables, documents, summary)


def _wilson_entry(best: Mapping[str, Any], level: float) -> dict[str, Any]:
    tp, fp, fn = (best.get(name) for name in ("tp", "fp", "fn"))
    if tp is None or fp is None or fn is None:
        return dict.fromkeys(("precision_low", "precision_high", "recall_low", "recall_high"))
    p_low, p_high = wilson_interval(tp, tp + fp, level=level)
    r_low, r_high = wilson_interval(tp, tp + fn, level=level)
    return {
        name: (None if math.isnan(float(value)) else float(value))
        for name, value in zip(
            ("precision_low", "precision_high", "recall_low", "recall_high"),
            (p_low, p_high, r_low, r_high),
            strict=True,
        )
    }


def _fixed_threshold_f1(
    labels: pd.DataFrame,
    best: dict[str, Any],
    pairs: ScoredPairs,
    positives: tuple[np.ndarray, np.ndarray],
    options: AnalysisOptions,
    keys: Any,
) -> None:
    """Under min-cost: the F1 interval of the chosen MinConfidences on resamples (the thresholds kept
    fixed; the min-cost choice itself is not re-made per resample, so no MinConfidence interval)."""
    thresholds = labels["threshold"].to_numpy(np.float64)
    tp, fp, fn = bootstrap_counts_at(
        pairs,
        positive_image_idx=positives[0],
        positive_label_idx=positives[1],
        thresholds=np.where(np.isnan(thresholds), np.inf, thresholds),
        n_resamples=options.resamples,
        seed=options.seed,
        image_keys=keys,
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), np.nan)
    low, high = percentile_interval(f1, level=options.level)
    labels["f1_low"], labels["f1_high"] = low, high


def _cost_table(
    labels: pd.DataFrame, curves: pd.DataFrame, pairs: ScoredPairs, options: AnalysisOptions, floor: float
) -> pd.DataFrame:
    """Cost per 1,000 images of each label at its recommendation (whatever the objective)."""
    assert options.costs is not None
    if options.objective.kind == "min-cost" and "cost_per_1000" in labels.columns:
        table = labels[["label", "threshold", "cost_per_1000"]].copy()
        return table
    from evaluation.stats.costs import per_label_costs

    try:
        fp_cost = per_label_costs(options.costs.fp, pairs.labels, "cost_fp")
        fn_cost = per_label_costs(options.costs.fn, pairs.labels, "cost_fn")
        review_cost = per_label_costs(options.costs.review, pairs.labels, "cost_review")
    except ValueError as error:
        raise UserError(f"costs: {error}") from None
    tp = labels["tp"].to_numpy(np.float64, na_value=np.nan)
    fp = labels["fp"].to_numpy(np.float64, na_value=np.nan)
    support = labels["support"].to_numpy(np.float64)
    none = np.isnan(tp)  # no threshold: nothing is predicted
    tp, fp = np.where(none, 0.0, tp), np.where(none, 0.0, fp)
    scale = 1000.0 / max(pairs.n_images, 1)
    cost = scale * (fp_cost * fp + fn_cost * (support - tp) + review_cost * (tp + fp))
    return pd.DataFrame({"label": labels["label"], "threshold": labels["threshold"], "cost_per_1000": cost})


def _band(curves: pd.DataFrame, pairs: ScoredPairs, options: AnalysisOptions, floor: float) -> pd.DataFrame:
    """review_band() with the values to send (robust inside each bound's range) and, with costs, its cost."""
    assert options.review_band is not None
    band = review_band(
        curves,
        labels=pairs.labels,
        support=pairs.support,
        n_images=max(pairs.n_images, 1),
        max_error_rate=options.review_band.max_errors,
        max_review_rate=options.review_band.max_review_rate,
        floor=floor,
    )
    for bound in ("upper", "lower"):
        band[f"{bound}_min_confidence"] = [
            value if math.isinf(value) else min_confidence_to_use(value, low)
            for value, low in zip(band[bound], band[f"{bound}_low"], strict=True)
        ]
    if options.costs is not None:
        from evaluation.stats.costs import per_label_costs

        fp_cost = per_label_costs(options.costs.fp, pairs.labels, "cost_fp")
        fn_cost = per_label_costs(options.costs.fn, pairs.labels, "cost_fn")
        review_cost = per_label_costs(options.costs.review, pairs.labels, "cost_review")
        accepted_fp, rejected_fn = _band_errors(band, curves)
        scale = 1000.0 / max(pairs.n_images, 1)
        band["cost_per_1000"] = scale * (
            fp_cost * accepted_fp + fn_cost * rejected_fn + review_cost * band["reviewed"].to_numpy()
        )
    return band


def _band_errors(band: pd.DataFrame, curves: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Per band: false positives accepted (at or above upper) and positives rejected (below lower)."""
    fp_accepted, fn_rejected = [], []
    for row in band.to_dict("records"):
        mine = curves[curves["label"] == row["label"]]
        upper = mine[mine["threshold"] >= row["upper"]]
        lower = mine[mine["threshold"] >= row["lower"]]
        fp_accepted.append(float(upper["fp"].max()) if len(upper) else 0.0)
        found = float(lower["tp"].max()) if len(lower) else 0.0
        fn_rejected.append(float(row["support"]) - found)
    return np.asarray(fp_accepted), np.asarray(fn_rejected)


def _band_document(band: pd.DataFrame, operation: str, options: AnalysisOptions) -> tuple[str, Any]:
    """Amazon A2I activation conditions for moderation (checked against the documented shape), or
    YAML for the others: per label accept at or above `accept_at`, review from `review_from` below it."""
    sendable = band.assign(upper=band["upper_min_confidence"], lower=band["lower_min_confidence"])
    if operation == "moderation":
        document = a2i_activation_conditions(sendable)
        problems = a2i_problems(document)
        if problems:  # a bug of ours, not the user's: the conditions are built here
            raise ValueError(f"A2I activation conditions do not match the documented shape: {problems}")
        return A2I_FILE, document
    assert options.review_band is not None
    labels = {}
    for row in band.to_dict("records"):
        labels[str(row["label"])] = {
            "accept_at": None
            if math.isinf(row["upper_min_confidence"])
            else float(row["upper_min_confidence"]),
            "review_from": None
            if math.isinf(row["lower_min_confidence"])
            else float(row["lower_min_confidence"]),
            "reviewed": int(row["reviewed"]),
            "errors_left": int(row["errors_left"]),
            "review_rate": round(float(row["review_rate"]), 6),
            "error_rate": round(float(row["error_rate"]), 6),
            "status": str(row["status"]),
        }
    return BAND_FILE, {
        "rule": (
            "confidence >= accept_at: accept; review_from <= confidence < accept_at: a person decides; "
            "below review_from (or never returned): reject; null: no such region"
        ),
        "max_errors": options.review_band.max_errors,
        "max_review_rate": options.review_band.max_review_rate,
        "labels": labels,
    }
