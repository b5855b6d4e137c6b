"""`rekognition-eval batch submit | status | ingest`: the command line of evaluation/batch.py.

Kept beside cli.py (which registers it) so the sub-commands' options and printing live in one place; the
logic itself is in evaluation/batch.py.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from evaluation.errors import UserError


def add_batch_parser(commands: Any) -> None:
    """The `batch` command and its three sub-commands, on the CLI's sub-command parsers."""
    from evaluation.cli.common import add_analysis_options

    batch = commands.add_parser(
        "batch",
        help="run DetectLabels on a whole dataset inside AWS (Step Functions), then analyse it here",
        description=(
            "For datasets too large for one machine: `submit` starts the stack's batch state machine "
            "(Pulumi config `batch: true`) on a dataset whose images are under datasets/ of the stack's "
            "bucket, `status` shows its progress, and `ingest` stores every answer in the local response "
            "cache under the key a local run uses, then writes the run folder as `run` would."
        ),
    )
    steps = batch.add_subparsers(dest="batch_command", metavar="STEP", parser_class=type(batch))
    steps.required = True

    submit = steps.add_parser(
        "submit",
        help="upload the dataset's item list and start an execution",
        description=(
            "Check that every image is under datasets/ of the stack's bucket, leave out images already "
            "answered in the local cache, upload the item list (and a local manifest or CSV) under "
            "cache/batch/, and start the batch state machine. Prints the execution ARN and its console page."
        ),
    )
    submit.add_argument(
        "--dataset", required=True, help="manifest (.manifest/.jsonl) or CSV, local or s3://; images in S3"
    )
    submit.add_argument("--format", help="override format detection (manifest, csv, folders, ...)")
    submit.add_argument(
        "--skip-bad-lines", action="store_true", help="skip unreadable lines instead of stopping"
    )
    submit.add_argument(
        "--cache", help="response cache whose answers need no call (default: ~/.cache/rekognition-eval/...)"
    )
    submit.add_argument(
        "--all",
        dest="skip_cached",
        action="store_false",
        help="submit every image, even those already cached",
    )
    _add_aws_options(submit, stack_required=True)

    status = steps.add_parser(
        "status",
        help="an execution's state and how many images are done",
        description="Show an execution's status and its Map Run's item counts (no change to anything).",
    )
    status.add_argument("execution_arn", metavar="EXECUTION_ARN")
    _add_aws_options(status, stack_required=False)

    ingest = steps.add_parser(
        "ingest",
        help="store a finished execution's answers in the local cache and write its run folder",
        description=(
            "Read the execution's results (ResultWriter's files under cache/batch/results/) into the local "
            "response cache, keyed exactly as a local run keys them; then, with the dataset (the one "
            "`submit` recorded, or --dataset), write the run folder: images the batch could not answer "
            "appear with their error, as in any run."
        ),
    )
    ingest.add_argument("execution_arn", metavar="EXECUTION_ARN")
    ingest.add_argument(
        "--cache", help="response cache to store the answers in (default: ~/.cache/rekognition-eval/...)"
    )
    ingest.add_argument("--dataset", help="the dataset, if not the one `batch submit` recorded")
    ingest.add_argument("--format", help="override format detection (manifest, csv, folders, ...)")
    ingest.add_argument(
        "--skip-bad-lines", action="store_true", help="skip unreadable lines instead of stopping"
    )
    ingest.add_argument("--no-run", dest="write_run", action="store_false", help="only fill the cache")
    ingest.add_argument("--out", help="run folder (default: reports/<dataset>-<time>)")
    ingest.add_argument(
        "--reports-dir", default="reports", help="where run folders go when --out is not given"
    )
    ingest.add_argument(
        "--price-table", metavar="FILE", help="your own prices.yaml (default: the packaged one)"
    )
    _add_aws_options(ingest, stack_required=False)
    add_analysis_options(ingest, defaults=True)


def _add_aws_options(parser: argparse.ArgumentParser, *, stack_required: bool) -> None:
    aws = parser.add_argument_group("AWS")
    aws.add_argument(
        "--stack-outputs",
        metavar="FILE",
        required=stack_required,
        help="`pulumi stack output --json` of this project's stack (a file, or - for stdin): act as its role",
    )
    aws.add_argument("--profile", help="AWS profile name")
    aws.add_argument("--region", help="AWS region (default: the stack's, or the execution's)")
    aws.add_argument(
        "--no-assume-role",
        dest="assume_role",
        action="store_false",
        help="with --stack-outputs: use your own credentials instead of the stack's role",
    )


def cmd_batch(args: argparse.Namespace) -> int:
    return {"submit": _submit, "status": _status, "ingest": _ingest}[args.batch_command](args)


def _session(args: argparse.Namespace, region: str | None) -> tuple[Any, Any]:
    """(stack outputs or None, boto3 session): the stack's role when --stack-outputs is given."""
    from evaluation.cli import common

    return common.stack(args, region, own_session=True)


def _submit(args: argparse.Namespace) -> int:
    from evaluation.aws.batch import submit
    from evaluation.aws.stack_outputs import STATE_MACHINE_ARN
    from evaluation.calls.cache import default_cache_path
    from evaluation.cli.common import EXIT_OK, dataset_source
    from evaluation.datasets import load_dataset

    outputs, session = _session(args, None)
    if not outputs.state_machine_arn:
        raise UserError(
            f"the stack has no batch state machine (stack output {STATE_MACHINE_ARN}): "
            "`pulumi config set batch true`, `pulumi up`, then save the outputs again"
        )
    region = args.region or outputs.region
    s3 = session.client("s3", region_name=region)
    source = dataset_source(args.dataset, outputs)
    dataset = load_dataset(source, format=args.format, skip_bad_lines=args.skip_bad_lines, s3_client=s3)
    cache_path = (Path(args.cache) if args.cache else default_cache_path()) if args.skip_cached else None
    submission = submit(
        dataset,
        bucket=outputs.bucket,
        state_machine_arn=outputs.state_machine_arn,
        sfn=session.client("stepfunctions", region_name=region),
        s3=s3,
        cache_path=cache_path,
        skip_bad_lines=args.skip_bad_lines,
    )
    if submission.execution is None:
        print(
            f"Every image of {dataset.source} is already answered in {cache_path}: nothing to submit.\n"
            f"Analyse them with: rekognition-eval run --backend replay --dataset {args.dataset}"
        )
        return EXIT_OK
    stack = f" --stack-outputs {args.stack_outputs}"
    print(
        f"Submitted {submission.images:,} image(s) of {dataset.source}"
        + (
            f" ({submission.already_cached:,} already answered in the cache left out)"
            if submission.already_cached
            else ""
        )
    )
    print(f"Execution: {submission.execution.arn}")
    print(f"Console: {submission.execution.console_url}")
    print(f"Items: {submission.items_uri}")
    print(f"Progress: rekognition-eval batch status {submission.execution.arn}{stack}")
    print(f"When it has finished: rekognition-eval batch ingest {submission.execution.arn}{stack}")
    return EXIT_OK


def _status(args: argparse.Namespace) -> int:
    from evaluation.aws.batch import ExecutionRef, batch_status
    from evaluation.cli.common import EXIT_OK

    ref = ExecutionRef.parse(args.execution_arn)
    _, session = _session(args, ref.region)
    status = batch_status(session.client("stepfunctions", region_name=ref.region), ref.arn)
    print("\n".join(status.describe()))
    return EXIT_OK


def _ingest(args: argparse.Namespace) -> int:
    from evaluation.aws.batch import ExecutionRef, ingest, recorded_dataset
    from evaluation.calls.cache import ResponseCache, default_cache_path
    from evaluation.cli.common import EXIT_OK, analysis_options, dataset_source, exit_code, print_result
    from evaluation.options import RunRequest
    from evaluation.pipeline import evaluate_batch, write_run
    from evaluation.runfolder import default_run_dir

    options = analysis_options(args)
    ref = ExecutionRef.parse(args.execution_arn)
    outputs, session = _session(args, ref.region)
    s3 = session.client("s3", region_name=ref.region)
    cache_path = Path(args.cache) if args.cache else default_cache_path()
    with ResponseCache(cache_path) as store:
        ingested = ingest(session.client("stepfunctions", region_name=ref.region), s3, ref.arn, store)
    print(
        f"Ingested {ingested.stored:,} answer(s) from {ingested.result_files} result file(s) into "
        f"{cache_path}; {len(ingested.failures):,} image(s) failed in the batch"
        + (f"; {ingested.pending:,} not done" if ingested.pending else "")
    )
    request = f"--min-confidence {ingested.min_confidence:g} --max-labels {ingested.max_labels}"
    recorded = recorded_dataset(ingested)
    dataset, dataset_format, skip_bad_lines = (
        (dataset_source(args.dataset, outputs), args.format, args.skip_bad_lines)
        if args.dataset
        else recorded or (None, None, False)
    )
    if not args.write_run or not dataset:
        print(
            "Analyse them with: rekognition-eval run --backend replay --dataset DATA "
            f"--cache {cache_path} {request}"
        )
        return EXIT_OK
    request = RunRequest(
        dataset=dataset,
        backend="replay",
        cache=cache_path,
        dataset_format=dataset_format,
        skip_bad_lines=skip_bad_lines,
        vocabulary=tuple(args.labels) if args.labels else None,
        price_table=args.price_table,
        progress=not args.quiet,
    )
    result = evaluate_batch(ingested, request, options, s3_client=s3)
    out_dir = Path(args.out) if args.out else default_run_dir(result.dataset_name, args.reports_dir)
    write_run(result, out_dir)
    print_result(result, out_dir)
    print(f"Reanalyse with: rekognition-eval report {out_dir}; the answers are also found by `run {request}`")
    return exit_code(result)
