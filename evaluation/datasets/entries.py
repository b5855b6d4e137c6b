"""What a format reader yields, before duplicates, bad lines and the vocabulary are handled in one place."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from evaluation.datasets.types import BadLine, DatasetItem

__all__ = ["Entry", "Ignored", "Notice", "ReaderOutput", "json_line", "read_json_lines"]


@dataclass(frozen=True)
class Entry:
    """A parsed item with the line it came from (0 when not line-based), for duplicate messages."""

    item: DatasetItem
    line: int = 0
    machine_labeled: bool = False


@dataclass(frozen=True)
class Ignored:
    """A file that is not an item and not an error either: a README beside the images of a folders dataset.

    Listed in `Dataset.ignored_files` so nothing disappears silently; it never stops a load, and it is not
    a bad line, which would mark the dataset as read only in part.
    """

    path: str


@dataclass(frozen=True)
class Notice:
    """Something a reader found and did not use, which a person should hear about (a warning): kept in
    `Dataset.warnings` and logged, never an error."""

    text: str


ReaderOutput = Entry | BadLine | Ignored | Notice


def json_line(raw: str) -> Any:
    """One JSON Lines record; a line that is not JSON (or nests too deeply to read) is a ValueError."""
    try:
        return json.loads(raw)
    except json.JSONDecodeError as err:
        raise ValueError(f"invalid JSON: {err.msg} (column {err.colno})") from None
    except RecursionError:
        raise ValueError("invalid JSON: nested too deeply to read") from None


def read_json_lines(
    text: str, *, source: str, parse: Callable[[str, str], DatasetItem]
) -> Iterator[ReaderOutput]:
    """Every non-empty line through `parse(raw, "source:line")`; a ValueError makes that line a bad line.
    Lines end at \n only (str.splitlines would also cut at U+2028 and friends inside a label)."""
    for number, raw in enumerate(text.split("\n"), start=1):
        if not raw.strip():
            continue
        try:
            yield Entry(parse(raw, f"{source}:{number}"), number)
        except ValueError as problem:
            yield BadLine(source, number, str(problem))
