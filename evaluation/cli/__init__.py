"""Command line: `rekognition-eval run | report | thresholds | compare | check | demo | serve | models |
manifest | batch`.

main(argv) -> int. A user's mistake is one UserError: one line on stderr and exit code 2, no traceback.
Exit 0 means every image was evaluated; 1 means the report was written but some lines or images were
not evaluated (they are named in the report); 3 means a bug of ours (with its traceback); 4 means `check`
found a deployed threshold whose target no longer holds; 130 means interrupted (answers kept, rerun to
resume), by Ctrl-C, SIGTERM or SIGHUP alike.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import logging
import signal
import sys
import threading
from collections.abc import Iterator, Sequence

from evaluation.calls.redact import scrub
from evaluation.cli import batch, check, compare, demo, faces, manifest, models, report, run, serve
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
    "check": check.cmd_check,
    "demo": demo.cmd_demo,
    "serve": serve.cmd_serve,
    "batch": batch.cmd_batch,
    "models": models.cmd_models,
    "manifest": manifest.cmd_manifest,
    "faces": faces.cmd_faces,
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
    check.add_parser(commands)
    demo.add_parser(commands)
    models.add_models_parser(commands)
    manifest.add_manifest_parser(commands)
    batch.add_batch_parser(commands)
    serve.add_parser(commands)
    faces.add_faces_parser(commands)
    for sub_parser in commands.choices.values():
        sub_parser.add_argument(
            "-q", "--quiet", action="store_true", default=argparse.SUPPRESS, help="only warnings and errors"
        )
    return parser


class MessageFormatter(logging.Formatter):
    """One style for every message on stderr: "error: ...", "warning: ...", progress as plain lines."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.exc_info:
            message += "\n" + self.formatException(record.exc_info)
        if record.levelno >= logging.ERROR:
            return f"error: {message}"
        if record.levelno >= logging.WARNING:
            return f"warning: {message}"
        return message


def _configure_logging(quiet: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(MessageFormatter())
    logging.basicConfig(level=logging.WARNING if quiet else logging.INFO, handlers=[handler], force=True)
    for noisy in ("botocore", "boto3", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # third-party chatter on a first run ("Matplotlib is building the font cache") is not ours to show
    for chatty in ("matplotlib", "PIL"):
        logging.getLogger(chatty).setLevel(logging.ERROR)


# Signals that end a command the way Ctrl-C does (`kill`, `timeout`, a cancelled CI job, a container
# stop, a closed terminal): answers are kept and whatever this run started is stopped on the way out.
TERMINATING_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))


def _as_interrupt(signum: int, frame: object) -> None:
    print(f"{signal.Signals(signum).name} received: stopping as Ctrl-C would.", file=sys.stderr, flush=True)
    raise KeyboardInterrupt


@contextlib.contextmanager
def _terminating_signals_interrupt() -> Iterator[None]:
    """SIGTERM and SIGHUP raise KeyboardInterrupt in the main thread while a command runs."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {number: signal.signal(number, _as_interrupt) for number in TERMINATING_SIGNALS}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


@contextlib.contextmanager
def _fewer_collections() -> Iterator[None]:
    """Reading a million answers allocates containers by the hundred million, nearly all short-lived or
    kept to the end; at the collector's default thresholds it scans the kept ones over and over (10% of
    a replay of 20,000 answers). The caller's thresholds come back afterwards (main runs in notebooks)."""
    previous = gc.get_threshold()
    gc.set_threshold(100_000, 50, 100)
    try:
        yield
    finally:
        gc.set_threshold(*previous)


def main(argv: Sequence[str] | None = None) -> int:
    with _terminating_signals_interrupt(), _fewer_collections():
        return _main(argv)


def _main(argv: Sequence[str] | None = None) -> int:
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
