"""The command line as tests call it: quiet, in-process, returning the exit code."""

from __future__ import annotations

from evaluation.cli import main


def run_cli(*args: str) -> int:
    return main(["--quiet", *args])
