"""The harness as functions, for notebooks and for the CLI alike.

`evaluate` runs the whole path (dataset -> answers -> metrics -> recommendations) and returns an
`EvaluationResult` whose tables are DataFrames; `reanalyse` recomputes a finished run from its stored
answers with other options, without a single call.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from evaluation import __version__
from evaluation.calls.backends import Backend, RekognitionLabels, ReplayLabels, make_client
from evaluation.calls.backends.rekognition import is_aws_endpoint
from evaluation.calls.cache import ResponseCache, default_cache_path
from evaluation.calls.prices import Estimate, PriceTable, default_tps
from evaluation.calls.runner import ANSWERED, ImageOutcome, RunStats, fetch, plan
from evaluation.datasets import Dataset, load_dataset
from evaluation.errors import UserError
from evaluation.images import Preparation
from evaluation.labelmap import LabelMap, normalize_name
from evaluation.operations.answers import LabelsAnswer, adapter_for
from evaluation.operations.matching import match
from evaluation.stats.metrics import (
    ScoredPairs,
    average_precision,
    exact_curves,
    global_curve,
    grid_table,
    micro_macro,
)
from evaluation.stats.thresholds import Objective, recommend, recommend_global, thresholds_document

log = logging.getLogger(__name__)


@dataclass
class AnalysisOptions:
    """Everything that changes the numbers but not the calls: change them freely with `reanalyse`."""

    objective: str = "best-f1"
    min_support: int = 10
    use_parents: bool = True
    label_map: str | None = None
    vocabulary: Sequence[str] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "objective": self.objective,
            "min_support": self.min_support,
            "use_parents": self.use_parents,
            "label_map": self.label_map,
            "vocabulary": list(self.vocabulary) if self.vocabulary is not None else None,
        }


@dataclass
class EvaluationResult:
    """One evaluation: its tables (DataFrames), its recommendations and the summary written to disk."""

    dataset_name: str
    images: pd.DataFrame
    predictions: pd.DataFrame
    metrics: pd.DataFrame
    curves: pd.DataFrame
    averages: pd.DataFrame
    labels: pd.DataFrame
    global_threshold: dict[str, Any]
    unjudged: pd.DataFrame
    thresholds: dict[str, Any]
    summary: dict[str, Any]
    run: dict[str, Any] = field(default_factory=dict)
    out_dir: Path | None = None
    # The scored (image, label) pairs and the answers behind them (one per evaluated image, in the order
    # of `images` rows that were answered): report.html shows the images behind each label's errors.
    pairs: ScoredPairs | None = field(default=None, repr=False)
    answers: tuple[LabelsAnswer, ...] = field(default=(), repr=False)
    # Operations other than labels (evaluation.operations): the ground truth images.csv cannot hold, one
    # record per `images` row (written as ground_truth.jsonl, so `report` needs no dataset), and the
    # operation's own tables (<name>.csv) and report.md section.
    ground_truth: tuple[dict[str, Any], ...] = field(default=(), repr=False)
    extra_tables: dict[str, pd.DataFrame] = field(default_factory=dict, repr=False)
    report_section: tuple[str, ...] = field(default=(), repr=False)

    def write(self, out_dir: str | Path) -> Path:
        from evaluation.reports import write_run

        self.out_dir = write_run(self, Path(out_dir))
        return self.out_dir

    @property
    def complete(self) -> bool:
        """True when every image of the dataset was evaluated (the CLI's exit code says the same)."""
        return bool(self.summary["images"]["not_evaluated"] == 0 and not self.summary["dataset"]["bad_lines"])


def build_backend(
    name: str,
    *,
    client: Any = None,
    session: Any = None,
    region: str | None = None,
    profile: str | None = None,
    endpoint_url: str | None = None,
    min_confidence: float = 0.0,
    max_labels: int = 1000,
    workers: int = 8,
    s3_client: Any = None,
    project_version_arn: str | None = None,
    max_results: int | None = None,
    operation: str = "labels",
) -> Backend:
    if not 0.0 <= min_confidence <= 100.0:
        raise UserError(f"--min-confidence must be within 0 and 100, got {min_confidence:g}")
    if not 1 <= max_labels <= 1000:
        raise UserError(f"--max-labels must be within 1 and 1000, got {max_labels}")
    if operation != "labels":  # boxes is the same DetectLabels call; the others call their own API
        from evaluation.operations.calls import check_backend, operation_backend

        check_backend(name, operation)
        if operation != "boxes":
            if name == "rekognition" and client is None:
                client = make_client(
                    session=session,
                    region=region,
                    profile=profile,
                    endpoint_url=endpoint_url,
                    max_pool_connections=max(10, workers),
                )
            return operation_backend(
                name,
                operation,
                client=client,
                min_confidence=min_confidence,
                max_labels=max_labels,
                endpoint_url=endpoint_url,
            )
    if name == "rekognition":
        if client is None:
            client = make_client(
                session=session,
                region=region,
                profile=profile,
                endpoint_url=endpoint_url,
                max_pool_connections=max(10, workers),
            )
        return RekognitionLabels(client, min_confidence=min_confidence, max_labels=max_labels)
    if name == "replay":
        return ReplayLabels(min_confidence=min_confidence, max_labels=max_labels, endpoint_url=endpoint_url)
    if name == "local":
        from evaluation.calls.backends.local import LocalLabels

        if s3_client is None and session is not None:
            s3_client = session.client("s3", region_name=region)
        return LocalLabels(min_confidence=min_confidence, max_labels=max_labels, s3_client=s3_client)
    if name == "custom-labels":
        from evaluation.calls.backends.custom_labels import CustomLabels, check_version_arn

        if not project_version_arn:
            raise UserError("the custom-labels backend needs a model: --project-version-arn ARN")
        if client is None:
            client = make_client(
                session=session,
                region=region or check_version_arn(project_version_arn).split(":")[3],
                profile=profile,
                endpoint_url=endpoint_url,
                max_pool_connections=max(10, workers),
            )
        return CustomLabels(
            client,
            project_version_arn=project_version_arn,
            min_confidence=min_confidence,
            max_results=max_results,
        )
    raise UserError(f"unknown backend {name!r}; choose one of: rekognition, replay, local, custom-labels")


@dataclass
class RunPlan:
    """What a run would do before any call: what a dry run prints and what --max-cost checks."""

    dataset: Dataset
    backend: Backend
    cache_path: Path
    preparation: Preparation
    outcomes: list[ImageOutcome]
    to_call: list[int]
    estimate: Estimate | None
    tps: float | None
    tps_source: str
    operation: str = "labels"  # what is judged (evaluation.operations); labels unless --operation says

    @property
    def counts(self) -> dict[str, int]:
        statuses = [o.status for o in self.outcomes]
        return {
            "images": len(statuses),
            "cached": statuses.count("cached"),
            "rejected": statuses.count("rejected"),
            "to_call": len(self.to_call),
        }

    def describe(self) -> str:
        counts = self.counts
        lines = [
            f"Dataset: {self.dataset.source} ({self.dataset.format}), {counts['images']} images, "
            f"{len(self.dataset.bad_lines)} bad lines skipped",
            f"Backend: {self.backend.name} {self.backend.operation}; request {self.backend.request_params()}",
            f"Cache: {self.cache_path} ({counts['cached']} answers already stored)",
            f"Rejected before any call: {counts['rejected']}",
            f"Calls needed: {counts['to_call']}",
            f"Rate: {f'{self.tps:g} calls/s' if self.tps else 'no client-side limit'} ({self.tps_source})",
        ]
        if self.estimate is not None and counts["to_call"]:
            lines.append(f"Estimated cost: {self.estimate.describe()}")
        reasons: dict[str, int] = {}
        for outcome in self.outcomes:
            if outcome.status == "rejected" and outcome.reason:
                reasons[outcome.reason] = reasons.get(outcome.reason, 0) + 1
        lines += [f"  {count} x {reason}" for reason, count in sorted(reasons.items(), key=lambda r: -r[1])]
        return "\n".join(lines)


def _s3_client_if_needed(
    backend: str, dataset: Dataset, session: Any, region: str | None, profile: str | None
) -> Any:
    """The local backend reads S3 images itself (Rekognition reads them in AWS); others need no client."""
    if backend != "local" or not any(item.image.is_s3 for item in dataset.items):
        return None
    import boto3

    session = session or boto3.Session(profile_name=profile, region_name=region)
    return session.client("s3", region_name=region)


def _is_aws_endpoint(backend: Backend) -> bool:
    url = str(backend.describe().get("endpoint_url") or "")
    return backend.name == "rekognition" and is_aws_endpoint(url)


def plan_run(
    dataset: str | Path | Dataset,
    *,
    backend: str | Backend = "rekognition",
    client: Any = None,
    session: Any = None,
    region: str | None = None,
    profile: str | None = None,
    endpoint_url: str | None = None,
    min_confidence: float = 0.0,
    max_labels: int = 1000,
    cache: str | Path | None = None,
    dataset_format: str | None = None,
    skip_bad_lines: bool = False,
    vocabulary: Sequence[str] | None = None,
    workers: int = 8,
    tps: float | None = None,
    convert: bool = False,
    fit: bool = False,
    price_table: str | Path | None = None,
    s3_client: Any = None,
    operation: str = "labels",
) -> RunPlan:
    """Read the dataset, check every image and look up the cache, without a single call."""
    if not isinstance(dataset, Dataset):
        if s3_client is None and session is not None and str(dataset).startswith("s3://"):
            s3_client = session.client("s3", region_name=region)
        dataset = load_dataset(
            dataset,
            format=dataset_format,
            skip_bad_lines=skip_bad_lines,
            vocabulary=vocabulary,
            s3_client=s3_client,
        )
    if operation != "labels":
        from evaluation.operations import operation_for
        from evaluation.operations.calls import check_backend

        check_backend(backend if isinstance(backend, str) else backend.name, operation)
        judged = operation_for(operation)
        if not judged.has_ground_truth(dataset):
            raise UserError(f"--operation {operation} needs {judged.needs}; {dataset.source} has none")
    if isinstance(backend, str):
        backend = build_backend(
            backend,
            client=client,
            session=session,
            region=region,
            profile=profile,
            endpoint_url=endpoint_url,
            min_confidence=min_confidence,
            max_labels=max_labels,
            workers=workers,
            s3_client=s3_client or _s3_client_if_needed(backend, dataset, session, region, profile),
            operation=operation,
        )
    preparation = Preparation(convert=convert, fit=fit)
    cache_path = Path(cache) if cache else default_cache_path()
    with ResponseCache(cache_path) as store:
        outcomes, to_call = plan(
            [item.image for item in dataset.items], backend, store, preparation=preparation
        )
    call_region = backend.describe().get("region") or region
    if tps is not None:
        tps_source = "--tps"
    elif _is_aws_endpoint(backend):
        tps, tps_source = default_tps(backend.operation, call_region)
    else:
        tps_source = "not an AWS endpoint"
    estimate = None
    if backend.name == "rekognition" and _is_aws_endpoint(backend):
        estimate = PriceTable.load(price_table).estimate(backend.operation, call_region, len(to_call))
    return RunPlan(
        dataset, backend, cache_path, preparation, outcomes, to_call, estimate, tps, tps_source, operation
    )


def evaluate(
    dataset: str | Path | Dataset,
    *,
    backend: str | Backend = "rekognition",
    client: Any = None,
    session: Any = None,
    region: str | None = None,
    profile: str | None = None,
    endpoint_url: str | None = None,
    min_confidence: float = 0.0,
    max_labels: int = 1000,
    cache: str | Path | None = None,
    dataset_format: str | None = None,
    skip_bad_lines: bool = False,
    objective: str = "best-f1",
    min_support: int = 10,
    use_parents: bool = True,
    label_map: str | Path | None = None,
    vocabulary: Sequence[str] | None = None,
    workers: int = 8,
    tps: float | None = None,
    convert: bool = False,
    fit: bool = False,
    max_cost: float | None = None,
    price_table: str | Path | None = None,
    progress: bool = True,
    out: str | Path | None = None,
    s3_client: Any = None,
    planned: RunPlan | None = None,
    operation: str = "labels",
) -> EvaluationResult:
    """Evaluate a backend on a labeled dataset; every answer is cached, so a rerun calls nothing.

    Returns the result; with `out` it is also written there (metrics.csv, curves.csv, summary.json,
    thresholds.yaml, report.md and the rest). `max_cost` (USD) refuses a run whose calls still needed
    would cost more, before any call; `tps` defaults to the documented quota on AWS endpoints.
    """
    started = time.monotonic()
    options = AnalysisOptions(
        objective=objective,
        min_support=min_support,
        use_parents=use_parents,
        label_map=str(label_map) if label_map else None,
        vocabulary=vocabulary,
    )
    Objective.parse(objective)  # a bad objective fails before any call is paid for
    _load_label_map(options.label_map)
    run_plan = planned or plan_run(
        dataset,
        backend=backend,
        client=client,
        session=session,
        region=region,
        profile=profile,
        endpoint_url=endpoint_url,
        min_confidence=min_confidence,
        max_labels=max_labels,
        cache=cache,
        dataset_format=dataset_format,
        skip_bad_lines=skip_bad_lines,
        vocabulary=vocabulary,
        workers=workers,
        tps=tps,
        convert=convert,
        fit=fit,
        price_table=price_table,
        s3_client=s3_client,
        operation=operation,
    )
    _check_cost(run_plan, max_cost)
    dataset, chosen = run_plan.dataset, run_plan.backend
    with ResponseCache(run_plan.cache_path) as store:
        outcomes, stats = fetch(
            [item.image for item in dataset.items],
            chosen,
            store,
            workers=workers,
            tps=run_plan.tps,
            progress=progress,
            preparation=run_plan.preparation,
            planned=(run_plan.outcomes, run_plan.to_call),
        )
        responses = store.get_many(o.cache_key for o in outcomes if o.answered and o.cache_key)
    stats.wall_s = round(time.monotonic() - started, 3)
    spent = None
    if run_plan.estimate is not None:
        spent = PriceTable.load(price_table).estimate(chosen.operation, run_plan.estimate.region, stats.calls)
    run = {
        "tool_version": __version__,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "dataset": {
            "name": dataset.name,
            "source": dataset.source,
            "format": dataset.format,
            "items": len(dataset.items),
            "bad_lines": [str(bad) for bad in dataset.bad_lines],
            "vocabulary": list(dataset.vocabulary),
            "ignored_labels": dict(dataset.ignored_labels),
            "machine_labeled": dataset.machine_labeled,
            "ignored_files": list(dataset.ignored_files),
        },
        "backend": chosen.describe(),
        "request": chosen.request_params(),
        "cache": str(run_plan.cache_path.resolve()),
        "stats": {**_stats_dict(stats), "tps": run_plan.tps, "tps_source": run_plan.tps_source},
        "cost": {
            "estimated_usd": spent.usd if spent else None,
            "calls": stats.calls,
            "source": spent.source if spent else None,
            "notes": spent.notes if spent else ["no price: not an AWS endpoint"],
        },
        "preparation": {"convert": run_plan.preparation.convert, "fit": run_plan.preparation.fit},
        "analysis": options.to_dict(),
    }
    ground_truth = None
    if run_plan.operation != "labels":
        from evaluation.operations import operation_for

        run["operation"] = run_plan.operation
        judged = operation_for(run_plan.operation)
        ground_truth = [{"image": item.image.uri, **judged.ground_truth(item)} for item in dataset.items]
    images = _images_frame(dataset, outcomes, responses)
    result = analyse(images, responses_by_key(responses), run=run, options=options, ground_truth=ground_truth)
    if out is not None:
        result.write(out)
    return result


def _check_cost(run_plan: RunPlan, max_cost: float | None) -> None:
    if max_cost is None or not run_plan.to_call:
        return
    estimate = run_plan.estimate
    if estimate is None:
        return  # not an AWS endpoint: nothing is billed
    if estimate.usd is None:
        raise UserError(
            f"cannot check --max-cost: {estimate.describe()}; pass --price-table FILE with the missing prices"
        )
    if estimate.usd > max_cost:
        raise UserError(
            f"this run needs {len(run_plan.to_call)} calls, estimated USD {estimate.usd:,.4f}, "
            f"more than --max-cost {max_cost:g}; nothing was called"
        )


def responses_by_key(stored: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {key: entry.response for key, entry in stored.items()}


def reanalyse(run_dir: str | Path, *, cache: str | Path | None = None, **changes: Any) -> EvaluationResult:
    """Recompute a finished run from its stored answers with other analysis options; calls nothing."""
    run_dir = Path(run_dir)
    run_file = run_dir / "run.json"
    images_file = run_dir / "images.csv"
    if not run_file.is_file() or not images_file.is_file():
        raise UserError(f"{run_dir} is not a run folder (no run.json and images.csv in it)")
    run = json.loads(run_file.read_text(encoding="utf-8"))
    images = read_images_csv(images_file)
    cache_path = Path(cache) if cache else Path(run["cache"])
    if not cache_path.is_file():
        raise UserError(f"the run's response cache {cache_path} does not exist; pass --cache PATH")
    keys = images.loc[images["status"].isin(ANSWERED), "cache_key"].dropna().tolist()
    with ResponseCache(cache_path) as store:
        stored = store.get_many(keys)
    lost = sorted(set(keys) - set(stored))
    if lost:
        raise UserError(
            f"{len(lost)} answers of this run are not in {cache_path} (e.g. key {lost[0][:12]}...); "
            "pass the cache the run used with --cache"
        )
    unknown = set(changes) - set(AnalysisOptions.__dataclass_fields__)
    if unknown:
        raise TypeError(f"unknown analysis options: {sorted(unknown)}")
    previous = run.get("analysis", {})
    options = AnalysisOptions(**{**previous, **{k: v for k, v in changes.items() if v is not None}})
    _check_reanalysis_vocabulary(options.vocabulary, run)
    Objective.parse(options.objective)
    run = {**run, "analysis": options.to_dict(), "reanalysed_at": datetime.now(timezone.utc).isoformat()}
    ground_truth = None
    if run.get("operation", "labels") != "labels":
        from evaluation.operations.analysis import read_ground_truth

        ground_truth = read_ground_truth(run_dir, images)
    return analyse(images, responses_by_key(stored), run=run, options=options, ground_truth=ground_truth)


def _check_reanalysis_vocabulary(vocabulary: Sequence[str] | None, run: dict[str, Any]) -> None:
    """A label the run dropped (it was outside the run's --labels) has no ground truth left to judge it."""
    if not vocabulary:
        return
    dropped = run.get("dataset", {}).get("ignored_labels") or {}
    by_name = {normalize_name(name): name for name in dropped}
    lost = [label for label in vocabulary if normalize_name(label) in by_name]
    if lost:
        raise UserError(
            f"label(s) {', '.join(lost)} were left out of this run's ground truth (it was made with "
            "--labels); run again with them in --labels to evaluate them"
        )


def _warn_about_unused_map_entries(label_map: LabelMap, vocabulary: Sequence[str]) -> None:
    """A label-map key that is no label of the dataset is usually a typo: its names count for nothing."""
    known = {normalize_name(label) for label in vocabulary}
    unused = [key for key in label_map.dataset_labels if normalize_name(key) not in known]
    if unused:
        log.warning(
            "label map entries for %s match no label of the dataset and are unused (a typo?)",
            ", ".join(repr(key) for key in unused),
        )


def _load_label_map(path: str | None) -> LabelMap:
    return LabelMap.load(path) if path else LabelMap.identity()


def _stats_dict(stats: RunStats) -> dict[str, Any]:
    return {
        "images": stats.images,
        "api_calls": stats.calls,
        "cache_hits": stats.cache_hits,
        "rejected": stats.rejected,
        "failed": stats.failed,
        "missing": stats.missing,
        "retries": stats.retries,
        "throttled": stats.throttled,
        "interrupted": stats.interrupted,
        "error_codes": stats.error_codes,
        "wall_s": stats.wall_s,
    }


PARENTS_SEPARATOR = ";"


IMAGES_COLUMNS = [
    "image",
    "source",
    "labels",
    "status",
    "image_id",
    "cache_key",
    "model_version",
    "reason",
    "error_code",
    "orientation",
    "changes",
]


def _images_frame(
    dataset: Dataset, outcomes: Sequence[ImageOutcome], responses: dict[str, Any]
) -> pd.DataFrame:
    """One row per image. Text columns are object dtype: an absent value stays None, never NaN."""
    rows = []
    for item, outcome in zip(dataset.items, outcomes, strict=True):
        stored = responses.get(outcome.cache_key) if outcome.cache_key else None
        rows.append(
            {
                "image": item.image.uri,
                "source": item.source,
                "labels": encode_labels(item.labels),
                "status": outcome.status,
                "image_id": outcome.image_id,
                "cache_key": outcome.cache_key,
                "model_version": _model_version_of(stored),
                "reason": outcome.reason,
                "error_code": outcome.error_code,
                "orientation": outcome.orientation,
                "changes": outcome.changes,
            }
        )
    return pd.DataFrame(rows, columns=IMAGES_COLUMNS, dtype=object)


def encode_labels(labels: frozenset[str] | set[str]) -> str:
    """Ground-truth labels in one CSV cell: a JSON list, since a label name may contain any character."""
    return json.dumps(sorted(labels), ensure_ascii=False)


def decode_labels(text: str | None) -> frozenset[str]:
    if not text:
        return frozenset()
    return frozenset(json.loads(text))


def _model_version_of(stored: Any) -> str | None:
    """The stored version; for DetectCustomLabels (whose answers name none) the version ARN asked."""
    if stored is None:
        return None
    return stored.model_version or stored.params.get("ProjectVersionArn")


def read_images_csv(path: Path) -> pd.DataFrame:
    frame = pd.read_csv(path, dtype=str, keep_default_na=False).astype(object)
    return frame.where(frame != "", None)


def _truths(images: pd.DataFrame) -> list[frozenset[str]]:
    return [decode_labels(text) for text in images["labels"]]


def honoured_floor(
    answers: Sequence[LabelsAnswer], *, requested: float, max_labels: int
) -> tuple[float, dict]:
    """The lowest threshold the answers can be trusted at, with the evidence.

    Above the requested MinConfidence, an answer truncated at MaxLabels is complete only down to its own
    lowest confidence, and the service may not honour a low request at all (it returns nothing below its
    own floor): evaluating below either would count hidden labels as misses.
    """
    lowest = [a.lowest_confidence for a in answers if a.lowest_confidence is not None]
    truncated = [a.lowest_confidence for a in answers if a.is_truncated(max_labels) and a.labels]
    observed = min(lowest) if lowest else None
    truncation_floor = max((c for c in truncated if c is not None), default=None)
    floor = requested
    if observed is not None and observed > requested:
        floor = max(floor, float(math.floor(observed)))
    if truncation_floor is not None:
        floor = max(floor, float(truncation_floor))
    evidence = {
        "requested_min_confidence": requested,
        "lowest_confidence_seen": observed,
        "answers_truncated_at_max_labels": len(truncated),
        "truncation_floor": truncation_floor,
        "evaluated_from": floor,
    }
    return floor, evidence


def analyse(
    images: pd.DataFrame,
    responses: dict[str, dict[str, Any]],
    *,
    run: dict[str, Any],
    options: AnalysisOptions,
    ground_truth: Sequence[dict[str, Any]] | None = None,
) -> EvaluationResult:
    """Pure analysis of stored answers: no calls, no files.

    A run of another operation than labels (run["operation"]) is scored by that operation, with
    `ground_truth` (one record per `images` row) for what images.csv cannot hold.
    """
    if run.get("operation", "labels") != "labels":
        from evaluation.operations.analysis import analyse_operation

        return analyse_operation(images, responses, run=run, options=options, ground_truth=ground_truth or ())
    objective = Objective.parse(options.objective)
    label_map = _load_label_map(options.label_map)
    answered = images[images["status"].isin(ANSWERED)].reset_index(drop=True)
    read_answer = adapter_for(run["backend"].get("operation", "DetectLabels"))
    answers = [read_answer(responses[key]) for key in answered["cache_key"]]
    truths = _truths(answered)
    vocabulary = _vocabulary(options, run, images)
    _warn_about_unused_map_entries(label_map, vocabulary)
    request = run.get("request", {})
    floor, floor_evidence = honoured_floor(
        answers,
        requested=float(request.get("MinConfidence", 0.0)),
        max_labels=int(request.get("MaxLabels") or request.get("MaxResults") or 1000),
    )
    matched = match(
        answers,
        truths,
        vocabulary=vocabulary,
        label_map=label_map,
        use_parents=options.use_parents,
        floor=floor,
    )
    pairs = _above(matched.pairs, floor)
    curves = exact_curves(pairs)
    metrics = grid_table(pairs)
    averages = micro_macro(metrics)
    ap = average_precision(pairs)
    per_label, best_f1, global_threshold = recommend_all(
        curves, pairs, objective=objective, min_support=options.min_support, floor=floor, ap=ap
    )
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
        matched.unjudged,
        objective,
        options,
    )
    thresholds = thresholds_document(
        per_label,
        global_threshold,
        objective=objective,
        floor=floor,
        metadata=thresholds_metadata(run, model_versions),
    )
    predictions = _predictions_table(answered, answers)
    return EvaluationResult(
        dataset_name=run["dataset"]["name"],
        images=images,
        predictions=predictions,
        metrics=metrics,
        curves=curves,
        averages=averages,
        labels=per_label,
        global_threshold=global_threshold,
        unjudged=matched.unjudged,
        thresholds=thresholds,
        summary=summary,
        run=run,
        pairs=pairs,
        answers=tuple(answers),
    )


def recommend_all(
    curves: pd.DataFrame,
    pairs: ScoredPairs,
    *,
    objective: Objective,
    min_support: int,
    floor: float,
    ap: np.ndarray,
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Per label under the objective (with AP), per label at best F1 (the summary always gives it), and
    the one application-wide threshold: what every operation's analysis reports."""

    def per_label(chosen: Objective) -> pd.DataFrame:
        return recommend(
            curves,
            labels=pairs.labels,
            support=pairs.support,
            objective=chosen,
            min_support=min_support,
            floor=floor,
        )

    chosen = per_label(objective)
    chosen.insert(1, "ap", ap)
    best_f1 = per_label(Objective.parse("best-f1"))
    return chosen, best_f1, recommend_global(global_curve(pairs), objective=objective, floor=floor)


def thresholds_metadata(run: dict[str, Any], model_versions: list[str], **extra: Any) -> dict[str, Any]:
    """Where the thresholds in thresholds.yaml came from, for an application that loads them."""
    return {
        "dataset": run["dataset"]["name"],
        "backend": run["backend"].get("backend"),
        "operation": run["backend"].get("operation"),
        **extra,
        "model_versions": model_versions,
        "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def _vocabulary(options: AnalysisOptions, run: dict[str, Any], images: pd.DataFrame) -> tuple[str, ...]:
    if options.vocabulary is not None:
        return tuple(options.vocabulary)
    declared = run.get("dataset", {}).get("vocabulary")
    if declared:
        return tuple(declared)
    return tuple(sorted({label for truth in _truths(images) for label in truth}))


def _above(pairs: ScoredPairs, floor: float) -> ScoredPairs:
    keep = pairs.confidence >= floor
    if keep.all():
        return pairs
    return ScoredPairs(
        labels=pairs.labels,
        n_images=pairs.n_images,
        support=pairs.support,
        label_idx=pairs.label_idx[keep],
        image_idx=pairs.image_idx[keep],
        confidence=pairs.confidence[keep],
        is_true=pairs.is_true[keep],
        floor=floor,
    )


def _predictions_table(answered: pd.DataFrame, answers: Sequence[LabelsAnswer]) -> pd.DataFrame:
    rows = [
        (image, label.name, label.confidence, PARENTS_SEPARATOR.join(label.parents), len(label.instances))
        for image, answer in zip(answered["image"], answers, strict=True)
        for label in answer.labels
    ]
    return pd.DataFrame(rows, columns=["image", "label", "confidence", "parents", "instances"])


def _text_or_none(value: Any) -> str | None:
    """A text cell for JSON: pandas may hold a missing value as None or NaN."""
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)


def _plain(value: Any) -> Any:
    """JSON has no NaN: an undefined number is written as null."""
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if math.isnan(value) else round(float(value), 6)
    return value


def _summary(
    run: dict[str, Any],
    images: pd.DataFrame,
    answered: pd.DataFrame,
    pairs: ScoredPairs,
    per_label: pd.DataFrame,
    best_f1: pd.DataFrame,
    global_threshold: dict[str, Any],
    averages: pd.DataFrame,
    floor_evidence: dict[str, Any],
    model_versions: list[str],
    unjudged: pd.DataFrame,
    objective: Objective,
    options: AnalysisOptions,
) -> dict[str, Any]:
    problems = images[~images["status"].isin(ANSWERED)]
    labels = {}
    for row, best in zip(per_label.to_dict("records"), best_f1.to_dict("records"), strict=True):
        labels[row["label"]] = {
            "support": _plain(row["support"]),
            "ap": _plain(row["ap"]),
            "recommended": {
                "threshold": _plain(row["threshold"]),
                "precision": _plain(row["precision"]),
                "recall": _plain(row["recall"]),
                "f1": _plain(row["f1"]),
                "status": row["status"],
                "note": row["note"] or None,
            },
            "best_f1": {
                "threshold": _plain(best["threshold"]),
                "precision": _plain(best["precision"]),
                "recall": _plain(best["recall"]),
                "f1": _plain(best["f1"]),
            },
        }
    backend = run["backend"]
    return {
        "dataset": {
            "name": run["dataset"]["name"],
            "source": run["dataset"]["source"],
            "format": run["dataset"]["format"],
            "bad_lines": run["dataset"]["bad_lines"],
            "ignored_labels": run["dataset"].get("ignored_labels", {}),
            "machine_labeled": run["dataset"].get("machine_labeled", 0),
            "ignored_files": run["dataset"].get("ignored_files", []),
        },
        "images": {
            "total": len(images),
            "evaluated": len(answered),
            "not_evaluated": len(problems),
            "by_status": {k: int(v) for k, v in images["status"].value_counts().sort_index().items()},
        },
        "backend": backend.get("backend"),
        "operation": backend.get("operation"),
        "region": backend.get("region"),
        "endpoint_url": backend.get("endpoint_url"),
        "request": {
            "MinConfidence": run.get("request", {}).get("MinConfidence"),
            "MaxLabels": run.get("request", {}).get("MaxLabels"),
        },
        "model_versions": model_versions,
        "api_calls": run["stats"]["api_calls"],
        "cache_hits": run["stats"]["cache_hits"],
        "retries": run["stats"].get("retries", 0),
        "throttled": run["stats"].get("throttled", 0),
        "tps": run["stats"].get("tps"),
        "estimated_cost_usd": run.get("cost", {}).get("estimated_usd"),
        "cost": run.get("cost"),
        "wall_s": run["stats"]["wall_s"],
        "errors": [
            {
                "image": r.image,
                "status": r.status,
                "error_code": _text_or_none(r.error_code),
                "reason": _text_or_none(r.reason),
            }
            for r in problems.itertuples()
        ],
        "floor": floor_evidence,
        "objective": str(objective),
        "min_support": options.min_support,
        "use_parents": options.use_parents,
        "label_map": options.label_map,
        "global": {k: _plain(v) for k, v in global_threshold.items()},
        "labels": labels,
        "unjudged_names": len(unjudged),
        "tool_version": run.get("tool_version"),
        "created_at": run.get("created_at"),
    }
