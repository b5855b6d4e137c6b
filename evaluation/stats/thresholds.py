"""From curves to recommended MinConfidence thresholds, per label and application-wide.

An :class:`Objective` says what "best" means; :func:`recommend` picks, for every label of the
vocabulary, the point of its exact curve (from :func:`evaluation.stats.metrics.exact_curves`) that serves the
objective, and says in ``status`` and ``note`` when the answer should not be trusted or does not exist.
:func:`thresholds_document` turns the result into a plain dict an application can load from YAML.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal
from typing import Any

import numpy as np
import pandas as pd

from evaluation.errors import UserError
from evaluation.stats.curve_points import curve_points_by_label, next_lower_at
from evaluation.stats.intervals import trials_to_certify, wilson_interval
from evaluation.stats.robust import robust_min_confidence

__all__ = [
    "OBJECTIVE_KINDS",
    "RATE_KINDS",
    "RECOMMEND_COLUMNS",
    "STATUSES",
    "Objective",
    "recommend",
    "recommend_global",
    "safe_min_confidence",
    "thresholds_document",
]

OBJECTIVE_KINDS = ("best-f1", "recall-at-precision", "precision-at-recall", "min-cost", "fnmr-at-fmr")
# Biometric rate objectives: the lowest false non-match rate with the false match rate (or FPIR, APCER) at
# most the target; judged by the face operations over their comparisons (evaluation.stats.biometrics),
# not by the per-label curves below.
RATE_KINDS = ("fnmr-at-fmr",)
_RATE_ALIASES = {"fnmr-at-fmr": "fnmr-at-fmr", "fnir-at-fpir": "fnmr-at-fmr", "bpcer-at-apcer": "fnmr-at-fmr"}
# Most important first: a label's status is the first that applies; its flags list every one.
# The no-positives note when every image was evaluated; the analysis words it otherwise when some were not
NO_POSITIVES_NOTE = (
    "no positive images for this label in the dataset: precision and recall cannot be measured"
)
# too-few-positives comes from the data advice (evaluation.stats.sample_size.apply_advice), predict-nothing
# from the min-cost objective (evaluation.stats.costs); recommend() itself gives the others.
STATUSES = (
    "no-positives",
    "no-predictions",
    "unreachable",
    "uncertified",
    "predict-nothing",
    "too-few-positives",
    "low-support",
    "at-floor",
    "ok",
)
RECOMMEND_COLUMNS = (
    "label",
    "threshold",
    "threshold_low",
    "precision",
    "recall",
    "f1",
    "tp",
    "fp",
    "fn",
    "support",
    "status",
    "flags",
    "note",
)
_CURVE_NEEDS = ("label", "threshold", "tp", "fp", "fn", "precision", "recall", "f1")
_GLOBAL_NEEDS = ("threshold", "tp", "fp", "fn", "precision", "recall", "f1")
_ALLOWED = (
    "best-f1, recall-at-precision:P, precision-at-recall:R (P and R in (0, 1], e.g. 0.9 or 90%), "
    "min-cost (with costs per false positive and false negative), "
    "or the shorthands precision>=P and recall>=R, and for face operations fnmr-at-fmr:F (also spelled "
    "fnir-at-fpir:F, bpcer-at-apcer:F); add :certain to a target objective to require the "
    "target at the interval's lower bound"
)
_CERTAIN_SUFFIX = re.compile(r"(.*):certain(?:@(.+))?")


# ------------------------------------------------------------------------------------------ objective


def _parse_target(text: str, whole: str) -> float:
    percent = text.endswith("%")
    try:
        value = float(text[:-1] if percent else text)
    except ValueError:
        raise UserError(f"objective {whole!r}: target {text!r} is not a number; use {_ALLOWED}") from None
    if percent:
        value /= 100.0
    elif value > 1.0:
        raise UserError(
            f"objective {whole!r}: target {text} is above 1; targets are fractions in (0, 1] "
            f"(write {value / 100:g} or {text}% for {text} percent)"
        )
    return value


@dataclass(frozen=True)
class Objective:
    """What the recommended threshold optimises.

    * ``best-f1``: the maximum F1 (ties: the highest threshold, i.e. the fewest predictions).
    * ``recall-at-precision:P``: the highest recall with precision >= P (ties: the highest threshold, which
      at equal recall has the fewest false positives, hence the best precision).
    * ``precision-at-recall:R``: the highest precision with recall >= R (ties: the highest *recall*, i.e.
      the lowest of the tied thresholds: at equal precision more recall is strictly better in (P, R), and
      the user asked for recall as a floor, not a ceiling).

    * ``min-cost``: the least expected cost per 1,000 images (costs per false positive, false negative
      and review, given apart: :func:`evaluation.stats.costs.min_cost_thresholds` chooses, not
      :func:`recommend`).

    ``certain`` (target objectives only): the target must hold at the lower bound of the Wilson interval
    at ``level`` (precision's over tp + fp predictions, recall's over the support), not at the point
    estimate; among the thresholds that certify it, the choice and its ties are as above. A label where
    the point estimate reaches the target but no lower bound does is ``uncertified``. Off by default,
    and then nothing differs from an objective without it.
    """

    kind: str
    target: float | None = None
    certain: bool = False
    level: float = 0.95

    def __post_init__(self) -> None:
        if self.kind not in OBJECTIVE_KINDS:
            raise UserError(f"unknown objective kind {self.kind!r}; use {_ALLOWED}")
        if self.certain and self.kind in RATE_KINDS:
            raise UserError(
                f"certain applies to recall-at-precision:P and precision-at-recall:R, not {self.kind}"
            )
        if not isinstance(self.certain, bool):
            raise UserError(f"certain must be True or False; got {self.certain!r}")
        level = self.level
        if not isinstance(level, numbers.Real) or isinstance(level, bool) or not 0.0 < level < 1.0:
            raise UserError(f"the interval level must be in (0, 1), e.g. 0.95; got {level!r}")
        object.__setattr__(self, "level", float(level))
        if self.kind in ("best-f1", "min-cost"):
            if self.target is not None:
                raise UserError(f"{self.kind} takes no target; got {self.target!r}")
            if self.certain:
                raise UserError(
                    f"certain applies to recall-at-precision:P and precision-at-recall:R, not to {self.kind}"
                )
            return
        target = self.target
        if not isinstance(target, numbers.Real) or isinstance(target, bool) or not 0.0 < target <= 1.0:
            raise UserError(f"{self.kind} needs a target in (0, 1]; got {target!r}")
        object.__setattr__(self, "target", float(target))

    @classmethod
    def parse(cls, text: str, *, certain: bool = False, level: float | None = None) -> Objective:
        """Read ``best-f1``, ``recall-at-precision:0.9``, ``precision-at-recall:0.8``, ``precision>=0.9``
        (= recall-at-precision:0.9) or ``recall>=80%`` (= precision-at-recall:0.8).

        A target objective is made certain by ``certain=True`` (a CLI option such as ``--certain``) or
        by the suffix ``:certain`` (``:certain@0.99`` for another level), as :meth:`__str__` writes it.
        ``level`` (default 0.95) is the interval level of a certain objective.
        """
        if not isinstance(text, str):
            raise UserError(f"objective must be text; got {text!r}; use {_ALLOWED}")
        compact = re.sub(r"\s+", "", text).lower().replace("_", "-")
        suffix = _CERTAIN_SUFFIX.fullmatch(compact)
        if suffix:
            compact, certain = suffix.group(1), True
            if suffix.group(2) is not None:
                written = _parse_target(suffix.group(2), text)
                if level is not None and level != written:
                    raise UserError(f"objective {text!r} says level {written:g}; level={level:g} was given")
                level = written
        if certain or level is not None:
            plain = cls.parse(compact)
            if plain.kind in ("best-f1", "min-cost"):
                raise UserError(
                    f"objective {text!r}: certain applies to recall-at-precision:P and "
                    f"precision-at-recall:R, not to {plain.kind}"
                )
            return cls(plain.kind, plain.target, certain=True, level=0.95 if level is None else level)
        if compact in ("best-f1", "f1", "max-f1"):
            return cls("best-f1")
        if compact in ("min-cost", "cost", "least-cost"):
            return cls("min-cost")
        shorthand = re.fullmatch(r"(precision|recall)>=(.*)", compact)
        if shorthand:
            if not shorthand.group(2):
                raise UserError(f"objective {text!r} needs a target, e.g. {shorthand.group(1)}>=0.9")
            kind = "recall-at-precision" if shorthand.group(1) == "precision" else "precision-at-recall"
            return cls(kind, _parse_target(shorthand.group(2), text))
        kind, sep, target = compact.partition(":")
        kind = _RATE_ALIASES.get(kind, kind)
        if kind in OBJECTIVE_KINDS[1:]:
            if not sep or not target:
                raise UserError(f"objective {text!r} needs a target, e.g. {kind}:0.9; use {_ALLOWED}")
            return cls(kind, _parse_target(target, text))
        raise UserError(f"unknown objective {text!r}; use {_ALLOWED}")

    def __str__(self) -> str:
        text = self.kind if self.target is None else f"{self.kind}:{self.target!r}"
        if self.certain:
            text += ":certain" if self.level == 0.95 else f":certain@{self.level!r}"
        return text

    def describe(self) -> str:
        """The objective in words, for reports."""
        if self.kind == "best-f1":
            return "maximise F1"
        if self.kind == "min-cost":
            return "minimise the expected cost per 1,000 images"
        certified = f" at the {self.level:.0%} lower bound" if self.certain else ""
        if self.kind == "recall-at-precision":
            return f"maximise recall with precision >= {self.target:g}{certified}"
        if self.kind == "fnmr-at-fmr":
            return f"the lowest false non-match rate with the false match rate <= {self.target:g}"
        return f"maximise precision with recall >= {self.target:g}{certified}"


# ------------------------------------------------------------------------------------------ selection

_ROWS_PER_BLOCK = 1 << 20  # rows of a curve whose keys are compared at a time (8 MB per float64 array)


class _Negated:
    """A key's negation read a block at a time (`key[block]`): no negated copy of a whole curve."""

    def __init__(self, values: np.ndarray) -> None:
        self.values = values

    def __getitem__(self, block: slice) -> np.ndarray:
        return -np.asarray(self.values[block], dtype=np.float64)


def _first_per_group(
    group: np.ndarray, n_groups: int, keys_desc: Sequence[np.ndarray | _Negated]
) -> np.ndarray:
    """Per group, the row that sorts first by ``keys_desc`` (all descending, first key most important;
    NaN sorts last); -1 for a group with no rows. One lexsort over all rows, no loop over groups."""
    group = np.asarray(group)
    if group.size and (group[1:] >= group[:-1]).all():  # rows already grouped (a sorted curve)
        return _first_per_sorted_group(group, n_groups, keys_desc)
    negated = [
        np.asarray(key.values, dtype=np.float64)
        if isinstance(key, _Negated)
        else -np.asarray(key, dtype=np.float64)
        for key in reversed(keys_desc)
    ]
    order = np.lexsort((*negated, group))
    sorted_group = group[order]
    head = np.ones(sorted_group.shape[0], dtype=bool)
    head[1:] = sorted_group[1:] != sorted_group[:-1]
    chosen = np.full(n_groups, -1, dtype=np.int64)
    chosen[sorted_group[head]] = order[head]
    return chosen


def _first_per_sorted_group(
    group: np.ndarray, n_groups: int, keys_desc: Sequence[np.ndarray | _Negated]
) -> np.ndarray:
    """`_first_per_group` for rows sorted by group, without sorting: each key in turn keeps the rows
    equal to their group's maximum (NaN below every number), then the first row left wins, as the
    stable sort's first row would. A block of rows at a time (the group maxima first, then the rows
    kept): no float64 copy of a key the size of the curve (25 million points: 0.4 GB per key)."""
    n_rows = group.shape[0]
    blocks = [slice(start, start + _ROWS_PER_BLOCK) for start in range(0, n_rows, _ROWS_PER_BLOCK)]
    left = np.ones(n_rows, dtype=bool)
    for key in (key if isinstance(key, _Negated) else np.asarray(key) for key in keys_desc):
        best = np.full(n_groups, -np.inf)
        for block in blocks:  # each group's maximum of its rows left (NaN: -inf), over every block
            masked, _ = _masked(key, left, block)
            rows = group[block]
            starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
            np.maximum.at(best, rows[starts], np.maximum.reduceat(masked, starts))
        for block in blocks:
            masked, nan = _masked(key, left, block)
            group_best = best[group[block]]
            # a group whose remaining rows are all NaN keeps them all (NaN ties NaN, as in the sort)
            left[block] &= (masked == group_best) | (np.isneginf(group_best) & nan)
    # every group keeps a row: its first one left is the first left at or after its start
    starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
    remaining = np.flatnonzero(left)
    chosen = np.full(n_groups, -1, dtype=np.int64)
    chosen[group[starts]] = remaining[np.searchsorted(remaining, starts)]
    return chosen


def _masked(key: np.ndarray | _Negated, left: np.ndarray, block: slice) -> tuple[np.ndarray, np.ndarray]:
    """A block of ``key`` as float64, -inf where a row is no longer left or NaN; and where it is NaN."""
    values = np.asarray(key[block], dtype=np.float64)
    nan = np.isnan(values)
    return np.where(left[block] & ~nan, values, -np.inf), nan


def _disagrees(stated: np.ndarray, support: np.ndarray, code: np.ndarray) -> bool:
    """Whether a point's stated support is not its label's, a block of points at a time."""
    blocks = range(0, code.shape[0], _ROWS_PER_BLOCK)
    return any(
        bool((stated[b : b + _ROWS_PER_BLOCK] != support[code[b : b + _ROWS_PER_BLOCK]]).any())
        for b in blocks
    )


def _choose(
    group: np.ndarray, n_groups: int, objective: Objective, columns: Mapping[str, np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """(chosen row per group or -1 when no row meets the objective, best-achievable row per group).

    Every objective needs a true positive (F1 > 0, or precision/recall >= a target > 0): a label whose
    predictions are all wrong has no threshold worth recommending.
    """
    precision, recall, f1, threshold = (columns[name] for name in ("precision", "recall", "f1", "threshold"))
    with np.errstate(invalid="ignore"):
        if objective.kind == "best-f1":
            feasible = f1 > 0
            keys, fallback = [f1, threshold], [f1, threshold]
        elif objective.kind == "recall-at-precision":
            feasible = (_certifiable(objective, columns) >= objective.target) & (recall > 0)
            keys, fallback = [recall, threshold], [precision, recall, threshold]
        else:
            feasible = _certifiable(objective, columns) >= objective.target
            keys, fallback = [precision, recall, threshold], [recall, precision, threshold]
    chosen = _first_per_group(group, n_groups, [feasible, *keys])  # a bool key reads as 0.0 / 1.0
    meets = np.zeros(n_groups, dtype=bool)
    meets[chosen >= 0] = feasible[
        chosen[chosen >= 0]
    ]  # feasible rows sort first: a head that fails means none meets
    chosen[~meets] = -1
    return chosen, _first_per_group(group, n_groups, fallback)


def _certifiable(objective: Objective, columns: Mapping[str, np.ndarray]) -> np.ndarray:
    """The value the objective's target is checked against, per row: the point estimate (precision for
    recall-at-precision, recall for precision-at-recall), or its Wilson lower bound when certain."""
    name = "precision" if objective.kind == "recall-at-precision" else "recall"
    if not objective.certain:
        return columns[name]
    tp = columns["tp"].astype(np.float64)
    trials = tp + (columns["fp"] if name == "precision" else columns["fn"])
    return wilson_interval(tp, trials, level=objective.level)[0]


def _positives_to_certify(
    objective: Objective, group: np.ndarray, n_groups: int, columns: Mapping[str, np.ndarray]
) -> np.ndarray:
    """Per group, the fewest positives (float; inf when none would do) that would certify the target at
    some threshold if the dataset grew with every count in proportion (the rates staying as observed).

    Precision's trials are the predictions tp + fp, which grow with the dataset like the support does;
    recall's trials are the positives themselves. The minimum is over every row of the group.
    """
    plain = Objective(objective.kind, objective.target)
    estimate = _certifiable(plain, columns)
    tp = columns["tp"].astype(np.float64)
    support = tp + columns["fn"]
    trials_now = tp + (columns["fp"] if objective.kind == "recall-at-precision" else columns["fn"])
    with np.errstate(invalid="ignore", divide="ignore"):
        trials = trials_to_certify(np.nan_to_num(estimate, nan=0.0), objective.target, level=objective.level)
        needed = np.where(trials_now > 0, trials / trials_now * support, np.inf)
    if objective.kind == "recall-at-precision":
        needed = np.where(columns["recall"] > 0, needed, np.inf)
    out = np.full(n_groups, np.inf)
    np.minimum.at(out, group, needed)
    return out


def _uncertified_note(objective: Objective, support: int, needed: float) -> str:
    measure = "precision" if objective.kind == "recall-at-precision" else "recall"
    note = (
        f"{measure} >= {objective.target:g} is reached by the point estimate but not certified at the "
        f"{objective.level:.0%} Wilson lower bound at any threshold"
    )
    if math.isfinite(needed):
        more = max(math.ceil(needed - 1e-9) - support, 1)
        note += (
            f"; about {more} more positive image(s) (and negatives in proportion), at the same rates, "
            f"would certify it"
        )
    return note


def _sorted_curve(curves: pd.DataFrame, labels: tuple[str, ...]) -> dict[str, np.ndarray]:
    """The curve as arrays sorted by (label in vocabulary order, threshold descending), label as a code."""
    missing = [name for name in _CURVE_NEEDS if name not in curves.columns]
    if missing:
        raise ValueError(f"curves must come from exact_curves; missing columns {missing}")
    stated = ("support",) if "support" in curves.columns else ()  # checked against the support given
    names = ("tp", "fp", "fn", "precision", "recall", "f1", *stated)
    return curve_points_by_label(curves, labels, names, narrow=True)  # counts only summed in float64


# ------------------------------------------------------------------------------------------ notes


def _confidence_text(value: float) -> str:
    return f"{value:.6g}"


def _unreachable_note(
    objective: Objective, columns: Mapping[str, np.ndarray], best: int, floor: float
) -> str:
    if best < 0:
        return "no curve point to choose from"
    precision, recall = float(columns["precision"][best]), float(columns["recall"][best])
    at = _confidence_text(float(columns["threshold"][best]))
    if objective.kind == "best-f1":
        return f"no threshold gives a true positive: all {int(columns['fp'][best])} prediction(s) are wrong"
    if objective.kind == "recall-at-precision":
        return (
            f"precision >= {objective.target:g} is not reached at any threshold; the best is precision "
            f"{precision:.3f} (recall {recall:.3f}) at confidence {at}"
        )
    return (
        f"recall >= {objective.target:g} is not reached at any threshold at or above the floor "
        f"{floor:g}; the most is recall {recall:.3f} (precision {precision:.3f}) at confidence {at}"
        + (
            "; a lower MinConfidence floor might reach it"
            if floor > 0
            else "; the positives it misses are never returned at any confidence"
        )
    )


def _label_verdict(
    *,
    support: int,
    has_curve: bool,
    chosen: int,
    best: int,
    columns: Mapping[str, np.ndarray],
    chosen_lowest: bool,
    objective: Objective,
    min_support: int,
    floor: float,
    predictions: int,
    top_confidence: float,
    missed_at_bottom: int = 0,
    reached_uncertified: bool = False,
    positives_to_certify: float = math.inf,
) -> tuple[str, list[str], list[str]]:
    """(status, flags, note sentences) for one label; status is the most important flag. `chosen_lowest`:
    the chosen point is the label's lowest."""
    flags: list[str] = []
    notes: list[str] = []
    if support == 0:
        flags.append("no-positives")
        note = NO_POSITIVES_NOTE
        if has_curve:
            note += (
                f"; it was returned for {predictions} image(s), all false positives, "
                f"up to confidence {_confidence_text(top_confidence)}"
            )
        notes.append(note)
        return flags[0], flags, notes
    if not has_curve:
        flags.append("no-predictions")
        notes.append(f"never returned at or above the floor {floor:g}: all {support} positive(s) are missed")
    elif chosen < 0 and reached_uncertified:
        flags.append("uncertified")
        notes.append(_uncertified_note(objective, support, positives_to_certify))
    elif chosen < 0:
        flags.append("unreachable")
        notes.append(_unreachable_note(objective, columns, best, floor))
    if support < min_support:
        flags.append("low-support")
        notes.append(
            f"only {support} positive image(s), fewer than the minimum support of {min_support} "
            f"(--min-support): "
            f"too few to trust these numbers"
        )
    if chosen >= 0 and chosen_lowest and columns["fn"][chosen] > 0:
        flags.append("at-floor")
        notes.append(
            f"chosen at the lowest confidence returned for this label "
            f"({_confidence_text(float(columns['threshold'][chosen]))}); {int(columns['fn'][chosen])} of "
            f"{support} positive(s) were never returned at or above the floor {floor:g}"
            + (
                ": a lower MinConfidence floor might do better"
                if floor > 0
                else ": no MinConfidence finds them (the service never returned this label for them)"
            )
        )
    elif has_curve and chosen >= 0 and (never := missed_at_bottom) > 0:
        notes.append(
            f"{never} of {support} positive(s) are never returned at any confidence at or above the "
            f"floor {floor:g}: no threshold finds them, so recall cannot exceed "
            f"{(support - never) / support:.3f}"
        )
    if not flags:
        flags.append("ok")
    return flags[0], flags, notes


def _check_floor(floor: float) -> float:
    floor = float(floor)
    if not 0.0 <= floor <= 100.0:
        raise ValueError(f"floor must be a confidence in [0, 100]; got {floor!r}")
    return floor


def _as_objective(objective: Objective | str) -> Objective:
    parsed = Objective.parse(objective) if isinstance(objective, str) else objective
    if parsed.kind in RATE_KINDS:
        raise ValueError(
            f"{parsed} is a rate objective over comparisons (evaluation.stats.biometrics), "
            "not a per-label one"
        )
    return parsed


def _check_not_min_cost(objective: Objective) -> None:
    if objective.kind == "min-cost":
        raise ValueError("min-cost needs costs: choose with evaluation.stats.costs.min_cost_thresholds")


# ------------------------------------------------------------------------------------------ per label


def recommend(
    curves: pd.DataFrame,
    *,
    labels: Sequence[str],
    support: Sequence[int] | np.ndarray,
    objective: Objective | str,
    min_support: int = 10,
    floor: float = 0.0,
) -> pd.DataFrame:
    """One recommended threshold per label of ``labels`` (all of them, in that order), from exact curves.

    ``threshold`` is a confidence on the label's exact curve and ``threshold_low`` the next lower one
    (or the floor): any MinConfidence in (threshold_low, threshold] gives the same counts. ``status`` is
    the most important of :data:`STATUSES` that applies, ``flags`` lists all of them (comma-separated)
    and ``note`` explains each. Where there is no threshold (no-positives, no-predictions, unreachable)
    threshold, rates and counts are empty (NaN / <NA>), except that a label never predicted has tp=fp=0,
    fn=support, recall 0 and F1 0 at every threshold.

    With a certain objective (``objective.certain``) a label whose point estimate reaches the target at
    some threshold but whose Wilson lower bound does not is ``uncertified`` (no threshold, like
    unreachable), and the frame gains a last column ``positives_to_certify``: 0 where the target is
    certified, for an uncertified label how many more positive images (with negatives growing in
    proportion, the rates staying as observed) would certify it at its best threshold, <NA> otherwise.
    """
    objective = _as_objective(objective)
    _check_not_min_cost(objective)
    floor = _check_floor(floor)
    labels = tuple(labels)
    n_labels = len(labels)
    if len(set(labels)) != n_labels:
        raise ValueError(f"labels must be unique; got {n_labels} names, {len(set(labels))} distinct")
    support = np.asarray(support)
    if support.shape != (n_labels,) or (support.size and support.dtype.kind not in "iu"):
        raise ValueError(f"support must be {n_labels} integers, one per label; got shape {support.shape}")
    support = support.astype(np.int64)
    if not isinstance(min_support, numbers.Integral) or min_support < 0:
        raise ValueError(f"min_support must be an int >= 0; got {min_support!r}")

    columns = _sorted_curve(curves, labels)
    code = columns["code"]
    stated = columns.pop("support", None)  # only checked: not held through the choice (0.1 GB a million)
    if stated is not None and _disagrees(stated, support, code):
        raise ValueError("curves' support column disagrees with the support given for the same labels")
    del stated
    chosen, best = _choose(code, n_labels, objective, columns)
    # only the chosen points' next lower thresholds are read: not the whole curve's (0.2 GB at 25 million)
    threshold_low, lowest = (
        next_lower_at(code, columns["threshold"], floor, np.maximum(chosen, 0))
        if code.size
        else (np.full(n_labels, float(floor)), np.ones(n_labels, dtype=bool))
    )
    reached = np.zeros(n_labels, dtype=bool)
    to_certify = np.full(n_labels, math.inf)
    if objective.certain:
        reached = _choose(code, n_labels, Objective(objective.kind, objective.target), columns)[0] >= 0
        to_certify = _positives_to_certify(objective, code, n_labels, columns)
    top = _first_per_group(code, n_labels, [columns["threshold"]])
    has_curve = top >= 0  # a label with points has a first one (a bincount would copy the codes as int64)
    bottom = _first_per_group(code, n_labels, [_Negated(columns["threshold"])])

    out_threshold = np.full(n_labels, np.nan)
    out_low = np.full(n_labels, np.nan)
    rates = {name: np.full(n_labels, np.nan) for name in ("precision", "recall", "f1")}
    counts = {name: pd.array([pd.NA] * n_labels, dtype="Int64") for name in ("tp", "fp", "fn")}
    status, flags, notes = [], [], []
    for index in range(n_labels):  # per label only to word the notes; the choice above is vectorised
        row = int(chosen[index])
        label_support = int(support[index])
        verdict, label_flags, label_notes = _label_verdict(
            support=label_support,
            has_curve=bool(has_curve[index]),
            chosen=row,
            best=int(best[index]),
            columns=columns,
            chosen_lowest=bool(lowest[index]),
            objective=objective,
            min_support=int(min_support),
            floor=floor,
            predictions=int(columns["tp"][bottom[index]]) + int(columns["fp"][bottom[index]])
            if has_curve[index]
            else 0,
            top_confidence=float(columns["threshold"][top[index]]) if has_curve[index] else math.nan,
            missed_at_bottom=int(columns["fn"][bottom[index]]) if has_curve[index] else label_support,
            reached_uncertified=bool(reached[index] and row < 0),
            positives_to_certify=float(to_certify[index]),
        )
        status.append(verdict)
        flags.append(",".join(label_flags))
        notes.append("; ".join(label_notes))
        if verdict in ("no-positives", "unreachable", "uncertified"):
            continue
        if verdict == "no-predictions":
            counts["tp"][index], counts["fp"][index], counts["fn"][index] = 0, 0, label_support
            rates["recall"][index], rates["f1"][index] = 0.0, 0.0
            continue
        out_threshold[index] = columns["threshold"][row]
        out_low[index] = threshold_low[index]
        for name in rates:
            rates[name][index] = columns[name][row]
        for name in counts:
            counts[name][index] = int(columns[name][row])

    frame = pd.DataFrame(
        {
            "label": pd.Series(labels, dtype=object),
            "threshold": out_threshold,
            "threshold_low": out_low,
            **rates,
            **counts,
            "support": support,
            "status": pd.Series(status, dtype=object),
            "flags": pd.Series(flags, dtype=object),
            "note": pd.Series(notes, dtype=object),
        },
        columns=list(RECOMMEND_COLUMNS),
    )
    if objective.certain:
        more = pd.array([pd.NA] * n_labels, dtype="Int64")
        for index in range(n_labels):
            if chosen[index] >= 0:
                more[index] = 0
            elif status[index] == "uncertified" and math.isfinite(to_certify[index]):
                more[index] = max(math.ceil(to_certify[index] - 1e-9) - int(support[index]), 1)
        frame["positives_to_certify"] = more
    return frame


# ------------------------------------------------------------------------------------------ global


def _plain_float(value: Any, digits: int | None = None) -> float | None:
    """A Python float (None for NaN / missing), rounded when ``digits`` is given."""
    if value is None or value is pd.NA:
        return None
    value = float(value)
    if math.isnan(value):
        return None
    return round(value, digits) if digits is not None else value


def _plain_int(value: Any) -> int | None:
    return None if value is None or value is pd.NA else int(value)


def recommend_global(
    global_curve_df: pd.DataFrame, *, objective: Objective | str, floor: float = 0.0
) -> dict[str, Any]:
    """One application-wide MinConfidence from :func:`evaluation.stats.metrics.global_curve` (micro counts).

    Returns plain Python values: threshold, threshold_low, precision, recall, f1, tp, fp, fn, support,
    status (no-positives, no-predictions, unreachable, uncertified (certain objectives only), at-floor or
    ok) and note.
    """
    objective = _as_objective(objective)
    _check_not_min_cost(objective)
    floor = _check_floor(floor)
    missing = [name for name in _GLOBAL_NEEDS if name not in global_curve_df.columns]
    if missing:
        raise ValueError(f"global_curve_df must come from global_curve; missing columns {missing}")
    threshold = global_curve_df["threshold"].to_numpy(dtype=np.float64)
    columns = {"threshold": threshold}
    for name in ("tp", "fp", "fn"):
        columns[name] = global_curve_df[name].to_numpy(dtype=np.int64)
    for name in ("precision", "recall", "f1"):
        columns[name] = global_curve_df[name].to_numpy(dtype=np.float64)
    if not (threshold[1:] <= threshold[:-1]).all():  # global_curve's own order needs no sort (nor copies)
        order = np.argsort(-threshold, kind="stable")
        columns = {name: values[order] for name, values in columns.items()}
    group = np.zeros(threshold.shape[0], dtype=np.int8)  # one group: 7 million points at a million images

    empty: dict[str, Any] = dict.fromkeys(("threshold", "threshold_low", "precision", "recall", "f1"))
    empty.update(tp=None, fp=None, fn=None, support=None)
    if threshold.shape[0] == 0:
        return {
            **empty,
            "status": "no-predictions",
            "note": f"nothing was returned at or above the floor {floor:g}",
        }
    support = int(columns["tp"][0] + columns["fn"][0])
    if support == 0:
        return {
            **empty,
            "support": 0,
            "status": "no-positives",
            "note": "no positive (image, label) pairs in the dataset: precision and recall are undefined",
        }
    chosen, best = (int(rows[0]) for rows in _choose(group, 1, objective, columns))
    if chosen < 0 and objective.certain:
        plain = Objective(objective.kind, objective.target)
        if _choose(group, 1, plain, columns)[0][0] >= 0:
            needed = float(_positives_to_certify(objective, group, 1, columns)[0])
            return {
                **empty,
                "support": support,
                "status": "uncertified",
                "note": _uncertified_note(objective, support, needed).replace("image(s)", "pair(s)"),
            }
    if chosen < 0:
        return {
            **empty,
            "support": support,
            "status": "unreachable",
            "note": _unreachable_note(objective, columns, best, floor),
        }
    (threshold_low,), (lowest,) = next_lower_at(group, columns["threshold"], floor, np.array([chosen]))
    status, note = "ok", ""
    if lowest and columns["fn"][chosen] > 0:
        status = "at-floor"
        note = (
            f"chosen at the lowest confidence returned ({_confidence_text(columns['threshold'][chosen])}); "
            f"{int(columns['fn'][chosen])} of {support} positive pair(s) were never returned at or above "
            f"the floor {floor:g}: a lower MinConfidence floor might do better"
        )
    return {
        "threshold": float(columns["threshold"][chosen]),
        "threshold_low": float(threshold_low),
        **{name: _plain_float(columns[name][chosen]) for name in ("precision", "recall", "f1")},
        **{name: int(columns[name][chosen]) for name in ("tp", "fp", "fn")},
        "support": support,
        "status": status,
        "note": note,
    }


# ------------------------------------------------------------------------------------------ document


def safe_min_confidence(threshold: float, low: float, *, decimals: int = 4) -> float:
    """The shortest decimal (at least ``decimals`` places rounded DOWN) in (low, threshold].

    Rounding 87.123456 to the nearest 4 decimals gives 87.1235, which would drop the prediction at
    87.123456; rounding down keeps it, and more decimals are used when rounding down would fall to or
    below ``low`` and so let in predictions of the next lower confidence.
    """
    exact = Decimal(repr(float(threshold)))  # the shortest decimal of the float, not its binary expansion
    for places in range(decimals, 18):
        candidate = float(exact.quantize(Decimal(1).scaleb(-places), rounding=ROUND_FLOOR))
        if low < candidate <= threshold:
            return candidate
    return float(threshold)


def min_confidence_to_use(threshold: Any, low: Any) -> float | None:
    """The MinConfidence to send (the one thresholds.yaml holds and every report shows): the robust value
    inside the equally-good range (low, threshold], i.e. its middle on the confidence scale rounded to
    the fewest decimals that stay inside (:func:`evaluation.stats.robust.robust_min_confidence`). Any
    value in the range keeps exactly the evaluated predictions; the middle has the most margin on both
    sides for confidences of unseen images.

    None where there is no threshold. Where `low` is missing (labels.csv of runs written before it was
    recorded) the range is unknown and the threshold itself is the only value known to give the counts;
    a low of -inf (no lower confidence at all) is the floor 0. When the range is empty (the threshold sits
    at the floor itself) the threshold is the only value.
    """
    value = _plain_float(threshold)
    if value is None:
        return None
    low_value = _plain_float(low)
    if low_value is None:
        return value
    low_value = max(low_value, 0.0) if low_value == -math.inf else low_value
    if not low_value < value:
        return value
    return robust_min_confidence(value, low_value)


def _plain(value: Any, where: str) -> Any:
    """Metadata as plain Python (numpy scalars and arrays unwrapped), or a TypeError naming the key."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, Mapping):
        return {str(key): _plain(item, f"{where}.{key}") for key, item in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_plain(item, f"{where}[{i}]") for i, item in enumerate(list(value))]
    raise TypeError(f"{where} is a {type(value).__name__}; metadata must be plain YAML values")


# in thresholds.yaml when the analysis computed them (intervals at the level in "intervals")
_DOCUMENT_NUMBERS = (
    "precision",
    "precision_low",
    "precision_high",
    "recall",
    "recall_low",
    "recall_high",
    "f1",
    "f1_low",
    "f1_high",
    "min_confidence_low",
    "min_confidence_high",
    "cost_per_1000",
    "cost_low",
    "cost_high",
)
_DOCUMENT_COUNTS = ("positives_needed", "negatives_needed", "positives_to_certify")


def _same_counts_range(threshold: Any, low: Any) -> list[float] | None:
    """[above, up_to]: any MinConfidence v with above < v <= up_to keeps the evaluated predictions."""
    high = _plain_float(threshold)
    if high is None:
        return None
    below = _plain_float(low)
    if below is None:
        return None  # unknown (older tables)
    return [0.0 if below == -math.inf else below, high]


def thresholds_document(
    per_label_df: pd.DataFrame,
    global_rec: Mapping[str, Any],
    *,
    objective: Objective | str,
    floor: float,
    metadata: Mapping[str, Any],
    intervals: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A plain dict for ``yaml.safe_dump`` that an application loads to filter labels client-side.

    ``min_confidence`` is None where there is no threshold; otherwise the robust value inside the
    equally-good range (:func:`min_confidence_to_use`), so that it still selects exactly the predictions
    that were evaluated; ``same_counts_range`` is that range. Rates are rounded to 4 decimals, undefined
    rates are None; intervals and data advice are written where the frame has them, and ``intervals``
    (level, resamples, seed, methods) under its own key. ``metadata`` goes under its own key.
    """
    objective = _as_objective(objective)

    def min_confidence(threshold: Any, low: Any) -> float | None:
        return min_confidence_to_use(threshold, low)

    def entry(row: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {
            "min_confidence": min_confidence(row.get("threshold"), row.get("threshold_low")),
            # every MinConfidence above the first and up to the second gives the same counts
            "same_counts_range": _same_counts_range(row.get("threshold"), row.get("threshold_low")),
        }
        for name in _DOCUMENT_NUMBERS:
            if name in ("precision", "recall", "f1") or name in row:
                out[name] = _plain_float(row.get(name), 4)
        out["support"] = _plain_int(row.get("support"))
        for name in _DOCUMENT_COUNTS:
            if name in row:
                out[name] = _plain_int(row.get(name))
        out["status"] = str(row.get("status", ""))
        out["note"] = str(row.get("note", ""))
        return out

    labels = {str(row["label"]): entry(row) for row in per_label_df.to_dict("records")}
    global_entry = entry(dict(global_rec))
    return {
        "objective": str(objective),
        "floor": float(floor),
        "metadata": _plain(dict(metadata), "metadata"),
        **({"intervals": _plain(dict(intervals), "intervals")} if intervals else {}),
        "global": global_entry,
        "labels": labels,
    }
