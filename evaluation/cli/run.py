"""`rekognition-eval run`: dataset -> answers -> metrics -> report, in one run folder."""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path
from typing import Any

from evaluation.cli import common
from evaluation.cli.common import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    add_analysis_options,
    analysis_options,
    dataset_source,
    exit_code,
    print_result,
    read_aws_evaluation,
)
from evaluation.errors import UserError
from evaluation.operations import OPERATIONS
from evaluation.options import BACKENDS


def add_parser(commands: Any) -> None:
    run = commands.add_parser(
        "run",
        help="dataset -> answers -> metrics -> report",
        description=(
            "Call the backend once per image (answers are cached: a rerun calls nothing), then write "
            "metrics, curves, recommended thresholds and a report into a run folder."
        ),
    )
    data = run.add_argument_group("dataset")
    data.add_argument(
        "--dataset",
        required=True,
        help="a Ground Truth manifest (.manifest/.jsonl), a CSV (image,labels), a folder of label folders, "
        "COCO JSON (for --operation boxes/faces) or text ground truth (--operation text); local or s3://",
    )
    data.add_argument(
        "--format", choices=["manifest", "csv", "folders", "coco"], help="override format detection"
    )
    data.add_argument(
        "--skip-bad-lines",
        action="store_true",
        help="skip unreadable lines (listed in the report) instead of stopping",
    )
    calls = run.add_argument_group("calls")
    calls.add_argument(
        "--operation",
        default="labels",
        choices=OPERATIONS,
        help=(
            "what is judged: labels (DetectLabels, image labels; default), boxes (DetectLabels Instances "
            "against COCO or detection-manifest boxes, COCO AP), moderation (DetectModerationLabels), "
            "text (DetectText words, image,words CSV), faces (DetectFaces boxes), face-verification "
            "(SimilarityThreshold: image,identity or image_a,image_b,same), face-search (FaceMatchThreshold "
            "for 1:N search: probes image,identity with --gallery or --collection), liveness (Face Liveness "
            "Confidence: session_id,live[,attack_type]), video-labels and video-moderation (stored videos in "
            "S3: StartLabelDetection / StartContentModeration jobs; a video,labels CSV or JSON Lines with "
            "segments)"
        ),
    )
    calls.add_argument(
        "--backend",
        default="rekognition",
        choices=BACKENDS,
        help=(
            "rekognition: call DetectLabels; replay: only stored answers, no network; "
            "local: an offline baseline model (ImageNet classes; no AWS account, pip install '.[local]'); "
            "custom-labels: DetectCustomLabels on --project-version-arn"
        ),
    )
    calls.add_argument(
        "--answers",
        metavar="FILE.jsonl",
        help='with --backend replay: answers recorded elsewhere, one JSON object a line ({"image": as the '
        'dataset names it, "response": the raw answer, "model_version"?}); each is checked like a live '
        "answer (a bad line is named and skipped), stored in the cache, then evaluated without any call",
    )
    calls.add_argument("--region", help="AWS region (default: from your AWS configuration)")
    calls.add_argument("--profile", help="AWS profile name")
    calls.add_argument("--endpoint-url", help="a Rekognition-compatible endpoint instead of AWS's")
    calls.add_argument(
        "--min-confidence",
        type=float,
        default=0.0,
        help="MinConfidence sent with every call (default 0: everything the service will return)",
    )
    calls.add_argument(
        "--max-labels", type=int, default=1000, help="MaxLabels sent with every call (default 1000)"
    )
    calls.add_argument(
        "--cache", help="response cache file (default: ~/.cache/rekognition-eval/responses.sqlite)"
    )
    calls.add_argument("--workers", type=int, default=8, help="concurrent calls (default 8)")
    production = run.add_argument_group("what production sends, and fresh answers")
    production.add_argument(
        "--request",
        metavar="FILE.yaml",
        help="the request keys production sends, as boto3 takes them: DetectLabels Features and Settings "
        "(label/category filters, IMAGE_PROPERTIES), DetectModerationLabels ProjectVersion; checked against "
        "botocore's model before any call and part of the cache key",
    )
    production.add_argument(
        "--project-version",
        metavar="ARN",
        help="with --operation moderation: the Custom Moderation adapter to evaluate (ProjectVersion)",
    )
    production.add_argument(
        "--refresh",
        action="store_true",
        help="call the service again for images already in the cache (older answers are kept by model "
        "version)",
    )
    production.add_argument(
        "--model-version",
        metavar="VERSION",
        help="evaluate the stored answers of this model version (nothing is called; default: the newest)",
    )
    production.add_argument(
        "--canary",
        type=int,
        metavar="N",
        help="first re-call a fixed, seeded sample of N cached images and stop if the model version changed",
    )
    calls.add_argument(
        "--stack-outputs",
        metavar="FILE",
        help="`pulumi stack output --json` of this project's stack (a file, or - for stdin): run as "
        "its role, in its region, read datasets/ from its bucket and upload the report to its reports/",
    )
    calls.add_argument(
        "--no-assume-role",
        dest="assume_role",
        action="store_false",
        help="with --stack-outputs: use your own credentials instead of the stack's role",
    )
    calls.add_argument("--no-upload", dest="upload", action="store_false", help="keep the report local")
    video = run.add_argument_group("stored videos (--operation video-labels / video-moderation)")
    video.add_argument(
        "--upload",
        dest="upload_videos",
        action="store_true",
        help="copy local videos to the stack bucket's datasets/videos/ (with --stack-outputs; your own "
        "credentials); without it a local video is refused: Rekognition Video reads only S3",
    )
    video.add_argument(
        "--max-concurrent-jobs",
        type=int,
        metavar="N",
        help="at most N video jobs at once (default: the account's default quota, 20)",
    )
    video.add_argument(
        "--notification-channel",
        metavar="TOPIC_ARN,ROLE_ARN,QUEUE_URL",
        help="wait for jobs on this SNS topic through its SQS queue instead of polling (default with "
        "--stack-outputs: the stack's videoTopicArn, videoNotificationRoleArn, videoQueueUrl if it has "
        "them); 'none' polls",
    )
    checks = run.add_argument_group("images and cost")
    checks.add_argument(
        "--convert",
        action="store_true",
        help="re-encode WebP, GIF, BMP, TIFF, HEIC and CMYK JPEG as RGB JPEG",
    )
    checks.add_argument(
        "--fit",
        action="store_true",
        help="shrink images over 5 MB or 10,000 px instead of rejecting them",
    )
    checks.add_argument(
        "--dry-run",
        action="store_true",
        help="check every image and the cache, print the calls still needed and their cost; call nothing",
    )
    checks.add_argument(
        "--max-cost", type=float, metavar="USD", help="refuse to start a run estimated above this"
    )
    checks.add_argument(
        "--price-table", metavar="FILE", help="your own prices.yaml (default: the packaged one)"
    )
    calls.add_argument(
        "--tps",
        type=float,
        help="at most this many calls per second (default: on AWS endpoints, the documented default quota "
        "for the operation in the region, from quotas.yaml; no limit on other endpoints)",
    )
    faces = run.add_argument_group("face operations (face-verification, face-search, liveness)")
    faces.add_argument(
        "--gallery",
        metavar="DATASET",
        help="face-search: the enrolled images (image,identity CSV, label folders or manifest), indexed "
        "into a "
        "temporary collection deleted when the run ends",
    )
    faces.add_argument(
        "--collection",
        metavar="NAME",
        help="face-search: an existing collection to search instead (read, never modified; a face's "
        "ExternalImageId is its identity)",
    )
    faces.add_argument(
        "--users", action="store_true", help="face-search: one user per identity, SearchUsersByImage"
    )
    faces.add_argument(
        "--max-faces",
        type=int,
        metavar="N",
        help="matches per search (default: the collection's size, at most 4096; pairs beyond are scored 0)",
    )
    faces.add_argument(
        "--liveness-answers",
        metavar="FILE",
        help="liveness: GetFaceLivenessSessionResults answers saved earlier (JSON Lines), used instead "
        "of calls",
    )
    add_analysis_options(run, defaults=True)
    run.set_defaults(objective=None)  # each operation's own default (fnmr-at-fmr:0.001 for faces)
    from evaluation.cli.models import add_run_options

    add_run_options(run)
    output = run.add_argument_group("output")
    output.add_argument("--out", help="run folder (default: reports/<dataset>-<time>)")
    output.add_argument(
        "--curves-csv",
        action="store_true",
        help="write the exact curves as curves.csv too (curves.parquet is always written)",
    )
    output.add_argument(
        "--reports-dir",
        default="reports",
        help="where run folders go when --out is not given (default: reports)",
    )


def run_request(args: argparse.Namespace, dataset: str, region: str | None, backend: str) -> Any:
    from evaluation.options import RunRequest

    return RunRequest(
        dataset=dataset,
        backend=backend,
        operation=args.operation,
        region=region,
        profile=args.profile,
        endpoint_url=args.endpoint_url,
        min_confidence=args.min_confidence,
        max_labels=args.max_labels,
        cache=args.cache,
        dataset_format=args.format,
        skip_bad_lines=args.skip_bad_lines,
        vocabulary=tuple(args.labels) if args.labels else None,
        workers=args.workers,
        tps=args.tps,
        convert=args.convert,
        fit=args.fit,
        max_cost=args.max_cost,
        price_table=args.price_table,
        progress=not args.quiet,
        project_version_arn=getattr(args, "project_version_arn", None),
        max_results=getattr(args, "max_results", None),
        request=args.request,
        project_version=args.project_version,
        refresh=args.refresh,
        model_version=args.model_version,
        canary=args.canary,
        max_concurrent_jobs=getattr(args, "max_concurrent_jobs", None),
        notification_channel=_channel(getattr(args, "notification_channel", None)),
        gallery=getattr(args, "gallery", None),
        collection=getattr(args, "collection", None),
        users=bool(getattr(args, "users", False)),
        max_faces=getattr(args, "max_faces", None),
        liveness_answers=getattr(args, "liveness_answers", None),
        max_runtime_s=_face_runtime(args),
        answers=getattr(args, "answers", None),
    )


def _channel(text: str | None) -> tuple[str, ...] | None:
    if not text or text.lower() == "none":
        return None
    return tuple(part.strip() for part in text.split(","))


def video_settings(args: argparse.Namespace, outputs: Any) -> dict[str, Any]:
    """--upload and the notification channel, from the command line or the stack's outputs."""
    from evaluation.errors import UserError

    settings: dict[str, Any] = {}
    if getattr(args, "upload_videos", False):
        if outputs is None:
            raise UserError(
                "--upload copies local videos to the stack's bucket: it needs --stack-outputs FILE"
            )
        settings["upload_to"] = outputs.datasets_uri + "videos/"
    given = getattr(args, "notification_channel", None)
    if given is None and outputs is not None and outputs.video_channel:
        settings["notification_channel"] = outputs.video_channel
    return settings


def _face_runtime(args: argparse.Namespace) -> float | None:
    """--max-runtime bounds a face run's temporary collection as it bounds a Custom Labels model."""
    if args.operation not in ("face-verification", "face-search") or not getattr(args, "max_runtime", None):
        return None
    from evaluation.aws.model_cost import parse_duration

    return parse_duration(args.max_runtime)


def cmd_run(args: argparse.Namespace) -> int:
    from evaluation.aws.model_guard import DeadlinePassed
    from evaluation.calls.runner import Interrupted
    from evaluation.pipeline import plan_run, run_evaluation, write_run
    from evaluation.runfolder import check_writable, default_run_dir

    if args.objective is None:
        from evaluation.operations import operation_for

        args.objective = operation_for(args.operation).default_objective
    request = run_request(args, args.dataset, args.region, args.backend)  # mistakes fail first
    options = analysis_options(args)
    if not args.dry_run:  # a folder that cannot be written is found before any call, not after all
        check_writable(args.out) if args.out else check_writable(args.reports_dir, option="--reports-dir")
    outputs, session = common.stack(args)
    region = args.region or (outputs.region if outputs else None)
    aws_evaluation = read_aws_evaluation(args.aws_evaluation, session, profile=args.profile, region=region)
    if aws_evaluation is not None:
        options = analysis_options(args, aws_evaluation)
    request = request.but(
        dataset=dataset_source(args.dataset, outputs), region=region, **video_settings(args, outputs)
    )
    custom = None
    if args.backend == "custom-labels":
        from evaluation.cli.models import CustomLabelsRun

        project_arn = outputs.project_arn if outputs else None
        custom = CustomLabelsRun.from_args(args, session=session, region=region, project_arn=project_arn)
    uploader = None
    if request.upload_to and session is not None and args.assume_role:
        import boto3  # datasets/ is written with your own credentials: the stack's role only reads it

        uploader = boto3.Session(profile_name=args.profile, region_name=region).client("s3")
    run_plan = plan_run(
        request.but(profile=None if session else args.profile),
        backend=custom.backend if custom else None,
        session=session,
        upload_s3_client=uploader,
    )
    if args.dry_run:
        print(run_plan.describe())
        verdict = cost_verdict(run_plan)
        if verdict:
            print(verdict)
        if custom:
            print(custom.describe_plan(len(run_plan.to_call), args.price_table))
        return EXIT_OK
    model = (
        custom.running(to_call=len(run_plan.to_call), max_cost=args.max_cost, price_table=args.price_table)
        if custom
        else contextlib.nullcontext()
    )
    try:
        with model:
            result = run_evaluation(run_plan, options)
    except Interrupted as stop:
        reason = "--max-runtime passed, the model was stopped" if custom and custom.deadline_passed else ""
        print(
            f"Interrupted{f' ({reason})' if reason else ''}: {stop.stats.calls} new answers were stored; "
            "run the same command again to resume.",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    except DeadlinePassed as stop:
        print(str(stop), file=sys.stderr)
        return EXIT_INTERRUPTED
    out_dir = Path(args.out) if args.out else default_run_dir(result.dataset_name, args.reports_dir)
    write_run(result, out_dir, curves_csv=args.curves_csv)
    print_result(result, out_dir)
    if outputs is not None and args.upload:
        from evaluation.aws.stack_outputs import REPORTS_PREFIX
        from evaluation.aws.upload import upload_run

        uri = upload_run(
            out_dir, session.client("s3"), bucket=outputs.bucket, prefix=REPORTS_PREFIX, files=result.files
        )
        print(f"Uploaded: {uri}")
    return exit_code(result)


def cost_verdict(run_plan: Any) -> str | None:
    """What --max-cost would do with a planned run, for a dry run: start it, or refuse it and why."""
    limit = run_plan.request.max_cost
    if limit is None:
        return None
    try:
        run_plan.check_cost()
    except UserError as refused:
        return f"--max-cost {limit:g}: the run would be refused ({refused})"
    if not run_plan.to_call or run_plan.estimate is None:
        return f"--max-cost {limit:g}: the run would start (nothing billed is called)"
    return f"--max-cost {limit:g}: the run would start (estimated USD {run_plan.estimate.usd:,.4f})"
