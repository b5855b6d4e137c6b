"""The one analysis: stored answers and ground truth -> metrics, curves, recommendations and summary.

Every operation goes through `analyse`; the operation (evaluation.operations) decides only how its
answers are read and scored. No calls, no files: the pipeline reads and writes, this module judges.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from evaluation.analysis.result import EvaluationResult
from evaluation.analysis.score_table import ScoreTable
from evaluation.analysis.summary import build_summary, plain, thresholds_metadata
from evaluation.analysis.uncertainty import min_cost_recommendations, price_per_call, with_uncertainty
from evaluation.aws.evaluation_summary import RUN_KEY, TABLE_FILE, comparison, summary_entry
from evaluation.calls.runner import ANSWERED
from evaluation.errors import UserError
from evaluation.labelmap import LabelMap, normalize_name
from evaluation.memory import give_back_freed_memory
from evaluation.operations import Operation, operation_for
from evaluation.options import AnalysisOptions, Costs
from evaluation.stats.metrics import ScoredPairs, exact_curve_table, global_curve, grid_table, micro_macro
from evaluation.stats.thresholds import (
    NO_POSITIVES_NOTE,
    RATE_KINDS,
    Objective,
    recommend,
    recommend_global,
    thresholds_document,
)

log = logging.getLogger(__name__)

__all__ = ["AnalysisOptions", "EvaluationResult", "analyse", "operation_of", "recommend_all"]


def operation_of(run: Mapping[str, Any]) -> Operation:
    """What a run judges: run.json's "operation" (runs of labels before it was recorded have none)."""
    return operation_for(str(run.get("operation") or "labels"))


def analyse(
    images: pd.DataFrame,
    responses: Mapping[str, Mapping[str, Any]] | None = None,
    *,
    run: dict[str, Any],
    options: AnalysisOptions,
    ground_truth: Sequence[Mapping[str, Any]] = (),
    answers: Sequence[Any] | None = None,
) -> EvaluationResult:
    """Judge a run's stored answers (`responses` by cache key) against its ground truth.

    `images` is images.csv (one row per dataset item, with its status and cache key); `ground_truth`
    holds one record per row for operations whose truth images.csv cannot hold (ground_truth.jsonl).
    `answers`, instead of `responses`, are the answers already read, one per answered row in order
    (the response store's columns, for operations it keeps them for); `responses` may then be a lazy
    mapping of the raw answers, kept for the run folder's answers.jsonl.gz.
    """
    operation = operation_of(run)
    if operation.stores_ground_truth and len(ground_truth) != len(images):
        raise ValueError(f"{len(ground_truth)} ground-truth records for {len(images)} images")
    objective = options.objective
    answered_mask = images["status"].isin(ANSWERED).to_numpy()
    # the frame itself when every row was answered: not a copy of a million rows' cells
    whole = answered_mask.all() and images.index.equals(pd.RangeIndex(len(images)))
    answered = images if whole else images[answered_mask].reset_index(drop=True)
    truths_all = operation.truths(images, ground_truth)
    truths = [truths_all[index] for index in np.flatnonzero(answered_mask)]
    if answers is None:
        if responses is None:
            raise TypeError("analyse needs the stored responses or the answers read from them")
        read = operation.reader(str(run["backend"].get("operation") or operation.api))
        answers = [read(responses[key]) for key in answered["cache_key"]]
        carried: Mapping[str, Any] = {key: responses[key] for key in answered["cache_key"]}
    else:
        if len(answers) != len(answered):
            raise ValueError(f"{len(answers)} answers for {len(answered)} answered images")
        carried = responses if responses is not None else {}  # the store's, read lazily when written
    declared = options.vocabulary if options.vocabulary is not None else run["dataset"].get("vocabulary")
    vocabulary = operation.vocabulary(tuple(declared or ()), truths_all)
    in_dataset = (
        *operation.vocabulary((), truths_all),  # every label of the ground truth, judged or not
        *(run["dataset"].get("vocabulary") or ()),
        *(run["dataset"].get("ignored_labels") or {}),  # left out of the items with --labels
    )
    warn_about_unused_map_entries(options.label_map, (*vocabulary, *in_dataset))
    request = run.get("request", {})
    floor, floor_evidence = operation.floor(answers, request)
    if objective.kind in RATE_KINDS and not operation.judges_rates:
        raise UserError(
            f"--objective {objective} judges comparisons (face-verification, face-search, liveness), not "
            f"--operation {operation.name}"
        )
    rates = {"objective": objective} if operation.judges_rates else {}
    if objective.kind in RATE_KINDS:  # per label, the shared analysis reports best F1 beside it
        objective = Objective.parse("best-f1")
    scored = operation.score(
        answers,
        truths,
        images=[str(uri) for uri in answered["image"]],
        vocabulary=vocabulary,
        label_map=options.label_map,
        use_parents=options.use_parents,
        floor=floor,
        **operation.score_options(options),
        **rates,
    )
    del truths_all  # an object per image (a million at scale): only the slices read `truths` again
    if not options.slices:
        del truths
    give_back_freed_memory()  # the matching's temporaries, freed between the pairs' parts
    pairs = scored.pairs
    curves = exact_curve_table(pairs, scored.negatives)  # the points: every other column made when read
    pairs.forget_sweep()  # the curves (and the scorer's AP) hold what it found
    metrics = _true_negatives(grid_table(pairs), scored.negatives, pairs.labels)
    give_back_freed_memory()
    averages = micro_macro(metrics)
    per_label, best_f1, global_threshold = recommend_all(
        curves,
        pairs,
        objective=objective,
        min_support=options.min_support,
        floor=floor,
        ap=scored.ap,
        costs=options.costs,
        call=price_per_call(options.costs, run) if options.costs else 0.0,
    )
    for offset, (name, values) in enumerate(scored.label_columns.items(), start=2):
        per_label.insert(offset, name, values)
    sure = with_uncertainty(
        per_label=per_label,
        global_threshold=global_threshold,
        metrics=metrics,
        curves=curves,
        scored=scored,
        options=options,
        floor=floor,
        image_names=[str(uri) for uri in answered["image"]] if scored.image_level else None,
        operation=operation.name,
        run=run,
    )
    pairs.forget_order()  # the sweep, the global curve and the bootstrap have sorted by it
    give_back_freed_memory()
    per_label, global_threshold, metrics = sure.labels, sure.global_threshold, sure.metrics
    _word_no_positives(per_label, evaluated=len(answered), not_evaluated=len(images) - len(answered))
    # indexed by label (result.labels.loc["Person"]); the "label" column stays for labels.csv and joins
    per_label.index = pd.Index(per_label["label"].astype(object).tolist())
    model_versions = sorted({str(v) for v in answered["model_version"].dropna()})
    aws_record = options.aws_evaluation.to_record() if options.aws_evaluation else run.get(RUN_KEY)
    if aws_record:
        run = {**run, RUN_KEY: aws_record}
    summary = build_summary(
        run,
        images,
        answered,
        pairs,
        per_label,
        best_f1,
        global_threshold,
        floor_evidence,
        model_versions,
        scored.unjudged,
        options,
        operation.summary_request(request),
        operation.name,
    )
    if scored.details:
        summary["evaluation"] = {
            "operation": operation.name,
            **{
                key: plain(value) if not isinstance(value, (list, dict)) else value
                for key, value in scored.details.items()
            },
        }
    summary["intervals"] = sure.intervals
    summary.update(sure.summary)
    thresholds = thresholds_document(
        per_label,
        global_threshold,
        objective=objective,
        floor=floor,
        metadata=thresholds_metadata(run, model_versions, operation=operation.name),
        intervals=sure.intervals,
    )
    thresholds.update(scored.thresholds)
    tables, section = dict(scored.tables), list(scored.markdown)
    if scored.after_thresholds is not None:  # e.g. video time lines at the recommended thresholds
        chosen = {
            str(row.label): None if pd.isna(row.threshold) else float(row.threshold)
            for row in per_label[["label", "threshold"]].itertuples()
        }
        later_tables, later_lines = scored.after_thresholds(chosen)
        tables.update(later_tables)
        section += later_lines
    if options.slices:
        from evaluation.analysis.slices import slice_markdown, slice_summary, slice_table

        table = slice_table(
            operation,
            options.slices,
            answered=answered,
            answers=answers,
            truths=truths,
            pairs=pairs,
            per_label=per_label,
            global_threshold=global_threshold,
            vocabulary=vocabulary,
            label_map=options.label_map,
            use_parents=options.use_parents,
            floor=floor,
            objective=objective,
            min_support=options.min_support,
            bins=options.quality_bins,
            score_options=operation.score_options(options),
        )
        tables["slices"] = table
        section += slice_markdown(table, objective)
        summary["slices"] = slice_summary(table)
    production = run.get("production_request") or {}
    if production:
        summary["production_request"] = production
    result = EvaluationResult(
        dataset_name=run["dataset"]["name"],
        images=images,
        predictions=scored.predictions,
        metrics=metrics,
        curve_table=curves,
        averages=averages,
        labels=per_label,
        global_threshold=global_threshold,
        unjudged=scored.unjudged,
        thresholds=thresholds,
        summary=summary,
        run=run,
        pairs=pairs,
        answers=(answers if not isinstance(answers, list) else tuple(answers)) if scored.image_level else (),
        positives=scored.positives if scored.image_level else None,
        responses=carried,
        ground_truth=tuple(dict(record) for record in ground_truth) if operation.stores_ground_truth else (),
        extra_tables={**tables, **sure.tables},
        documents=dict(sure.documents),
        # made when written, not held: (image, label) pairs only, not detections
        score_table=ScoreTable(pairs, scored.positives, [str(uri) for uri in answered["image"]])
        if scored.positives is not None and scored.negatives is None
        else None,
        report_section=tuple(section),
    )
    if aws_record:  # AWS's own evaluation of a Custom Labels model, beside this run's numbers
        result.summary[RUN_KEY] = summary_entry(result)
        table = comparison(result)
        if table is not None:
            result.extra_tables[TABLE_FILE.removesuffix(".csv")] = table
    return result


def _word_no_positives(per_label: pd.DataFrame, *, evaluated: int, not_evaluated: int) -> None:
    """ "No positive images in the dataset" is only true when every image was evaluated: otherwise the
    label's positives may be among the images that were not (failed, missing, rejected)."""
    if not not_evaluated or per_label.empty or "note" not in per_label:
        return
    instead = (
        f"no positive images for this label among the {evaluated} evaluated image(s); {not_evaluated} "
        "image(s) of the dataset were not evaluated (see Problems), its positives may be among them"
    )
    per_label["note"] = [
        note.replace(NO_POSITIVES_NOTE, instead) if isinstance(note, str) else note
        for note in per_label["note"]
    ]


def recommend_all(
    curves: pd.DataFrame,
    pairs: ScoredPairs,
    *,
    objective: Objective,
    min_support: int,
    floor: float,
    ap: np.ndarray,
    costs: Costs | None = None,
    call: float = 0.0,
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Per label under the objective (with AP), per label at best F1 (the summary always gives it), and
    the one application-wide threshold. min-cost needs `costs` (and the cost per `call`)."""

    def per_label(chosen: Objective) -> pd.DataFrame:
        return recommend(
            curves,
            labels=pairs.labels,
            support=pairs.support,
            objective=chosen,
            min_support=min_support,
            floor=floor,
        )

    best_f1_objective = Objective.parse("best-f1")
    best_f1 = per_label(best_f1_objective)
    if objective.kind == "min-cost":
        if costs is None:
            raise UserError("--objective min-cost needs costs: --cost-fp and --cost-fn (or --costs FILE)")
        chosen, application = min_cost_recommendations(
            curves, pairs, costs, floor=floor, min_support=min_support, call=call
        )
        chosen.insert(1, "ap", ap)
        return chosen, best_f1, application
    # the default objective is best F1 itself: chosen once, not twice
    chosen = best_f1.copy() if objective == best_f1_objective else per_label(objective)
    chosen.insert(1, "ap", ap)
    return chosen, best_f1, recommend_global(global_curve(pairs), objective=objective, floor=floor)


def warn_about_unused_map_entries(label_map: LabelMap, vocabulary: Sequence[str]) -> None:
    """A label-map key that is no label of the dataset is usually a typo: its names count for nothing.

    `vocabulary` is every label of the dataset, not only those judged: a key for a label left out with
    --labels is no typo."""
    known = {normalize_name(label) for label in vocabulary}
    unused = [key for key in label_map.dataset_labels if normalize_name(key) not in known]
    if unused:
        log.warning(
            "label map entries for %s match no label of the dataset and are unused (a typo?)",
            ", ".join(repr(key) for key in unused),
        )


def _true_negatives(frame: pd.DataFrame, negatives: np.ndarray | None, labels: Sequence[str]) -> pd.DataFrame:
    """For detections, a threshold's true negatives are the false detections it removes (see Scored)."""
    if negatives is None or frame.empty:
        return frame
    codes = pd.Categorical(frame["label"], categories=list(labels)).codes
    frame = frame.copy()
    frame["tn"] = (negatives[codes] - frame["fp"].to_numpy(np.int64)).astype(frame["fp"].dtype)
    return frame
