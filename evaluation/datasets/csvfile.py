"""CSV datasets: a header `image,labels`, then one image per row.

`labels` holds the image's labels separated by `;` (trimmed; empty parts dropped), and an empty field
means "none of the labels": the image is a negative for every label. Columns after the first two are not
ground truth (a spreadsheet can keep notes beside the data); they are kept per item as its attributes,
so a run can be sliced by them (`--slice camera`). Image paths are relative to the CSV's folder,
absolute, or s3:// URIs. A row whose fields are all empty is skipped like a blank line (spreadsheets
write those at the end).
"""

from __future__ import annotations

import csv
import dataclasses
from collections.abc import Iterator

from evaluation.datasets.entries import Entry, ReaderOutput
from evaluation.datasets.sources import resolve_image, split_lines
from evaluation.datasets.types import BadLine, DatasetItem
from evaluation.errors import DatasetError

__all__ = ["HEADER", "LABEL_SEPARATOR", "read_csv"]

HEADER = ("image", "labels")
LABEL_SEPARATOR = ";"


def read_csv(text: str, *, source: str, folder: str) -> Iterator[ReaderOutput]:
    """Parse a CSV's text; `source` names it in messages, `folder` resolves relative image paths.

    A bad header stops the load (no row can be read without it); a bad row is a bad line. A quoted note
    in an extra column may span lines (spreadsheets write those), but no image path or label holds a line
    break: such a row is an unclosed quote, reported at its first line, and reading restarts on the line
    after it, so one stray quote never swallows the rows that follow.
    """
    lines = split_lines(text)  # at \n only: a label may hold U+2028 or \x1c, which are not line ends
    header = _read_header(csv.reader(lines[:1]), source)
    _check_header(header, source)
    start = 1  # index in `lines` where the current reader began
    reader = csv.reader(iter(lines[start:]), strict=True)
    while True:
        first_line = start + reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as err:
            # strict parsing: an unclosed quote anywhere (a notes column too) ends here, not at the end of
            # the file with every later row swallowed into one field
            yield BadLine(source, first_line, f"malformed CSV: {err} (an unclosed quote?)")
            start = first_line
            reader = csv.reader(iter(lines[start:]), strict=True)
            continue
        if any(("\n" in field or "\r" in field) for field in row[: len(HEADER)]):
            yield BadLine(source, first_line, "unclosed quote: the row runs onto the next line")
            start = first_line  # 0-based index of the line after the bad one
            reader = csv.reader(iter(lines[start:]), strict=True)
            continue
        if not any(field.strip() for field in row):
            continue
        try:
            item = _parse_row(row, f"{source}:{first_line}", folder)
            extra = tuple(
                (name.strip(), value.strip())
                for name, value in zip(header[len(HEADER) :], row[len(HEADER) :], strict=False)
                if name.strip()
            )
            yield Entry(dataclasses.replace(item, attributes=extra) if extra else item, first_line)
        except ValueError as problem:
            yield BadLine(source, first_line, str(problem))


def _read_header(reader: Iterator[list[str]], source: str) -> list[str]:
    try:
        return next(reader)
    except StopIteration:
        raise DatasetError(f"{source}: empty file; expected a header line '{','.join(HEADER)}'") from None
    except csv.Error as err:
        raise DatasetError(f"{source}:1: malformed CSV header: {err}") from err


def _check_header(header: list[str], source: str) -> None:
    names = tuple(name.strip().lower() for name in header[: len(HEADER)])
    if names != HEADER:
        found = ",".join(header)
        raise DatasetError(
            f"{source}:1: the header must start with the columns '{','.join(HEADER)}' "
            f"(then any others); found '{found[:80]}'"
        )


def _parse_row(row: list[str], where: str, folder: str) -> DatasetItem:
    if len(row) < len(HEADER):
        raise ValueError(
            f"expected at least {len(HEADER)} columns (image,labels), found {len(row)}; "
            "write 'image,' for an image with none of the labels"
        )
    image_text, labels_text = row[0], row[1]
    image = resolve_image(image_text, folder)
    labels = frozenset(label.strip() for label in labels_text.split(LABEL_SEPARATOR) if label.strip())
    return DatasetItem(image, labels, where)
