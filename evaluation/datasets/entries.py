"""What a format reader yields, before duplicates, bad lines and the vocabulary are handled in one place."""

from __future__ import annotations

from dataclasses import dataclass

from evaluation.datasets.types import BadLine, DatasetItem

__all__ = ["Entry", "Ignored", "Notice", "ReaderOutput"]


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
