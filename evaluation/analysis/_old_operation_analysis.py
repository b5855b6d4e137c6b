"""Analysis of a run of any operation but labels: the operation scores, the shared code does the rest.

The same steps as evaluation.api.analyse after matching (exact curves, the metrics grid, micro/macro
averages, recommendations per label and application-wide, summary and thresholds.yaml), so every
operation's run folder has the same files, read by the same reports. What an operation adds (its own AP,
roll-ups, error rates) travels in `Scored` and lands in labels.csv columns, extra CSVs, summary.json's
"evaluation" and a report.md section.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from evaluation.calls.runner import ANSWERED
from evaluation.errors import UserError
from evaluation.labelmap import LabelMap
from evaluation.operations import operation_for
from evaluation.stats.metrics import exact_curves, grid_table, micro_macro
from evaluation.stats.thresholds import Objective, thresholds_document

if TYPE_CHECKING:
    from evaluation.api import AnalysisOptions, EvaluationResult

GROUND_TRUTH_FILE = "ground_truth.jsonl"


def write_ground_truth(records: Sequence[Mapping[str, Any]]) -> str:
    """One JSON object per images.csv row, in that order, each naming its image."""
    return "".join(json.dumps(record, sort_keys=True, ensure_ascii=False) + "\n" for record in records)


def read_ground_truth(run_dir: Path, images: pd.DataFrame) -> list[dict[str, Any]]:
    """The run's ground_truth.jsonl, checked against images.csv row by row (same images, same order)."""
    path = run_dir / GROUND_TRUTH_FILE
    if not path.is_file():
        raise UserError(f"{run_dir} has no {GROUND_TRUTH_FILE}: this operation's ground truth is not stored")
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    uris = [str(uri) for uri in images["image"]]
    if [str(record.get("image")) for record in records] != uris:
        raise UserError(f"{path} does not list the images of images.csv in the same order; rerun the run")
    return records


def analyse_operation(
    images: pd.DataFrame,
    responses: dict[str, dict[str, Any]],
    *,
    run: dict[str, Any],
    options: AnalysisOptions,
    ground_truth: Sequence[Mapping[str, Any]],
) -> EvaluationResult:
    """Pure analysis of stored answers of one operation: no calls, no files."""
    from evaluation.api import EvaluationResult, _plain, _summary, recommend_all, thresholds_metadata

    operation = operation_for(run["operation"])
    objective = Objective.parse(options.objective)
    label_map = LabelMap.load(options.label_map) if options.label_map else LabelMap.identity()
    if len(ground_truth) != len(images):
        raise ValueError(f"{len(ground_truth)} ground-truth records for {len(images)} images")
    answered_mask = images["status"].isin(ANSWERED).to_numpy()
    answered = images[answered_mask].reset_index(drop=True)
    truths = [ground_truth[index] for index in np.flatnonzero(answered_mask)]
    read = operation.reader(str(run["backend"].get("operation") or operation.api))
    answers = [read(responses[key]) for key in answered["cache_key"]]
    declared = (
        options.vocabulary if options.vocabulary is not None else run["dataset"].get("vocabulary") or ()
    )
    vocabulary = operation.vocabulary(tuple(declared), truths)
    request = run.get("request", {})
    floor, floor_evidence = operation.floor(answers, request)
    scored = operation.score(
        answers,
        truths,
        images=[str(uri) for uri in answered["image"]],
        vocabulary=vocabulary,
        label_map=label_map,
        use_parents=options.use_parents,
        floor=floor,
    )
    pairs = scored.pairs
    curves = _true_negatives(exact_curves(pairs), scored.negatives, pairs.labels)
    metrics = _true_negatives(grid_table(pairs), scored.negatives, pairs.labels)
    averages = micro_macro(metrics)

    per_label, best_f1, global_threshold = recommend_all(
        curves, pairs, objective=objective, min_support=options.min_support, floor=floor, ap=scored.ap
    )
    for offset, (name, values) in enumerate(scored.label_columns.items(), start=2):
        per_label.insert(offset, name, values)
    model_versions = sorted({str(v) for v in answered["model_version"].dropna()})
    summary = _summary(
        run,
        images,
        answered,
        pairs,
        per_label,
        best_f1,
        global_threshold,
        averages,
        floor_evidence,
        model_versions,
        scored.unjudged,
        objective,
        options,
    )
    summary["request"] = {"MinConfidence": operation.requested_floor(request), "MaxLabels": None, **request}
    summary["evaluation"] = {
        "operation": operation.name,
        **{
            key: _plain(value) if not isinstance(value, (list, dict)) else value
            for key, value in scored.details.items()
        },
    }
    thresholds = thresholds_document(
        per_label,
        global_threshold,
        objective=objective,
        floor=floor,
        metadata=thresholds_metadata(run, model_versions, evaluates=operation.name),
    )
    thresholds.update(scored.thresholds)
    return EvaluationResult(
        dataset_name=run["dataset"]["name"],
        images=images,
        predictions=scored.predictions,
        metrics=metrics,
        curves=curves,
        averages=averages,
        labels=per_label,
        global_threshold=global_threshold,
        unjudged=scored.unjudged,
        thresholds=thresholds,
        summary=summary,
        run=run,
        pairs=pairs,
        answers=tuple(answers) if scored.image_level else (),
        ground_truth=tuple(dict(record) for record in ground_truth),
        extra_tables=dict(scored.tables),
        report_section=tuple(scored.markdown),
    )


def _true_negatives(frame: pd.DataFrame, negatives: np.ndarray | None, labels: Sequence[str]) -> pd.DataFrame:
    """For detections, a threshold's true negatives are the false detections it removes (see Scored)."""
    if negatives is None or frame.empty:
        return frame
    codes = pd.Categorical(frame["label"], categories=list(labels)).codes
    frame = frame.copy()
    frame["tn"] = negatives[codes] - frame["fp"].to_numpy(np.int64)
    return frame
