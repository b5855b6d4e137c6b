"""Slices: does one application-wide threshold serve every kind of image (or every category of label)?

`--slice KEY` (repeatable) splits a run by one key:
- a dataset column (a CSV's extra columns, a manifest's plain attributes, a COCO image's fields), kept in
  images.csv as `dataset.<name>`;
- a quality bin (`brightness`, `sharpness`, `contrast`; from IMAGE_PROPERTIES, binned at the bins of
  AnalysisOptions.quality_bins) or `dominant_color`;
- `content_type` (DetectModerationLabels' ContentTypes: an image is in each slice it has a type of, or in
  "(none)");
- `category`: label categories (DetectLabels' Categories, moderation's level-1 category): a slice holds
  every image but only the labels of that category.

An image slice is scored exactly as the whole run would be on those images alone (the operation's own
`score` on the slice's answers and truths, at the run's floor), so its numbers are the run's numbers on a
smaller dataset. For each slice and label (and "(all labels)", the micro-averaged application-wide
decision) it gives the numbers at the run's recommended threshold (with Wilson intervals), the slice's own
recommended threshold, and a verdict: `misses` when the run's threshold misses the objective by at least
SLICE_MARGIN in the slice (precision or recall under the target; for best-f1, F1 that far under the
slice's best), `too little data` when the slice has fewer positives than --min-support (no numbers then).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from evaluation.analysis.missing import fixed, is_missing
from evaluation.datasets.types import DATASET_COLUMN_PREFIX
from evaluation.errors import UserError
from evaluation.labelmap import LabelMap
from evaluation.operations import Operation
from evaluation.operations.answers import QUALITY_COLUMNS
from evaluation.stats.intervals import wilson_interval
from evaluation.stats.metrics import ScoredPairs, exact_curves, global_curve
from evaluation.stats.thresholds import Objective, recommend, recommend_global

SLICE_MARGIN = 0.10  # a miss this large (in precision, recall or F1) is worth a warning
ALL_LABELS = "(all labels)"
ANSWER_KEYS = (*QUALITY_COLUMNS, "dominant_color", "content_type", "category")
SLICE_COLUMNS = (
    "key",
    "value",
    "images",
    "label",
    "support",
    "threshold_run",
    "precision_run",
    "precision_run_low",
    "precision_run_high",
    "recall_run",
    "recall_run_low",
    "recall_run_high",
    "f1_run",
    "threshold_slice",
    "precision_slice",
    "recall_slice",
    "f1_slice",
    "status_slice",
    "verdict",
    "gap",
    "note",
)


def _bin_name(key: str, value: Any, edges: Sequence[float]) -> str:
    if is_missing(value) or value == "":
        return "(not measured)"
    number = float(value)
    for low, high in itertools.pairwise(edges):
        last = high == edges[-1]
        if low <= number < high or (last and number == high):
            return f"{key} {low:g}-{high:g}"
    return f"{key} outside {edges[0]:g}-{edges[-1]:g}"


def image_groups(images: pd.DataFrame, key: str, bins: Sequence[float]) -> dict[str, np.ndarray]:
    """The rows of `images` (answered images, in order) in each slice of `key`; an image may be in several."""
    if key in QUALITY_COLUMNS:
        if key not in images.columns:
            raise UserError(
                f"--slice {key}: the answers have no image quality; ask for it with a request file whose "
                "Features include IMAGE_PROPERTIES (--request)"
            )
        values = [_bin_name(key, value, bins) for value in images[key]]
        return _groups([[value] for value in values])
    if key == "dominant_color":
        if key not in images.columns:
            raise UserError("--slice dominant_color: the answers have no ImageProperties (IMAGE_PROPERTIES)")
        return _groups([[str(value or "(not measured)")] for value in images[key]])
    if key == "content_type":
        column = images["content_types"] if "content_types" in images.columns else [None] * len(images)
        return _groups(
            [[part for part in str(value or "").split(";") if part] or ["(none)"] for value in column]
        )
    column = f"{DATASET_COLUMN_PREFIX}{key}"
    if column not in images.columns:
        known = [
            name[len(DATASET_COLUMN_PREFIX) :]
            for name in images.columns
            if name.startswith(DATASET_COLUMN_PREFIX)
        ]
        present = [name for name in (*QUALITY_COLUMNS, "dominant_color") if name in images.columns]
        raise UserError(
            f"--slice {key}: no such dataset column or slice key; the dataset's columns are "
            f"{', '.join(known) or 'none'}; other keys: {', '.join([*present, 'content_type', 'category'])}"
        )
    return _groups([[str(value) if value not in (None, "") else "(empty)"] for value in images[column]])


def _groups(memberships: list[list[str]]) -> dict[str, np.ndarray]:
    groups: dict[str, list[int]] = {}
    for row, values in enumerate(memberships):
        for value in values:
            groups.setdefault(value, []).append(row)
    return {value: np.asarray(rows, dtype=np.int64) for value, rows in sorted(groups.items())}


def _counts_at(pairs: ScoredPairs, label: int | None, threshold: float) -> tuple[int, int, int]:
    """(tp, fp, fn) at MinConfidence `threshold`, for one label or (None) every label together."""
    chosen = pairs.confidence >= threshold
    support = int(pairs.support.sum()) if label is None else int(pairs.support[label])
    if label is not None:
        chosen &= pairs.label_idx == label
    tp = int((chosen & pairs.is_true).sum())
    return tp, int((chosen & ~pairs.is_true).sum()), support - tp


def _rates(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    precision = tp / (tp + fp) if tp + fp else math.nan
    recall = tp / (tp + fn) if tp + fn else math.nan
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else math.nan
    return precision, recall, f1


def _verdict(
    objective: Objective, at_run: tuple[float, float, float], own: Mapping[str, Any]
) -> tuple[str, float]:
    """(verdict, gap): how far the run's threshold misses the objective in the slice."""
    precision, recall, f1 = at_run
    if objective.kind == "best-f1":
        best = own.get("f1")
        if best is None or (isinstance(best, float) and math.isnan(best)) or math.isnan(f1):
            return "undefined", math.nan
        gap = float(best) - f1
    else:
        value = precision if objective.kind == "recall-at-precision" else recall
        if math.isnan(value):
            return "undefined", math.nan
        gap = float(objective.target or 0.0) - value
    gap = max(gap, 0.0)
    return ("misses" if gap >= SLICE_MARGIN - 1e-12 else "ok"), round(gap, 6)


def _rows_for(
    key: str,
    value: str,
    images: int,
    pairs: ScoredPairs,
    run_thresholds: Mapping[str, float | None],
    run_global: float | None,
    *,
    objective: Objective,
    min_support: int,
    floor: float,
    level: float,
    per_label: bool = True,
) -> list[dict[str, Any]]:
    curves = exact_curves(pairs)
    own_labels = recommend(
        curves,
        labels=pairs.labels,
        support=pairs.support,
        objective=objective,
        min_support=min_support,
        floor=floor,
    ).set_index("label")
    own_global = recommend_global(global_curve(pairs), objective=objective, floor=floor)
    targets: list[tuple[str, int | None, float | None, Mapping[str, Any]]] = []
    if per_label:
        targets += [
            (label, k, run_thresholds.get(label), own_labels.loc[label].to_dict())
            for k, label in enumerate(pairs.labels)
            if label in run_thresholds
        ]
    targets.append((ALL_LABELS, None, run_global, own_global))
    rows = []
    for label, index, threshold, own in targets:
        support = int(pairs.support.sum()) if index is None else int(pairs.support[index])
        row: dict[str, Any] = dict.fromkeys(SLICE_COLUMNS)
        row.update(key=key, value=value, images=images, label=label, support=support, note="")
        if support < max(min_support, 1):
            row.update(
                verdict="too little data",
                note=f"{support} positive(s) in this slice, fewer than the minimum support "
                f"{max(min_support, 1)}",
            )
            rows.append(row)
            continue
        if threshold is not None and not math.isnan(threshold):
            tp, fp, fn = _counts_at(pairs, index, threshold)
            at_run = _rates(tp, fp, fn)
            (p_low, r_low), (p_high, r_high) = wilson_interval([tp, tp], [tp + fp, tp + fn], level=level)
            row.update(
                threshold_run=threshold,
                precision_run=at_run[0],
                precision_run_low=float(p_low),
                precision_run_high=float(p_high),
                recall_run=at_run[1],
                recall_run_low=float(r_low),
                recall_run_high=float(r_high),
                f1_run=at_run[2],
            )
        else:
            at_run = (math.nan, math.nan, math.nan)
        row.update(
            threshold_slice=_number(own.get("threshold")),
            precision_slice=_number(own.get("precision")),
            recall_slice=_number(own.get("recall")),
            f1_slice=_number(own.get("f1")),
            status_slice=str(own.get("status") or ""),
        )
        if threshold is None or math.isnan(threshold):
            row.update(verdict="no run threshold", note="the whole run has no recommended threshold here")
        else:
            verdict, gap = _verdict(objective, at_run, own)
            row.update(verdict=verdict, gap=gap)
            if verdict == "misses":
                row["note"] = _miss_note(objective, at_run, own)
        rows.append(row)
    return rows


def _number(value: Any) -> float:
    return math.nan if value is None else float(value)


def _miss_note(objective: Objective, at_run: tuple[float, float, float], own: Mapping[str, Any]) -> str:
    precision, recall, f1 = at_run
    run = f"precision {precision:.3f}, recall {recall:.3f}, F1 {f1:.3f} at the run's threshold"
    if own.get("threshold") is None or own.get("status") in ("unreachable", "no-predictions", "no-positives"):
        return f"{run}; no threshold of its own meets {objective.describe()} in this slice either"
    return (
        f"{run}; its own MinConfidence {float(own['threshold']):.2f} would give precision "
        f"{_number(own.get('precision')):.3f}, recall {_number(own.get('recall')):.3f}, "
        f"F1 {_number(own.get('f1')):.3f}"
    )


def _label_subset(pairs: ScoredPairs, keep: Sequence[int]) -> ScoredPairs:
    keep_array = np.asarray(sorted(keep), dtype=np.int64)
    position = np.full(pairs.n_labels, -1, dtype=np.int64)
    position[keep_array] = np.arange(keep_array.size)
    chosen = position[pairs.label_idx] >= 0
    return ScoredPairs(
        labels=tuple(pairs.labels[k] for k in keep_array),
        n_images=pairs.n_images,
        support=pairs.support[keep_array],
        label_idx=position[pairs.label_idx[chosen]],
        image_idx=pairs.image_idx[chosen],
        confidence=pairs.confidence[chosen],
        is_true=pairs.is_true[chosen],
        floor=pairs.floor,
    )


def slice_table(
    operation: Operation,
    keys: Sequence[str],
    *,
    answered: pd.DataFrame,
    answers: Sequence[Any],
    truths: Sequence[Any],
    pairs: ScoredPairs,
    per_label: pd.DataFrame,
    global_threshold: Mapping[str, Any],
    vocabulary: Sequence[str],
    label_map: LabelMap,
    use_parents: bool,
    floor: float,
    objective: Objective,
    min_support: int,
    bins: Sequence[float],
    level: float = 0.95,
    score_options: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """slices.csv: one row per slice and label (and per slice for every label together)."""
    run_thresholds = {
        str(row["label"]): (None if pd.isna(row["threshold"]) else float(row["threshold"]))
        for row in per_label.to_dict("records")
    }
    run_global = global_threshold.get("threshold")
    settings = {"objective": objective, "min_support": min_support, "floor": floor, "level": level}
    rows: list[dict[str, Any]] = []
    for key in keys:
        if key == "category":
            categories = _categories(operation, answers, per_label, vocabulary, label_map)
            for category, members in sorted(categories.items()):
                keep = [k for k, label in enumerate(pairs.labels) if label in members]
                subset = _label_subset(pairs, keep)
                rows += _rows_for(
                    key,
                    category,
                    pairs.n_images,
                    subset,
                    run_thresholds,
                    run_global,
                    per_label=False,
                    **settings,
                )
            continue
        uris = [str(uri) for uri in answered["image"]]
        for value, members in image_groups(answered, key, bins).items():
            scored = operation.score(
                [answers[i] for i in members],
                [truths[i] for i in members],
                images=[uris[i] for i in members],
                vocabulary=vocabulary,
                label_map=label_map,
                use_parents=use_parents,
                floor=floor,
                **(score_options or {}),
            )
            rows += _rows_for(key, value, len(members), scored.pairs, run_thresholds, run_global, **settings)
    return pd.DataFrame(rows, columns=list(SLICE_COLUMNS))


def _categories(
    operation: Operation,
    answers: Sequence[Any],
    per_label: pd.DataFrame,
    vocabulary: Sequence[str],
    label_map: LabelMap,
) -> dict[str, set[str]]:
    """Category -> the dataset labels in it: moderation's level-1 category column, else the answers'
    Categories."""
    found: dict[str, set[str]] = {}
    if "category" in per_label.columns:
        for label, category in zip(per_label["label"], per_label["category"], strict=True):
            found.setdefault(str(category), set()).add(str(label))
        return found
    reader = getattr(operation, "label_categories", None)
    if reader is None:
        raise UserError(f"--slice category: --operation {operation.name} has no label categories")
    for label, categories in reader(answers, vocabulary, label_map).items():
        for category in categories or ("(no category)",):
            found.setdefault(category, set()).add(label)
    return found


def slice_markdown(table: pd.DataFrame, objective: Objective) -> list[str]:
    """report.md's section: the slices where the run's threshold misses, then where data is too thin."""
    if table.empty:
        return []
    lines = ["## Slices: does one threshold serve every slice?", ""]
    misses = table[table["verdict"] == "misses"]
    thin = table[table["verdict"] == "too little data"]
    lines.append(
        f"Objective: {objective.describe()}. {len(table)} slice rows in `slices.csv` over "
        f"{table[['key', 'value']].drop_duplicates().shape[0]} slices; a row *misses* when the run's "
        f"threshold misses the objective by {SLICE_MARGIN:g} or more in the slice."
    )
    lines.append("")
    if misses.empty:
        lines += ["The run's thresholds serve every slice with enough data.", ""]
    else:
        lines += [
            f"**Warning: the run's threshold misses the objective badly in {len(misses)} slice row(s).**",
            "",
            "| Slice | Label | Support | At the run's threshold (P / R / F1) | Slice's own threshold "
            "| Own P / R / F1 |",
            "|---|---|---|---|---|---|",
        ]
        for row in misses.sort_values("gap", ascending=False).head(30).to_dict("records"):
            lines.append(
                f"| {_cell(row['key'])} = {_cell(row['value'])} | {_cell(row['label'])} | {row['support']} | "
                f"{fixed(row['precision_run'])} / {fixed(row['recall_run'])} / {fixed(row['f1_run'])} | "
                f"{fixed(row['threshold_slice'], 2)} | {fixed(row['precision_slice'])} / "
                f"{fixed(row['recall_slice'])} / "
                f"{fixed(row['f1_slice'])} |"
            )
        lines.append("")
    if not thin.empty:
        names = sorted({f"{k} = {v}" for k, v in zip(thin["key"], thin["value"], strict=True)})
        lines += [
            f"Too little data for a number in {len(thin)} row(s) (fewer positives than the minimum support), "
            f"in: {', '.join(_cell(n) for n in names[:12])}{' ...' if len(names) > 12 else ''}.",
            "",
        ]
    return lines


def _cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def slice_summary(table: pd.DataFrame) -> dict[str, Any]:
    misses = table[table["verdict"] == "misses"]
    return {
        "keys": sorted(set(table["key"])),
        "slices": int(table[["key", "value"]].drop_duplicates().shape[0]),
        "misses": [
            {"key": r["key"], "value": r["value"], "label": r["label"], "gap": r["gap"]}
            for r in misses.to_dict("records")
        ],
        "too_little_data": int((table["verdict"] == "too little data").sum()),
    }
