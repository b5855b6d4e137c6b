"""The one error type for a user's mistake: the CLI prints its message on one line and exits 2; and the
reading of a user's YAML file, whose every failure is such a mistake."""

from __future__ import annotations

from pathlib import Path
from typing import Any


class UserError(Exception):
    """A mistake the user can fix (bad path, bad option, malformed input); never a bug of ours."""


class DatasetError(UserError):
    """A dataset file that cannot be read; the message names the file and, where known, the line."""


def read_yaml_file(path: str | Path, where: str) -> Any:
    """The document in a user's YAML file (None when empty); a file that cannot be read or parsed is a
    UserError starting with `where` (the option and the path, e.g. "--costs costs.yaml")."""
    import yaml

    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise UserError(f"{where}: cannot read it: {reason}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = " ".join(str(getattr(exc, "problem", None) or exc).split())
        raise UserError(f"{where}: not YAML{at}: {problem}") from None
