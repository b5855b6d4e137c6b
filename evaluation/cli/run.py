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
            "text (DetectText words, image,words CSV), faces (DetectFaces boxes)"
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
    add_analysis_options(run, defaults=True)
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
        answers=getattr(args, "answers", None),
    )


def cmd_run(args: argparse.Namespace) -> int:
    from evaluation.aws.model_guard import DeadlinePassed
    from evaluation.calls.runner import Interrupted
    from evaluation.pipeline import plan_run, run_evaluation, write_run
    from evaluation.runfolder import check_writable, default_run_dir

    request = run_request(args, args.dataset, args.region, args.backend)  # mistakes fail first
    options = analysis_options(args)
    if not args.dry_run:  # a folder that cannot be written is found before any call, not after all
        check_writable(args.out) if args.out else check_writable(args.reports_dir, option="--reports-dir")
    outputs, session = common.stack(args)
    region = args.region or (outputs.region if outputs else None)
    aws_evaluation = read_aws_evaluation(args.aws_evaluation, session, profile=args.profile, region=region)
    if aws_evaluation is not None:
        options = analysis_options(args, aws_evaluation)
    request = request.but(dataset=dataset_source(args.dataset, outputs), region=region)
    custom = None
    if args.backend == "custom-labels":
        from evaluation.cli.models import CustomLabelsRun

        project_arn = outputs.project_arn if outputs else None
        custom = CustomLabelsRun.from_args(args, session=session, region=region, project_arn=project_arn)
    run_plan = plan_run(
        request.but(profile=None if session else args.profile),
        backend=custom.backend if custom else None,
        session=session,
    )
    if args.dry_run:
        print(run_plan.describe())
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

        uri = upload_run(out_dir, session.client("s3"), bucket=outputs.bucket, prefix=REPORTS_PREFIX)
        print(f"Uploaded: {uri}")
    return exit_code(result)
