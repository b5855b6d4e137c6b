"""The command line as tests call it: quiet, in-process, returning the exit code; the words of a `run`;
the one line a user's mistake prints; the same command in a child process with this checkout importable."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from evaluation.cli import main

REPO = Path(__file__).resolve().parents[2]


def run_cli(*args: str) -> int:
    return main(["--quiet", *args])


def run_words(
    dataset: Path | str,
    *extra: str,
    endpoint_url: str | None = None,
    cache: Path | str | None = None,
    out: Path | str | None = None,
) -> list[str]:
    """`run --dataset DATASET [--endpoint-url URL] [--cache FILE] [--out DIR] EXTRA...` as its words."""
    words = ["run", "--dataset", str(dataset)]
    for option, value in (("--endpoint-url", endpoint_url), ("--cache", cache), ("--out", out)):
        if value is not None:
            words += [option, str(value)]
    return [*words, *extra]


def one_line_error(capsys: Any) -> str:
    """What the command printed on stderr, stripped, after checking it is the one line of a user's mistake."""
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


def evaluation_command(*args: str) -> list[str]:
    """`python -m evaluation ARGS` with this interpreter (run it with env=repo_environment())."""
    return [sys.executable, "-m", "evaluation", *args]


def repo_environment() -> dict[str, str]:
    """This process's environment with the checkout first on the path, for a child process."""
    return {**os.environ, "PYTHONPATH": str(REPO)}
