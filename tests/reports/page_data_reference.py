"""report.html's exact bins and error examples as they were before they were vectorised (commit e8486d4),
kept verbatim as the reference the fast ones must equal (tests/reports/test_page_data_reference.py)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from evaluation.labelmap import normalize_name
from evaluation.operations.answers import LabelsAnswer
from evaluation.reports.exact_curve import MAX_EXACT_STOPS
from evaluation.reports.thumbnails import (
    EXAMPLES_PER_KIND,
    Box,
    ErrorExample,
    LabelErrors,
    _label_map,
)
from evaluation.stats.curve_points import label_positions

if TYPE_CHECKING:
    from evaluation.analysis import EvaluationResult


def exact_bins(result: EvaluationResult, *, max_stops: int = MAX_EXACT_STOPS) -> tuple[list[Any], list[bool]]:
    """Per label, [[confidence, tp added, fp added], ...] ascending over its exact curve (curves.csv) at or
    above the floor, and whether its stops were thinned. A label with more than `max_stops` distinct
    confidences keeps `max_stops` of them (by quantile), its recommended threshold and the first confidence
    at or above each whole number; each other bin is merged into the kept stop at or below it, so the
    counts at every kept stop and every whole number (which the page adds) stay exact."""
    labels = list(result.labels["label"].astype(object))
    floor = (result.summary.get("floor") or {}).get("evaluated_from") or 0.0
    recommended = dict(zip(labels, result.labels["threshold"], strict=True))
    curves = result.curves
    out: list[Any] = [[] for _ in labels]
    thinned = [False] * len(labels)
    if curves.empty:
        return out, thinned
    shown = label_positions(curves["label"], pd.Index(labels, dtype=object))
    threshold = curves["threshold"].to_numpy(np.float64)
    rows = np.flatnonzero((shown >= 0) & (threshold >= float(floor)))
    # each label's rows by threshold ascending, ties in the frame's order (one stable sort, no groupby)
    rows = rows[np.lexsort((threshold[rows], shown[rows]))]
    row_label = shown[rows]
    bounds = np.searchsorted(row_label, np.arange(len(labels) + 1))
    tp_all, fp_all = curves["tp"].to_numpy(np.int64)[rows], curves["fp"].to_numpy(np.int64)[rows]
    threshold = threshold[rows]
    for index, label in enumerate(labels):
        first, last = bounds[index], bounds[index + 1]
        t, tp, fp = threshold[first:last], tp_all[first:last], fp_all[first:last]
        if not len(t):
            continue
        added_tp = tp - np.append(tp[1:], 0)
        added_fp = fp - np.append(fp[1:], 0)
        if len(t) > max_stops:
            keep = np.unique(np.linspace(0, len(t) - 1, max_stops).round().astype(np.int64))
            chosen = recommended.get(label)
            if chosen is not None and not pd.isna(chosen):
                keep = np.union1d(keep, np.searchsorted(t, float(chosen)).clip(0, len(t) - 1))
            # the first confidence at or above each whole number stays, so the counts there stay exact
            anchors = np.searchsorted(t, np.arange(0, 101, dtype=np.float64), side="left")
            keep = np.union1d(np.union1d(keep, anchors[anchors < len(t)]), [0])
            group = np.searchsorted(keep, np.arange(len(t)), side="right") - 1  # the kept stop at or below
            added_tp = np.bincount(group, weights=added_tp, minlength=len(keep)).astype(np.int64)
            added_fp = np.bincount(group, weights=added_fp, minlength=len(keep)).astype(np.int64)
            t = t[keep]
            thinned[index] = True
        out[index] = [
            [round(value, 10), a, b]  # as number(value, 10): thresholds are confidences, never NaN
            for value, a, b in zip(t.tolist(), added_tp.tolist(), added_fp.tolist(), strict=True)
            if a or b
        ]
    return out, thinned


def positives_by_label(result: EvaluationResult) -> list[np.ndarray]:
    """Per label of the vocabulary, the evaluated images whose ground truth has it (as matching read it)."""
    assert result.positives is not None and result.pairs is not None
    image, label = result.positives
    order = np.lexsort((image, label))
    ends = np.cumsum(np.bincount(label, minlength=result.pairs.n_labels))
    return np.split(image[order].astype(np.int64), ends[:-1])


def _boxes(answer: LabelsAnswer, targets: frozenset[str], use_parents: bool) -> tuple[Box, ...]:
    """The instance boxes of every returned label that counts as the dataset label (itself, or a child
    whose Parents or Aliases name it when parents count)."""
    boxes: list[Box] = []
    for predicted in answer.labels:
        names = {predicted.name}
        if use_parents:  # answers of other operations may have no hierarchy and no boxes
            names.update(getattr(predicted, "parents", ()), getattr(predicted, "aliases", ()))
        if any(normalize_name(name) in targets for name in names):
            boxes.extend(
                (round(b.left, 4), round(b.top, 4), round(b.width, 4), round(b.height, 4))
                for b in getattr(predicted, "instances", ())
            )
    return tuple(boxes)


def _most_confident(rows: np.ndarray, confidence: np.ndarray, image: np.ndarray, count: int) -> np.ndarray:
    """The `count` rows of highest confidence, ties by image, in that order: the rows at or above the
    count-th highest confidence (ties included) are the only ones sorted."""
    if rows.size > count > 0:
        values = confidence[rows]
        rows = rows[values >= np.partition(values, rows.size - count)[rows.size - count]]
    return rows[np.lexsort((image[rows], -confidence[rows]))][:count]


def label_errors(result: EvaluationResult, *, per_kind: int = EXAMPLES_PER_KIND) -> list[LabelErrors | None]:
    """Per label (in result.labels order), its errors at the recommended threshold.

    None where there is nothing to show: no pairs were kept, or the label has no threshold because it
    has no positives or the objective cannot be met. A label never returned has every positive as a
    false negative. False positives are the most confident first; false negatives the nearest below
    the threshold first, then those never returned.
    """
    pairs = result.pairs
    if pairs is None or result.positives is None or len(result.answers) != pairs.n_images:
        return [None] * len(result.labels)
    positives = positives_by_label(result)
    label_map = _label_map(result)
    use_parents = bool((result.run.get("analysis") or {}).get("use_parents", True))
    # entries by label (one stable sort of small integers); each label's few examples are then found
    # among its own entries, not by sorting every entry by confidence
    order = np.argsort(
        pairs.label_idx.astype(np.int16 if pairs.n_labels < 2**15 else np.int64), kind="stable"
    )
    per_label = np.bincount(pairs.label_idx, minlength=pairs.n_labels)
    ends = np.cumsum(per_label)
    starts = ends - per_label

    out: list[LabelErrors | None] = []
    for index, row in enumerate(result.labels.to_dict("records")):
        status = row["status"]
        threshold = float(row["threshold"])
        no_threshold = math.isnan(threshold) and status != "no-predictions"
        if status in ("no-positives", "unreachable") or no_threshold:
            out.append(None)
            continue
        threshold_or_none = None if math.isnan(threshold) else threshold
        entries = order[starts[index] : ends[index]]
        confidence = pairs.confidence[entries]
        is_true = pairs.is_true[entries]
        image = pairs.image_idx[entries]
        predicted = confidence >= threshold if threshold_or_none is not None else np.zeros(len(entries), bool)
        fp_rows = np.flatnonzero(predicted & ~is_true)
        missed_rows = np.flatnonzero(~predicted & is_true)  # returned, but below the threshold
        fp_first = _most_confident(fp_rows, confidence, image, per_kind)
        missed_first = _most_confident(missed_rows, confidence, image, per_kind)
        never = np.setdiff1d(positives[index], image[is_true], assume_unique=True)
        targets = frozenset(normalize_name(name) for name in label_map.targets(row["label"]))

        def example(position: int, seen: float | None, targets: frozenset[str] = targets) -> ErrorExample:
            return ErrorExample(
                image=int(position),
                confidence=seen,
                boxes=_boxes(result.answers[position], targets, use_parents),
            )

        fps = [example(image[r], float(confidence[r])) for r in fp_first]
        fns = [example(image[r], float(confidence[r])) for r in missed_first]
        fns += [example(position, None) for position in never[: max(0, per_kind - len(fns))]]
        out.append(
            LabelErrors(
                threshold=threshold_or_none,
                false_positives=tuple(fps),
                false_negatives=tuple(fns),
                fp_total=int(fp_rows.size),
                fn_total=int(missed_rows.size + never.size),
            )
        )
    return out
