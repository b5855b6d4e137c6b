"""Command line: `rekognition-eval run | report | thresholds | compare | serve | models | manifest | batch`.

main(argv) -> int. A user's mistake is one UserError: one line on stderr and exit code 2, no traceback.
Exit 0 means every image was evaluated; 1 means the report was written but some lines or images were
not evaluated (they are named in the report); 3 means a bug of ours (with its traceback); 130 means
interrupted (answers kept, rerun to resume).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import re
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from evaluation import __version__
from evaluation.errors import UserError

EXIT_OK, EXIT_INCOMPLETE, EXIT_USAGE, EXIT_BUG, EXIT_INTERRUPTED = 0, 1, 2, 3, 130

OBJECTIVE_HELP = (
    "what the recommended threshold optimises: best-f1 (default), recall-at-precision:P "
    "(highest recall with precision >= P) or precision-at-recall:R (highest precision with recall >= R); "
    "P and R between 0 and 1 (0.9 or 90%%; precision>=P and recall>=R are shorthands)"
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UserError(f"{self.prog}: {message}")


def _labels_arg(text: str) -> list[str]:
    """A comma-separated list, or @FILE with one label per line."""
    if text.startswith("@"):
        path = Path(text[1:])
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise UserError(f"--labels: cannot read {path}: {exc.strerror or exc}") from None
        labels = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    else:
        labels = [part.strip() for part in text.split(",") if part.strip()]
    if not labels:
        raise UserError("--labels: no label given")
    return labels


def _add_analysis_options(parser: argparse.ArgumentParser, *, defaults: bool) -> None:
    group = parser.add_argument_group(
        "analysis (change freely later with `report`)" if defaults else "analysis (default: the run's own)"
    )
    group.add_argument("--objective", default="best-f1" if defaults else None, help=OBJECTIVE_HELP)
    group.add_argument(
        "--min-support",
        type=int,
        default=10 if defaults else None,
        help="labels with fewer positive images are flagged low-support (default 10)",
    )
    group.add_argument(
        "--label-map", help="YAML file: dataset label -> [Rekognition names that count as a hit]"
    )
    group.add_argument(
        "--labels",
        type=_labels_arg,
        help="the labels to evaluate: A,B,C or @FILE (default: every label in the dataset)",
    )
    parents = group.add_mutually_exclusive_group()
    parents.add_argument(
        "--no-parents",
        dest="use_parents",
        action="store_false",
        default=True if defaults else None,
        help="do not count a label's Parents and Aliases as predicted",
    )
    parents.add_argument("--parents", dest="use_parents", action="store_true", help=argparse.SUPPRESS)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="rekognition-eval",
        description="Evaluate Amazon Rekognition on a labeled dataset and choose MinConfidence from data.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors on stderr")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

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
        choices=["labels", "boxes", "moderation", "text", "faces"],
        help=(
            "what is judged: labels (DetectLabels, image labels; default), boxes (DetectLabels Instances "
            "against COCO or detection-manifest boxes, COCO AP), moderation (DetectModerationLabels), "
            "text (DetectText words, image,words CSV), faces (DetectFaces boxes)"
        ),
    )
    calls.add_argument(
        "--backend",
        default="rekognition",
        choices=["rekognition", "replay", "local", "custom-labels"],
        help=(
            "rekognition: call DetectLabels; replay: only stored answers, no network; "
            "local: an offline baseline model (ImageNet classes; no AWS account, pip install '.[local]'); "
            "custom-labels: DetectCustomLabels on --project-version-arn"
        ),
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
    _add_analysis_options(run, defaults=True)
    from evaluation.cli.models import add_models_parser, add_run_options

    add_run_options(run)
    output = run.add_argument_group("output")
    output.add_argument("--out", help="run folder (default: reports/<dataset>-<time>)")
    output.add_argument(
        "--reports-dir",
        default="reports",
        help="where run folders go when --out is not given (default: reports)",
    )

    report = commands.add_parser(
        "report",
        help="recompute a run from its stored answers (no calls)",
        description=(
            "Recompute metrics, thresholds and the report of a finished run with other analysis options. "
            "Reads the run's images.csv and its response cache; makes no API call."
        ),
    )
    report.add_argument("run_dir", metavar="RUN_DIR", help="a folder written by `run` (has run.json)")
    report.add_argument("--out", help="write here instead of overwriting RUN_DIR")
    report.add_argument("--cache", help="the response cache, if it moved since the run")
    report.add_argument(
        "--aws-evaluation",
        metavar="FILE",
        help="a Custom Labels EvaluationSummary JSON (path or s3://) to put beside this run's numbers",
    )
    _add_analysis_options(report, defaults=False)

    thresholds = commands.add_parser(
        "thresholds",
        help="recommend thresholds for a run under an objective",
        description="Write thresholds.yaml for a finished run under another objective (no calls).",
    )
    thresholds.add_argument("run_dir", metavar="RUN_DIR", help="a folder written by `run` (has run.json)")
    thresholds.add_argument("--objective", required=True, help=OBJECTIVE_HELP)
    thresholds.add_argument(
        "--min-support", type=int, help="labels with fewer positives are flagged (default: the run's)"
    )
    thresholds.add_argument(
        "--out",
        help="YAML file to write; - for stdout (default: RUN_DIR/thresholds-<objective>.yaml, beside the "
        "run's own thresholds.yaml, which keeps agreeing with its report; `report --objective` redoes both)",
    )
    thresholds.add_argument("--cache", help="the response cache, if it moved since the run")

    compare = commands.add_parser(
        "compare",
        help="compare two runs on the same dataset, label by label",
        description=(
            "Compare two run folders on the same images (two backends, or two model versions): per label "
            "AP, recommended MinConfidence, precision, recall and F1 side by side, and what changed. "
            "Writes compare.html, compare.csv and compare.md."
        ),
    )
    compare.add_argument("run_a", metavar="RUN_A", help="the first run folder (the baseline)")
    compare.add_argument("run_b", metavar="RUN_B", help="the second run folder, on the same images")
    compare.add_argument("--out", help="folder to write (default: reports/compare-<RUN_A>-vs-<RUN_B>)")

    add_models_parser(commands)
    from evaluation.cli.manifest import add_manifest_parser

    add_manifest_parser(commands)

    from evaluation.cli.batch import add_batch_parser

    add_batch_parser(commands)

    serve = commands.add_parser(
        "serve",
        help="answer DetectLabels with the local model, over Rekognition's protocol",
        description=(
            "A Rekognition-compatible endpoint for offline development: boto3 pointed at it with "
            "endpoint_url gets DetectLabels answers from the local baseline model (ImageNet classes; "
            "no person class), and the service's errors for malformed requests. Ctrl-C stops it."
        ),
    )
    serve.add_argument("--port", type=int, default=8765, help="port to listen on (default 8765; 0: any)")
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)"
    )
    for sub_parser in commands.choices.values():
        sub_parser.add_argument(
            "-q", "--quiet", action="store_true", default=argparse.SUPPRESS, help="only warnings and errors"
        )
    return parser


def _configure_logging(quiet: bool) -> None:
    logging.basicConfig(
        level=logging.WARNING if quiet else logging.INFO,
        format="%(levelname)s %(message)s",
        stream=sys.stderr,
        force=True,
    )
    for noisy in ("botocore", "boto3", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _fmt(value: float | None) -> str:
    return "-" if value is None or value != value else f"{value:.3f}"


def _print_result(result, out_dir: Path, *, recomputed: bool = False) -> None:  # type: ignore[no-untyped-def]
    from evaluation.reports.recommended import confidence_text

    summary = result.summary
    images = summary["images"]
    print(f"Report: {out_dir / 'report.md'}")
    print(f"Page: {out_dir / 'report.html'}")
    calls = (
        f"no calls made now (recomputed from stored answers; the run made {summary['api_calls']})"
        if recomputed
        else f"API calls: {summary['api_calls']}; cache hits: {summary['cache_hits']}"
    )
    print(f"Images: {images['evaluated']} evaluated of {images['total']}; {calls}")
    if images["not_evaluated"] or summary["dataset"]["bad_lines"]:
        print(
            f"warning: {images['not_evaluated']} image(s) not evaluated and "
            f"{len(summary['dataset']['bad_lines'])} dataset line(s) skipped: see 'Problems' in the report",
            file=sys.stderr,
        )
    floor = summary.get("floor") or {}
    if floor.get("answers_truncated_at_max_labels"):
        print(
            f"warning: {floor['answers_truncated_at_max_labels']} answer(s) hit MaxLabels, so nothing below "
            f"confidence {confidence_text(floor['evaluated_from'])} is evaluated; "
            "raise --max-labels (at most 1000)",
            file=sys.stderr,
        )
    from evaluation.stats.thresholds import min_confidence_to_use

    best = result.global_threshold
    use = min_confidence_to_use(best.get("threshold"), best.get("threshold_low"))
    if use is not None:
        print(
            f"One MinConfidence for all labels ({summary['objective']}): {confidence_text(use)} "
            f"(precision {_fmt(best.get('precision'))}, recall {_fmt(best.get('recall'))})"
        )
    print("Per label (MinConfidence: the value to send, as in thresholds.yaml):")
    print(_labels_table(result.labels))


def _labels_table(labels: Any) -> str:
    from evaluation.reports.recommended import confidence_text
    from evaluation.stats.thresholds import min_confidence_to_use

    table = labels[["label", "support", "precision", "recall", "f1", "status"]].copy()
    uses = [
        min_confidence_to_use(t, low)
        for t, low in zip(labels["threshold"], labels["threshold_low"], strict=True)
    ]
    table.insert(2, "min_confidence", ["-" if use is None else confidence_text(use) for use in uses])
    return table.to_string(index=False, float_format=lambda value: f"{value:.3f}", na_rep="-")


def _exit_code(result) -> int:  # type: ignore[no-untyped-def]
    return EXIT_OK if result.complete else EXIT_INCOMPLETE


def _check_analysis_options(args: argparse.Namespace) -> None:
    """Mistakes in analysis options fail before the dataset is read or any call is paid for."""
    from evaluation.labelmap import LabelMap
    from evaluation.stats.thresholds import Objective

    if args.objective is not None:
        Objective.parse(args.objective)
    if args.min_support is not None and args.min_support < 0:
        raise UserError(f"--min-support must not be negative, got {args.min_support}")
    if args.label_map:
        LabelMap.load(args.label_map)


def _stack(args: argparse.Namespace) -> tuple[Any, Any]:
    """(stack outputs, boto3 session) from --stack-outputs, or (None, None)."""
    if not args.stack_outputs:
        return None, None
    import boto3

    from evaluation.aws.stack_outputs import assume_role_session, load_stack_outputs

    outputs = load_stack_outputs(args.stack_outputs)
    base = boto3.Session(profile_name=args.profile, region_name=args.region or outputs.region)
    session = assume_role_session(outputs, base_session=base) if args.assume_role else base
    return outputs, session


def _aws_evaluation(
    source: str | None, session: Any, *, profile: str | None = None, region: str | None = None
) -> Any:
    """--aws-evaluation, read before any call is paid for: a bad file fails the run at once."""
    if not source:
        return None
    from evaluation.aws.evaluation_summary import read_evaluation_summary

    s3_client = None
    if source.lower().startswith("s3://"):
        import boto3

        s3_client = (session or boto3.Session(profile_name=profile, region_name=region)).client("s3")
    return read_evaluation_summary(source, s3_client=s3_client)


def _dataset_source(text: str, outputs: Any) -> str:
    """A dataset named relative to the stack bucket's datasets/ prefix, when it is not a local path."""
    if outputs is None or text.startswith("s3://") or Path(text).exists():
        return text
    return outputs.datasets_uri + text.lstrip("/")


def _cmd_run(args: argparse.Namespace) -> int:
    from evaluation.api import evaluate, plan_run
    from evaluation.aws.model_guard import DeadlinePassed
    from evaluation.calls.runner import Interrupted
    from evaluation.reports.writer import default_run_dir

    if args.workers < 1:
        raise UserError(f"--workers must be at least 1, got {args.workers}")
    if args.tps is not None and args.tps <= 0:
        raise UserError(f"--tps must be positive, got {args.tps:g}")
    if args.max_cost is not None and args.max_cost < 0:
        raise UserError(f"--max-cost must not be negative, got {args.max_cost:g}")
    _check_analysis_options(args)
    outputs, session = _stack(args)
    region = args.region or (outputs.region if outputs else None)
    aws_evaluation = _aws_evaluation(args.aws_evaluation, session, profile=args.profile, region=region)
    custom = None
    if args.backend == "custom-labels":
        from evaluation.cli.models import CustomLabelsRun

        project_arn = outputs.project_arn if outputs else None
        custom = CustomLabelsRun.from_args(args, session=session, region=region, project_arn=project_arn)
    run_plan = plan_run(
        _dataset_source(args.dataset, outputs),
        backend=custom.backend if custom else args.backend,
        session=session,
        region=region,
        profile=None if session else args.profile,
        endpoint_url=args.endpoint_url,
        min_confidence=args.min_confidence,
        max_labels=args.max_labels,
        cache=args.cache,
        dataset_format=args.format,
        skip_bad_lines=args.skip_bad_lines,
        vocabulary=args.labels,
        workers=args.workers,
        tps=args.tps,
        convert=args.convert,
        fit=args.fit,
        price_table=args.price_table,
        operation=args.operation,
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
            result = evaluate(
                run_plan.dataset,
                planned=run_plan,
                objective=args.objective,
                min_support=args.min_support,
                use_parents=args.use_parents,
                label_map=args.label_map,
                vocabulary=args.labels,
                workers=args.workers,
                max_cost=args.max_cost,
                price_table=args.price_table,
                progress=not args.quiet,
            )
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
    if aws_evaluation is not None:
        from evaluation.aws.evaluation_summary import attach

        attach(result, aws_evaluation)
    out_dir = Path(args.out) if args.out else default_run_dir(result.dataset_name, args.reports_dir)
    result.write(out_dir)
    _print_result(result, out_dir)
    if outputs is not None and args.upload:
        from evaluation.aws.stack_outputs import REPORTS_PREFIX
        from evaluation.aws.upload import upload_run

        uri = upload_run(out_dir, session.client("s3"), bucket=outputs.bucket, prefix=REPORTS_PREFIX)
        print(f"Uploaded: {uri}")
    return _exit_code(result)


def _cmd_report(args: argparse.Namespace) -> int:
    from evaluation.api import reanalyse

    result = reanalyse(
        args.run_dir,
        cache=args.cache,
        objective=args.objective,
        min_support=args.min_support,
        use_parents=args.use_parents,
        label_map=args.label_map,
        vocabulary=args.labels,
    )
    from evaluation.aws.evaluation_summary import attach, evaluation_of

    aws_evaluation = _aws_evaluation(args.aws_evaluation, None) or evaluation_of(result)
    if aws_evaluation is not None:
        attach(result, aws_evaluation)
    out_dir = Path(args.out) if args.out else Path(args.run_dir)
    result.write(out_dir)
    _print_result(result, out_dir, recomputed=True)
    return _exit_code(result)


def _cmd_thresholds(args: argparse.Namespace) -> int:
    import yaml

    from evaluation.api import reanalyse

    result = reanalyse(args.run_dir, cache=args.cache, objective=args.objective, min_support=args.min_support)
    text = yaml.safe_dump(result.thresholds, sort_keys=False, allow_unicode=True)
    if args.out == "-":
        sys.stdout.write(text)
        return EXIT_OK
    if args.out:
        target = Path(args.out)
    else:  # beside the run's own thresholds.yaml, which must keep agreeing with its report
        slug = re.sub(r"[^A-Za-z0-9.]+", "-", result.summary["objective"]).strip("-")
        target = Path(args.run_dir) / f"thresholds-{slug}.yaml"
    target.write_text(text, encoding="utf-8")
    print(f"Thresholds ({result.summary['objective']}): {target}")
    print(_labels_table(result.labels))
    return EXIT_OK


def _cmd_compare(args: argparse.Namespace) -> int:
    from evaluation.reports.compare import write_compare

    out_dir, counts = write_compare(args.run_a, args.run_b, args.out)
    print(f"Comparison: {out_dir / 'compare.html'} (and compare.csv, compare.md)")
    print(
        f"{counts['compared']} label(s) in both runs: AP better in B for {counts['better_in_b']}, "
        f"better in A for {counts['better_in_a']}, about the same for {counts['same']}; "
        f"recommended MinConfidence raised for {counts['thresholds_raised']}, "
        f"lowered for {counts['thresholds_lowered']}"
    )
    for warning in counts["warnings"]:
        print(f"warning: {warning}", file=sys.stderr)
    return EXIT_OK


def _cmd_serve(args: argparse.Namespace) -> int:
    from evaluation.server.serve import build_server

    if not 0 <= args.port <= 65535:
        raise UserError(f"--port must be within 0 and 65535, got {args.port}")
    try:
        server = build_server(host=args.host, port=args.port)
    except OSError as exc:
        raise UserError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from None
    print(
        f"Serving DetectLabels ({server.handler.model.version}) at {server.url}\n"
        f"  boto3.client('rekognition', endpoint_url='{server.url}', region_name='us-east-1')\n"
        "Ctrl-C to stop.",
        flush=True,
    )
    server.start()
    try:
        threading.Event().wait()  # until Ctrl-C; requests are served on the server's threads
    except KeyboardInterrupt:
        print("Stopped.", file=sys.stderr)
    finally:
        server.stop()
    return EXIT_OK


def _cmd_models(args: argparse.Namespace) -> int:
    from evaluation.cli.models import cmd_models

    return cmd_models(args)


def _cmd_manifest(args: argparse.Namespace) -> int:
    from evaluation.cli.manifest import cmd_manifest

    return cmd_manifest(args)


def _cmd_batch(args: argparse.Namespace) -> int:
    from evaluation.cli.batch import cmd_batch

    return cmd_batch(args)


COMMANDS = {
    "run": _cmd_run,
    "report": _cmd_report,
    "thresholds": _cmd_thresholds,
    "compare": _cmd_compare,
    "serve": _cmd_serve,
    "batch": _cmd_batch,
    "models": _cmd_models,
    "manifest": _cmd_manifest,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        _configure_logging(args.quiet)
        if not args.command:
            parser.print_help()
            return EXIT_USAGE
        return COMMANDS[args.command](args)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `rekognition-eval ... | head`: the reader left, nothing is wrong
        sys.stderr.close()
        return EXIT_OK
    except Exception as error:
        message = _aws_setup_problem(error)
        if message is not None:
            print(f"error: {message}", file=sys.stderr)
            return EXIT_USAGE
        import traceback

        traceback.print_exc()  # a bug of ours: the traceback is what a report of it needs
        print(
            "error: an unexpected failure (a bug in rekognition-eval, not your input); answers received "
            "so far are kept in the cache",
            file=sys.stderr,
        )
        return EXIT_BUG


def _aws_setup_problem(error: Exception) -> str | None:
    """AWS set-up mistakes (no region, no credentials, unknown profile) are the user's to fix: one line."""
    from botocore.exceptions import (
        NoCredentialsError,
        NoRegionError,
        PartialCredentialsError,
        ProfileNotFound,
    )

    if isinstance(error, NoRegionError):
        return "no AWS region: pass --region, or set AWS_REGION (or a region in your AWS profile)"
    if isinstance(error, (NoCredentialsError, PartialCredentialsError)):
        return f"{error}: configure AWS credentials (a profile, environment variables, or SSO)"
    if isinstance(error, ProfileNotFound):
        return f"{error}: check --profile or AWS_PROFILE"
    return None


if __name__ == "__main__":
    sys.exit(main())
