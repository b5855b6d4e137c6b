"""CSV datasets: a header `image,labels`, then one image per row.

`labels` holds the image's labels separated by `;` (trimmed; empty parts dropped), and an empty field
means "none of the labels": the image is a negative for every label. Columns after the first two are
ignored, so a spreadsheet can keep notes beside the data. Image paths are relative to the CSV's folder,
absolute, or s3:// URIs. A row whose fields are all empty is skipped like a blank line (spreadsheets
write those at the end).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

from evaluation.datasets.entries import Entry, ReaderOutput
from evaluation.datasets.sources import resolve_image
from evaluation.datasets.types import BadLine, DatasetItem
from evaluation.errors import DatasetError

__all__ = ["HEADER", "LABEL_SEPARATOR", "read_csv"]

HEADER = ("image", "labels")
LABEL_SEPARATOR = ";"


def read_csv(text: str, *, source: str, folder: str) -> Iterator[ReaderOutput]:
    """Parse a CSV's text; `source` names it in messages, `folder` resolves relative image paths.

    A bad header stops the load (no row can be read without it); a bad row is a bad line.
    """
    reader = csv.reader(io.StringIO(text, newline=""))
    header = _read_header(reader, source)
    _check_header(header, source)
    while True:
        first_line = reader.line_num + 1  # a quoted field may span lines: report where the row starts
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as err:
            raise DatasetError(f"{source}:{first_line}: malformed CSV: {err}") from err
        if not any(field.strip() for field in row):
            continue
        try:
            yield Entry(_parse_row(row, f"{source}:{first_line}", folder), first_line)
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
    if "\n" in row[0] or "\r" in row[0]:
        raise ValueError("the image path spans several lines (an unclosed quote?)")
    if len(row) < len(HEADER):
        raise ValueError(
            f"expected at least {len(HEADER)} columns (image,labels), found {len(row)}; "
            "write 'image,' for an image with none of the labels"
        )
    image_text, labels_text = row[0], row[1]
    image = resolve_image(image_text, folder)
    labels = frozenset(label.strip() for label in labels_text.split(LABEL_SEPARATOR) if label.strip())
    return DatasetItem(image, labels, where)
