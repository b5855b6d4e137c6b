"""A human-review band per label: accept at or above ``upper``, reject below ``lower``, send the rest
(lower <= confidence < upper) to a person, whose answer is taken as right.

For a label with distinct confidences c_1 > ... > c_K (exact curve, cumulative TP[j], FP[j] over the
top j points, TP[0] = FP[0] = 0), a band is a pair a <= b: accept the top a points (upper = c_a), review
points a+1..b (lower = c_b), reject the rest and every positive never returned. Then, per label:
errors left = FP[a] (accepted wrongly) + support - TP[b] (rejected positives); reviewed = (TP[b] +
FP[b]) - (TP[a] + FP[a]). Rates are per image evaluated (one image can be reviewed for several labels).

The rule: among bands with error rate <= ``max_error_rate`` and review rate <= ``max_review_rate``, the
fewest reviews, then the fewest errors, then the highest upper, then the highest lower. When none meets
both, status ``infeasible`` and the band with the fewest errors within the review budget (ties: fewest
reviews, highest upper, highest lower). a = 0 (accept nothing) gives upper = inf; b = 0 (review nothing,
reject everything) gives lower = inf.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from evaluation.stats.curve_points import curve_points_by_label

__all__ = [
    "A2I_CONDITION_TYPE",
    "BAND_COLUMNS",
    "a2i_activation_conditions",
    "a2i_problems",
    "review_band",
]

BAND_COLUMNS = (
    "label",
    "upper",
    "upper_low",
    "lower",
    "lower_low",
    "accepted",
    "reviewed",
    "errors_left",
    "review_rate",
    "error_rate",
    "support",
    "status",
)
A2I_CONDITION_TYPE = "ModerationLabelConfidenceCheck"


def _one_label(
    tp: np.ndarray, fp: np.ndarray, support: int, max_errors: float, max_reviews: float
) -> tuple[int, int, bool]:
    """(a, b, feasible) over cumulative counts with the leading 0 (length K + 1)."""
    predicted = tp + fp
    size = tp.size
    a = np.arange(size)
    # fewest reviews for each a: the smallest b >= a with errors FP[a] + support - TP[b] <= max_errors
    need = fp + support - max_errors  # TP[b] must reach this
    b = np.maximum(np.searchsorted(tp, need - 1e-9, side="left"), a)
    ok = b < size
    b = np.minimum(b, size - 1)
    reviews = predicted[b] - predicted[a]
    errors = fp[a] + support - tp[b]
    ok &= reviews <= max_reviews + 1e-9
    if ok.any():
        order = np.lexsort((b, a, errors, reviews))
        first = order[ok[order]][0]
        return int(a[first]), int(b[first]), True
    # infeasible: fewest errors within the review budget, b as large as the budget allows
    widest = np.searchsorted(predicted, predicted + max_reviews + 1e-9, side="right") - 1
    b = np.maximum(np.searchsorted(tp, tp[widest], side="left"), a)  # as few reviews for those errors
    errors = fp[a] + support - tp[b]
    reviews = predicted[b] - predicted[a]
    first = np.lexsort((b, a, reviews, errors))[0]
    return int(a[first]), int(b[first]), False


def review_band(
    curves: pd.DataFrame,
    *,
    labels: Sequence[str],
    support: Sequence[int] | np.ndarray,
    n_images: int,
    max_error_rate: float,
    max_review_rate: float = 1.0,
    floor: float = 0.0,
) -> pd.DataFrame:
    """One band per label from exact curves: :data:`BAND_COLUMNS` (see the module for the rule).

    ``upper``/``lower`` are confidences on the curve (0-100; inf as described); ``upper_low``/
    ``lower_low`` the next lower confidence or the floor, so any value in (x_low, x] gives the same
    decisions (e.g. for :func:`evaluation.stats.robust.robust_min_confidence`). ``accepted``,
    ``reviewed``, ``errors_left`` are counts; the rates divide them by ``n_images``. ``status``:
    ``ok``, ``no-review`` (ok and upper == lower) or ``infeasible``.
    """
    labels = tuple(labels)
    support = np.asarray(support, dtype=np.int64)
    if support.shape != (len(labels),):
        raise ValueError(f"support must give one count per label, shape ({len(labels)},)")
    for name, rate in (("max_error_rate", max_error_rate), ("max_review_rate", max_review_rate)):
        if not 0.0 <= float(rate) <= 1.0:
            raise ValueError(f"{name} must be a rate per image in [0, 1]; got {rate!r}")
    if n_images <= 0:
        raise ValueError(f"n_images must be > 0; got {n_images!r}")
    points = curve_points_by_label(curves, labels)
    code, threshold_all, tp_all, fp_all = points["code"], points["threshold"], points["tp"], points["fp"]
    starts = np.searchsorted(code, np.arange(len(labels) + 1))
    rows = []
    for index, label in enumerate(labels):  # per label: each is one vectorised search over its points
        mine = slice(starts[index], starts[index + 1])
        threshold = threshold_all[mine]
        tp = np.concatenate(([0], tp_all[mine])).astype(np.float64)
        fp = np.concatenate(([0], fp_all[mine])).astype(np.float64)
        positives = int(support[index])
        a, b, feasible = _one_label(tp, fp, positives, max_error_rate * n_images, max_review_rate * n_images)
        confidence = np.concatenate(([math.inf], threshold))  # position j -> c_j, c_0 = inf
        next_lower = np.concatenate((threshold, [float(floor)]))  # position j -> c_{j+1} or the floor
        errors = fp[a] + positives - tp[b]
        reviewed = (tp[b] + fp[b]) - (tp[a] + fp[a])
        status = "infeasible" if not feasible else ("no-review" if a == b else "ok")
        rows.append(
            {
                "label": label,
                "upper": confidence[a],
                "upper_low": next_lower[a] if a > 0 else math.nan,
                "lower": confidence[b],
                "lower_low": next_lower[b] if b > 0 else math.nan,
                "accepted": int(tp[a] + fp[a]),
                "reviewed": int(reviewed),
                "errors_left": int(errors),
                "review_rate": reviewed / n_images,
                "error_rate": errors / n_images,
                "support": positives,
                "status": status,
            }
        )
    return pd.DataFrame(rows, columns=list(BAND_COLUMNS))


# ------------------------------------------------------------------------------------------ A2I


def _check(name: str, value: float, greater_equal_key: str) -> dict[str, Any]:
    return {
        "ConditionType": A2I_CONDITION_TYPE,
        "ConditionParameters": {"ModerationLabelName": name, greater_equal_key: value},
    }


def a2i_activation_conditions(
    band: pd.DataFrame, *, greater_equal_key: str = "ConfidenceGreaterThanEquals"
) -> dict[str, Any]:
    """The bands of moderation labels as Amazon Augmented AI ``HumanLoopActivationConditions`` for
    Rekognition DetectModerationLabels (pass ``json.dumps`` of it to CreateFlowDefinition): a human loop
    starts when some label's confidence is in [lower, upper).

    Each label with a band becomes ``And`` of two ``ModerationLabelConfidenceCheck`` conditions
    (``greater_equal_key`` lower, ``ConfidenceLessThan`` upper), or one condition when upper is inf;
    several labels are combined with ``Or`` (the documented shape allows two levels of nesting; ``Or``
    and ``And`` need at least two members). Labels with no band (upper == lower, or lower inf) are left
    out; no label gives ``{"Conditions": []}``. The supported-parameter list of the A2I docs names
    ``ConfidenceGreaterThanEquals``; its example 1 spells ``ConfidenceGreaterThanOrEqual``: pass that
    as ``greater_equal_key`` if the service asks for it. A2I sees only the labels the call returns, so
    the request's MinConfidence must be at most the lowest ``lower``. Label names are case-sensitive.
    """
    members: list[dict[str, Any]] = []
    for row in band.to_dict("records"):
        upper, lower = float(row["upper"]), float(row["lower"])
        if not math.isfinite(lower) or not lower < upper:
            continue
        name = str(row["label"])
        check_lower = _check(name, lower, greater_equal_key)
        if math.isinf(upper):
            members.append(check_lower)
            continue
        check_upper = {
            "ConditionType": A2I_CONDITION_TYPE,
            "ConditionParameters": {"ModerationLabelName": name, "ConfidenceLessThan": upper},
        }
        members.append({"And": [check_lower, check_upper]})
    if len(members) <= 1:
        return {"Conditions": members}
    return {"Conditions": [{"Or": members}]}


_PARAMETERS = {
    "ModerationLabelName",
    "ConfidenceEquals",
    "ConfidenceLessThan",
    "ConfidenceLessThanEquals",
    "ConfidenceGreaterThan",
    "ConfidenceGreaterThanEquals",
    "ConfidenceLessThanOrEqual",
    "ConfidenceGreaterThanOrEqual",
}


def a2i_problems(document: Any) -> list[str]:
    """What in ``document`` departs from the documented HumanLoopActivationConditions shape for
    Rekognition (the JSON schema of the A2I developer guide, plus the Rekognition condition types and
    parameters, and the two-level nesting limit); [] when it conforms. It must also survive json."""
    problems: list[str] = []
    try:
        json.loads(json.dumps(document, allow_nan=False))
    except (TypeError, ValueError) as error:
        problems.append(f"not plain JSON: {error}")

    def condition(node: Any, where: str, depth: int) -> None:
        if not isinstance(node, dict):
            problems.append(f"{where}: a condition must be an object")
            return
        operators = [key for key in ("Or", "And") if key in node]
        if operators:
            if len(node) != 1:
                problems.append(f"{where}: an Or/And object holds only its array; got keys {sorted(node)}")
            items = node[operators[0]]
            if depth >= 2:
                problems.append(f"{where}: more than two levels of Or/And nesting")
            if not isinstance(items, list) or len(items) < 2:
                problems.append(f"{where}.{operators[0]}: an array of at least 2 conditions")
                return
            for index, item in enumerate(items):
                condition(item, f"{where}.{operators[0]}[{index}]", depth + 1)
            return
        if set(node) - {"ConditionType", "ConditionParameters"} or "ConditionType" not in node:
            problems.append(
                f"{where}: needs ConditionType (and ConditionParameters) only; got {sorted(node)}"
            )
            return
        kind, parameters = node["ConditionType"], node.get("ConditionParameters", {})
        if kind not in (A2I_CONDITION_TYPE, "Sampling"):
            problems.append(f"{where}: ConditionType {kind!r} is not one DetectModerationLabels supports")
        if not isinstance(parameters, dict):
            problems.append(f"{where}: ConditionParameters must be an object")
            return
        if kind == A2I_CONDITION_TYPE:
            if (
                not isinstance(parameters.get("ModerationLabelName"), str)
                or not parameters["ModerationLabelName"]
            ):
                problems.append(f"{where}: ModerationLabelName must be a label name (or '*')")
            for key, value in parameters.items():
                if key not in _PARAMETERS:
                    problems.append(f"{where}: unknown parameter {key!r}")
                elif key != "ModerationLabelName" and (
                    isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 100
                ):
                    problems.append(f"{where}: {key} must be a confidence in [0, 100]; got {value!r}")
            if len(parameters) < 2:
                problems.append(f"{where}: a confidence check needs a Confidence* parameter")
        elif kind == "Sampling":
            value = parameters.get("RandomSamplingPercentage")
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.01 <= value <= 100:
                problems.append(f"{where}: RandomSamplingPercentage must be in [0.01, 100]")

    if not isinstance(document, dict) or set(document) != {"Conditions"}:
        return [*problems, "the top level must be an object with exactly one key, Conditions"]
    if not isinstance(document["Conditions"], list):
        return [*problems, "Conditions must be an array"]
    for index, node in enumerate(document["Conditions"]):
        condition(node, f"Conditions[{index}]", 0)
    return problems
