"""The harness as functions, for notebooks and for the CLI alike: plan -> fetch -> analyse -> write.

`plan_run(request)` reads the dataset, checks every image and looks up the cache without a call;
`run_evaluation(plan, options)` calls what is missing and analyses; `reanalyse(run_dir)` recomputes a
finished run from its stored answers. `evaluate(dataset, **keywords)` is the notebook's one call: its
keywords are the CLI's options, mapped once onto a `RunRequest` and `AnalysisOptions`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from evaluation.analysis import EvaluationResult, analyse, operation_of
from evaluation.analysis.stored import (
    codecs_for,
    model_versions,
    read_answers,
    store_recorded_answers,
    stored_or_carried,
)
from evaluation.aws.batch import BatchResults, Ingested
from evaluation.calls.backends import Backend, make_client
from evaluation.calls.backends.rekognition import RekognitionCall, RekognitionLabels, is_aws_endpoint
from evaluation.calls.backends.replay import ReplayCall, ReplayLabels
from evaluation.calls.cache import ResponseCache, default_cache_path
from evaluation.calls.prices import Estimate, PriceTable, default_tps
from evaluation.calls.recorded import RecordedAnswers
from evaluation.calls.runner import ImageOutcome, RunStats, fetch, plan
from evaluation.calls.versions import run_canary, versions_to_call
from evaluation.datasets import Dataset, load_dataset
from evaluation.errors import UserError
from evaluation.images import Preparation
from evaluation.operations import Operation, is_video, operation_for
from evaluation.options import AnalysisOptions, RunRequest, cli_names, split_keywords
from evaluation.reports import plots_process, renderers
from evaluation.reports.notebook import Evaluation, Explorer
from evaluation.reports.plots import PlotsProcess
from evaluation.runfolder import Recorded, images_frame, write
from evaluation.tablefiles import AnswersAhead, PackedText
from evaluation.version import __version__

__all__ = [
    "AnalysisOptions",
    "Evaluation",
    "EvaluationResult",
    "Explorer",
    "RunPlan",
    "RunRequest",
    "build_backend",
    "evaluate",
    "plan_run",
    "reanalyse",
    "run_evaluation",
    "write_run",
]


def build_backend(
    request: RunRequest, *, client: Any = None, session: Any = None, s3_client: Any = None
) -> Backend:
    """The backend the request names, for the operation it judges (its API and request parameters)."""
    operation = operation_for(request.operation)
    base = operation.request(min_confidence=request.min_confidence, max_labels=request.max_labels)
    params = {**base, **request.production}  # the production request's keys, sent as given
    name = request.backend
    if name in ("rekognition", "custom-labels") and client is None:
        region = request.region
        if name == "custom-labels" and request.project_version_arn and not region:
            from evaluation.calls.backends.custom_labels import check_version_arn

            region = check_version_arn(request.project_version_arn).split(":")[3]
        client = make_client(
            session=session,
            region=region,
            profile=request.profile,
            endpoint_url=request.endpoint_url,
            max_pool_connections=max(10, request.workers),
        )
    if name == "rekognition":
        if operation.api == "DetectLabels":
            return RekognitionLabels(
                client,
                min_confidence=request.min_confidence,
                max_labels=request.max_labels,
                extra=request.production,
            )
        return RekognitionCall(client, operation=operation.api, params=params, limits=operation.limits)
    if name == "replay":
        if operation.api == "DetectLabels":
            return ReplayLabels(
                min_confidence=request.min_confidence,
                max_labels=request.max_labels,
                endpoint_url=request.endpoint_url,
                extra=request.production,
            )
        return ReplayCall(
            operation=operation.api, params=params, limits=operation.limits, endpoint_url=request.endpoint_url
        )
    if name == "local":
        from evaluation.calls.backends.local import LocalLabels

        if s3_client is None and session is not None:
            s3_client = session.client("s3", region_name=request.region)
        return LocalLabels(
            min_confidence=request.min_confidence, max_labels=request.max_labels, s3_client=s3_client
        )
    from evaluation.calls.backends.custom_labels import CustomLabels, check_version_arn

    if not request.project_version_arn:
        raise UserError("the custom-labels backend needs a model: --project-version-arn ARN")
    check_version_arn(request.project_version_arn)
    return CustomLabels(
        client,
        project_version_arn=request.project_version_arn,
        min_confidence=request.min_confidence,
        max_results=request.max_results,
    )


@dataclass
class RunPlan:
    """What a run would do before any call: what a dry run prints and what --max-cost checks."""

    request: RunRequest
    dataset: Dataset
    operation: Operation
    backend: Backend
    cache_path: Path
    preparation: Preparation
    outcomes: list[ImageOutcome]
    to_call: list[int]
    estimate: Estimate | None
    tps: float | None
    tps_source: str
    recorded: RecordedAnswers | None = None  # what --answers FILE stored
    video: Any = None  # evaluation.aws.video_jobs.VideoPlan for the stored-video operations
    spent: bool = False  # run once (spend): plan again to run again

    def spend(self) -> None:
        """Let go of the dataset's items and the outcomes once the run has read what it needs of them
        (images_frame): a plan is run once, and at a million images they are about 1 GB of objects the
        analysis would otherwise hold beside its own. What describes the dataset stays."""
        self.dataset = replace(self.dataset, items=[])
        self.outcomes, self.to_call = [], []
        self.spent = True

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
            *(
                [
                    f"Recorded answers: {self.recorded.stored} stored from {self.recorded.path}, "
                    f"{self.recorded.bad} bad lines skipped"
                ]
                if self.recorded
                else []
            ),
            f"Calls needed: {counts['to_call']}",
            f"Rate: {f'{self.tps:g} calls/s' if self.tps else 'no client-side limit'} ({self.tps_source})",
        ]
        if self.video is not None:
            lines[4:6] = self.video.describe(self.to_call)
        needed = getattr(self.backend, "needed", None)
        if needed:
            lines.append("Calls by API: " + ", ".join(f"{count:g} {api}" for api, count in needed.items()))
        if self.estimate is not None and counts["to_call"]:
            lines.append(f"Estimated cost: {self.estimate.describe()}")
        reasons: dict[str, int] = {}
        for outcome in self.outcomes:
            if outcome.status == "rejected" and outcome.reason:
                reasons[outcome.reason] = reasons.get(outcome.reason, 0) + 1
        lines += [f"  {count} x {reason}" for reason, count in sorted(reasons.items(), key=lambda r: -r[1])]
        return "\n".join(lines)

    def check_cost(self) -> None:
        """--max-cost: refuse, before any call, a run whose calls still needed would cost more."""
        max_cost, estimate = self.request.max_cost, self.estimate
        if max_cost is None or not self.to_call or estimate is None:  # no estimate: nothing is billed
            return
        if estimate.usd is None:
            raise UserError(
                f"cannot check --max-cost: {estimate.describe()}; pass --price-table FILE with the missing "
                "prices"
            )
        if estimate.usd > max_cost:
            raise UserError(
                f"this run needs {len(self.to_call)} calls, estimated USD {estimate.usd:,.4f}, "
                f"more than --max-cost {max_cost:g}; nothing was called"
            )


def _is_aws_endpoint(backend: Backend) -> bool:
    url = str(backend.describe().get("endpoint_url") or "")
    return backend.name == "rekognition" and is_aws_endpoint(url)


def plan_run(
    request: RunRequest | str | Path | Dataset,
    *,
    backend: Backend | str | None = None,
    client: Any = None,
    session: Any = None,
    s3_client: Any = None,
    upload_s3_client: Any = None,
    **keywords: Any,
) -> RunPlan:
    """Read the dataset, check every image and look up the cache, without a single call.

    `request` is a RunRequest, or (in a notebook) the dataset with RunRequest's fields as keywords.
    A Backend object as `backend` overrides the one the request names (a started Custom Labels model, a
    batch's answers); `client`, `session` and `s3_client` are the AWS connections to use (default: from
    the environment); `upload_s3_client` uploads local videos (RunRequest.upload_to; default `s3_client`).
    """
    if not isinstance(request, RunRequest):
        name = backend if isinstance(backend, str) else None
        request = RunRequest(dataset=request, **({"backend": name} if name else {}), **keywords)
    elif keywords:
        raise TypeError(f"plan_run(RunRequest, ...) takes no settings as keywords: {sorted(keywords)}")
    if isinstance(backend, str):
        backend = None
    dataset = request.dataset
    operation = operation_for(request.operation)
    if not isinstance(dataset, Dataset):
        if s3_client is None and session is not None and str(dataset).startswith("s3://"):
            s3_client = session.client("s3", region_name=request.region)
        read = {
            "format": request.dataset_format,
            "skip_bad_lines": request.skip_bad_lines,
            "s3_client": s3_client,
        }
        dataset = operation.load(str(dataset), **read) or load_dataset(
            dataset, vocabulary=request.vocabulary, **read
        )
    if backend is None and operation.judges_rates:  # faces: whole datasets, not one call per image
        fetcher = operation.fetcher_for(request, dataset, client=client, session=session, s3_client=s3_client)
        return _plan_faces(request, dataset, operation, fetcher)
    if not operation.has_ground_truth(dataset):
        raise UserError(f"--operation {operation.name} needs {operation.needs}; {dataset.source} has none")
    if is_video(request.operation) and backend is None:  # jobs on Rekognition Video, not calls
        from evaluation.aws.video_plan import plan_video_run

        cache_path = Path(request.cache) if request.cache else default_cache_path()
        connections = {"client": client, "session": session, "s3_client": s3_client}
        video, outcomes, to_call, estimate = plan_video_run(
            request, dataset, operation, cache_path, upload_s3_client=upload_s3_client, **connections
        )
        how = "video jobs, at most --max-concurrent-jobs at once"
        return RunPlan(
            request,
            video.dataset,
            operation,
            video.backend,
            cache_path,
            Preparation(),  # type: ignore[arg-type]
            outcomes,
            to_call,
            estimate,
            None,
            how,
            video=video,
        )
    if backend is None:
        if s3_client is None and request.backend == "local" and any(i.image.is_s3 for i in dataset.items):
            import boto3

            base = session or boto3.Session(profile_name=request.profile, region_name=request.region)
            s3_client = base.client("s3", region_name=request.region)
        backend = build_backend(request, client=client, session=session, s3_client=s3_client)
    preparation = Preparation(convert=request.convert, fit=request.fit)
    cache_path = Path(request.cache) if request.cache else default_cache_path()
    recorded = None
    with ResponseCache(cache_path, codecs=codecs_for(operation, backend.operation)) as store:
        outcomes, to_call = plan(
            [item.image for item in dataset.items], backend, store, preparation=preparation
        )
        if request.answers is not None:
            recorded, to_call = store_recorded_answers(
                request.answers, operation, backend, store, outcomes, to_call
            )
        to_call = versions_to_call(outcomes, to_call, store, request.refresh, request.model_version)
    call_region = backend.describe().get("region") or request.region
    tps = request.tps
    if tps is not None:
        tps_source = "--tps"
    elif _is_aws_endpoint(backend):
        tps, tps_source = default_tps(backend.operation, call_region)
    else:
        tps_source = "not an AWS endpoint"
    estimate = None
    if backend.name == "rekognition" and _is_aws_endpoint(backend):
        estimate = PriceTable.load(request.price_table).estimate(backend.operation, call_region, len(to_call))
    return RunPlan(
        request,
        dataset,
        operation,
        backend,
        cache_path,
        preparation,
        outcomes,
        to_call,
        estimate,
        tps,
        tps_source,
        recorded,
    )


def _plan_faces(request: RunRequest, dataset: Dataset, operation: Operation, fetcher: Any) -> RunPlan:
    """A face run's plan: every item checked and looked up, and the calls of every API a fetch would make."""
    preparation = Preparation(convert=request.convert, fit=request.fit)
    cache_path = Path(request.cache) if request.cache else default_cache_path()
    planned = fetcher.plan_run(
        dataset, cache_path, preparation, price_table=request.price_table, tps=request.tps
    )
    return RunPlan(request, dataset, operation, fetcher, cache_path, preparation, *planned)


def run_evaluation(run_plan: RunPlan, options: AnalysisOptions) -> EvaluationResult:
    """Call what the plan still needs (every answer is cached as it arrives), then analyse."""
    started = time.monotonic()
    if run_plan.spent:
        raise UserError("this plan has run already (its items were let go): plan the run again to repeat it")
    run_plan.check_cost()
    request, dataset, backend = run_plan.request, run_plan.dataset, run_plan.backend
    if run_plan.operation.judges_rates:
        return _run_faces(run_plan, options, started)
    canary = run_canary(run_plan) if request.canary else None
    operation = run_plan.operation
    with ResponseCache(run_plan.cache_path, codecs=codecs_for(operation, backend.operation)) as store:
        if run_plan.video is not None:
            from evaluation.aws.video_jobs import fetch_videos

            outcomes, stats = fetch_videos(
                (run_plan.outcomes, run_plan.to_call, run_plan.video.videos),
                backend,  # type: ignore[arg-type]
                store,
                progress=request.progress,
            )
        else:
            outcomes, stats = fetch(
                [item.image for item in dataset.items],
                backend,
                store,
                workers=request.workers,
                tps=run_plan.tps,
                progress=request.progress,
                preparation=run_plan.preparation,
                planned=(run_plan.outcomes, run_plan.to_call),
                refresh=request.refresh,
            )
        stats.wall_s = round(time.monotonic() - started, 3)
        run = _run_record(run_plan, options, stats, _cost(run_plan, stats))
        if canary is not None:
            run["canary"] = canary
        keys = [o.cache_key for o in outcomes if o.answered and o.cache_key]
        asked = backend.request_params()
        # the store's columns hold the newest answer of each key, parsed when stored; an older model
        # version's answers, or what answers say about whole images, are read raw
        newest = bool(store.codecs) and request.model_version is None
        from_columns = newest and not operation.describes_images(asked)
        if from_columns:
            text = PackedText(images_frame(dataset, outcomes, model_versions(store, keys)))
        else:
            stored = store.get_versions({key: request.model_version for key in keys})
            versions = {key: _model_version_of(entry) for key, entry in stored.items()}
            columns = {key: operation.image_columns(entry.response, asked) for key, entry in stored.items()}
            text = PackedText(images_frame(dataset, outcomes, versions, columns))
            read = {"responses": {key: entry.response for key, entry in stored.items()}}
        ground_truth = (
            [{"image": item.image.uri, **operation.ground_truth(item)} for item in dataset.items]
            if operation.stores_ground_truth
            else []
        )
        # the items are all in images.csv's frame now: let go of them (an object per image) while its
        # text is outside Python objects, then make its strings afresh, together (tablefiles.PackedText)
        del dataset, outcomes, keys
        run_plan.spend()
        images = text.unpacked()
        if from_columns:
            read = read_answers(store, operation, backend.operation, images)
            read["responses"] = _written_ahead(read["responses"], run_plan.cache_path.parent)
    try:
        return analyse(images, **read, run=run, options=options, ground_truth=ground_truth)
    except BaseException:
        if isinstance(read["responses"], AnswersAhead):
            read["responses"].discard()
        raise


def _written_ahead(responses: Any, directory: Path) -> Any:
    """The stored answers with their answers.jsonl.gz written while the analysis runs (beside the
    cache: a folder this run writes into), or as they are where no file can be made there."""
    try:
        return AnswersAhead(responses, directory)
    except OSError:
        return responses


def _run_faces(run_plan: RunPlan, options: AnalysisOptions, started: float) -> EvaluationResult:
    """A face run: the fetcher calls (and guards its collection), then the one analysis."""
    fetcher, dataset, request = run_plan.backend, run_plan.dataset, run_plan.request
    with ResponseCache(run_plan.cache_path) as store:
        planned = (run_plan.outcomes, run_plan.to_call)
        outcomes, stats = fetcher.fetch_or_replay(dataset, store, planned, replay=request.backend == "replay")
        stored = store.get_many(o.cache_key for o in outcomes if o.answered and o.cache_key)
    stats.wall_s = round(time.monotonic() - started, 3)
    cost = fetcher.cost_record(
        request.price_table, estimated=run_plan.estimate is not None, calls=stats.calls
    )
    run = _run_record(run_plan, options, stats, cost)
    if hasattr(fetcher, "gallery_record"):
        run["gallery"] = fetcher.gallery_record()
    images = images_frame(dataset, outcomes, {key: _model_version_of(entry) for key, entry in stored.items()})
    records = run_plan.operation.dataset_ground_truth(dataset)
    ground_truth = [
        {"image": item.image.uri, **record} for item, record in zip(dataset.items, records, strict=True)
    ]
    responses = {key: entry.response for key, entry in stored.items()}
    return analyse(images, responses, run=run, options=options, ground_truth=ground_truth)


def _cost(run_plan: RunPlan, stats: RunStats) -> dict[str, Any]:
    """What the calls made now cost: the batch's own calls for a batch, else the estimate's price."""
    backend = run_plan.backend
    if isinstance(backend, BatchResults):
        return backend.cost(run_plan.request.price_table)
    if run_plan.video is not None:
        return run_plan.video.cost(run_plan.request.price_table, run_plan.to_call, run_plan.estimate, stats)
    spent = None
    if run_plan.estimate is not None:
        table = PriceTable.load(run_plan.request.price_table)
        spent = table.estimate(backend.operation, run_plan.estimate.region, stats.calls)
    return {
        "estimated_usd": spent.usd if spent else None,
        "calls": stats.calls,
        "source": spent.source if spent else None,
        "notes": spent.notes if spent else ["no price: not an AWS endpoint"],
    }


def _run_record(
    run_plan: RunPlan, options: AnalysisOptions, stats: RunStats, cost: dict[str, Any]
) -> dict[str, Any]:
    """run.json: how the answers were obtained, so `report` can judge them again without the dataset."""
    dataset, backend = run_plan.dataset, run_plan.backend
    return {
        "tool_version": __version__,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "operation": run_plan.operation.name,
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
            "warnings": list(dataset.warnings),
        },
        "backend": backend.describe(),
        "request": backend.request_params(),
        "production_request": dict(run_plan.request.production),
        "answers": {"refresh": run_plan.request.refresh, "model_version": run_plan.request.model_version},
        "cache": str(run_plan.cache_path.resolve()),
        **({"jobs": dict(backend.job_stats)} if getattr(backend, "job_stats", None) else {}),
        "stats": {**_stats_dict(stats), "tps": run_plan.tps, "tps_source": run_plan.tps_source},
        "cost": cost,
        "preparation": {"convert": run_plan.preparation.convert, "fit": run_plan.preparation.fit},
        "analysis": options.to_dict(),
        **({"recorded_answers": run_plan.recorded.to_record()} if run_plan.recorded else {}),
    }


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


def _model_version_of(stored: Any) -> str | None:
    """The stored version; for DetectCustomLabels (whose answers name none) the version ARN asked."""
    return stored.model_version or stored.params.get("ProjectVersionArn")


def write_run(
    result: EvaluationResult,
    out_dir: str | Path,
    *,
    curves_csv: bool = False,
    plots: PlotsProcess | None = None,
) -> Path:
    """The run folder: every table, then report.md and report.html (`curves_csv`: curves.csv besides
    curves.parquet; `plots`: the process started before the analysis that draws the PNGs)."""
    return write(result, out_dir, renderers=renderers(plots), curves_csv=curves_csv)


def evaluate(
    dataset: str | Path | Dataset,
    *,
    out: str | Path | None = None,
    client: Any = None,
    session: Any = None,
    s3_client: Any = None,
    planned: RunPlan | None = None,
    **keywords: Any,
) -> Evaluation:
    """Evaluate a backend on a labeled dataset; every answer is cached, so a rerun calls nothing.

    The keywords are the CLI's options with underscores (backend=, region=, endpoint_url=, cache=,
    labels= "A,B" or a list, parents=False for --no-parents, format=, label_map=, objective=, max_cost=,
    ...; options.cli_names); RunRequest's and AnalysisOptions' field names work too. A Backend object
    may be given as backend=. With `out` the run folder is written there too.
    """
    keywords = cli_names(keywords)
    backend = keywords.pop("backend", "rekognition")
    run_keywords, analysis_keywords = split_keywords(keywords)
    if analysis_keywords.get("objective") is None:
        analysis_keywords["objective"] = operation_for(
            run_keywords.get("operation", "labels")
        ).default_objective
    options = AnalysisOptions.build(**analysis_keywords)
    if planned is None:
        backend_object = None if isinstance(backend, str) else backend
        request = RunRequest(
            dataset=dataset,
            backend=backend if isinstance(backend, str) else _backend_name(backend),
            **run_keywords,
        )
        planned = plan_run(
            request, backend=backend_object, client=client, session=session, s3_client=s3_client
        )
    result = Evaluation.of(run_evaluation(planned, options))
    if out is not None:
        write_run(result, out)
    return result


def _backend_name(backend: Backend) -> str:
    """A Backend object stands for itself; the request records a known name for validation."""
    return backend.name if backend.name in ("rekognition", "replay", "local", "custom-labels") else "replay"


def evaluate_batch(
    ingested: Ingested, request: RunRequest, options: AnalysisOptions, *, s3_client: Any = None
) -> EvaluationResult:
    """The batch as a run: every image of the dataset with its batch answer (from the cache) or its batch
    error, analysed exactly as `run` would; the cost is the batch's DetectLabels calls in its region."""
    region = ingested.status.execution.region
    planned = plan_run(request.but(region=region), backend=BatchResults(ingested), s3_client=s3_client)
    return run_evaluation(planned, options)


def reanalyse(
    run_dir: str | Path,
    *,
    cache: Any = None,
    aws_evaluation: Any = None,
    out: Any = None,
    curves_csv: bool = False,
    **changes: Any,
) -> Evaluation:
    """Recompute a finished run from its stored answers with other analysis options; calls nothing.

    Answers come from the folder's answers.jsonl.gz (a copied folder re-analyses alone), else from the
    run's response cache (`cache=` names another). `changes` are analysis options by their CLI names or
    their own (objective=, min_support=, label_map=, labels=, parents=, ...); None keeps the run's own.
    It writes nothing unless given `out` (then the whole run folder; `out=run_dir` updates it in place;
    `curves_csv` as write_run's). Writing a large run with a core free, its PNGs are drawn by a process
    started now, whose imports run on that core while this one analyses (reports.plots.plots_process).
    """
    changes = cli_names(changes)
    recorded = Recorded.load(run_dir)
    keys = recorded.answered_keys
    with plots_process(len(keys) if out is not None else 0) as plots:
        result = _reanalysed(recorded, keys, cache, aws_evaluation, changes)
        if out is not None:
            write_run(result, out, curves_csv=curves_csv, plots=plots)
    return result


def _reanalysed(
    recorded: Recorded, keys: list[str], cache: Any, aws_evaluation: Any, changes: dict[str, Any]
) -> Evaluation:
    run = recorded.run
    operation = operation_of(run)
    read = stored_or_carried(recorded, keys, cache, operation)
    options = AnalysisOptions.from_dict(run.get("analysis", {}), **changes)
    if aws_evaluation is not None:
        options = AnalysisOptions(**{**options.__dict__, "aws_evaluation": aws_evaluation})
    _check_reanalysis_vocabulary(options.vocabulary, run)
    run = {**run, "analysis": options.to_dict(), "reanalysed_at": datetime.now(timezone.utc).isoformat()}
    ground_truth = recorded.ground_truth() if operation_of(run).stores_ground_truth else []
    return Evaluation.of(
        analyse(recorded.images, **read, run=run, options=options, ground_truth=ground_truth)
    )


def _check_reanalysis_vocabulary(vocabulary: Any, run: dict[str, Any]) -> None:
    """A label the run dropped (it was outside the run's --labels) has no ground truth left to judge it."""
    if not vocabulary:
        return
    from evaluation.labelmap import normalize_name

    dropped = run.get("dataset", {}).get("ignored_labels") or {}
    by_name = {normalize_name(name): name for name in dropped}
    lost = [label for label in vocabulary if normalize_name(label) in by_name]
    if lost:
        raise UserError(
            f"label(s) {', '.join(lost)} were left out of this run's ground truth (it was made with "
            "--labels); run again with them in --labels to evaluate them"
        )
