"""Command line: `rekognition-eval run | report | thresholds | compare | serve | models | manifest | batch`.

main(argv) -> int. A user's mistake is one UserError: one line on stderr and exit code 2, no traceback.
Exit 0 means every image was evaluated; 1 means the report was written but some lines or images were
not evaluated (they are named in the report); 3 means a bug of ours (with its traceback); 130 means
interrupted (answers kept, rerun to resume).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from evaluation.calls.redact import scrub
from evaluation.cli import batch, compare, manifest, models, report, run, serve
from evaluation.cli.common import (
    EXIT_BUG,
    EXIT_INCOMPLETE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_TARGET_BROKEN,
    EXIT_USAGE,
    Parser,
)
from evaluation.errors import UserError
from evaluation.version import __version__

__all__ = [
    "EXIT_BUG",
    "EXIT_INCOMPLETE",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_TARGET_BROKEN",
    "EXIT_USAGE",
    "build_parser",
    "main",
]

COMMANDS = {
    "run": run.cmd_run,
    "report": report.cmd_report,
    "thresholds": report.cmd_thresholds,
    "compare": compare.cmd_compare,
    "serve": serve.cmd_serve,
    "batch": batch.cmd_batch,
    "models": models.cmd_models,
    "manifest": manifest.cmd_manifest,
}


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="rekognition-eval",
        description="Evaluate Amazon Rekognition on a labeled dataset and choose MinConfidence from data.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors on stderr")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)

    run.add_parser(commands)
    report.add_parsers(commands)
    compare.add_parser(commands)
    models.add_models_parser(commands)
    manifest.add_manifest_parser(commands)
    batch.add_batch_parser(commands)
    serve.add_parser(commands)
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
        print(f"error: {scrub(str(error))}", file=sys.stderr)
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
            print(f"error: {scrub(message)}", file=sys.stderr)
            return EXIT_USAGE
        import traceback

        # a bug of ours: the traceback is what a report of it needs (never an endpoint's credentials)
        print(scrub(traceback.format_exc()), file=sys.stderr, end="")
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
