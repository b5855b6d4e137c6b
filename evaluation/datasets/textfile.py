"""Ground truth for text in images (DetectText): the words of each image, and optionally its lines' boxes.

Two shapes, told apart from the label formats by their columns and keys:

- CSV with the header `image,words`: `words` is the text the image shows (any spacing; an empty field
  means the image has no text). No boxes, so words are matched per image, never lines.
- JSON Lines with `source-ref` and `lines`: a list of `{"text": "MAIN ST", "box": {"left", "top",
  "width", "height"}}`, the box as ratios of the image like Rekognition's (optional per line); or
  `words` as in the CSV. Lines with boxes can be paired with detected LINEs for a character error rate.

How words are compared (case, punctuation) is the text operation's business, not the reader's: the text
is kept as written.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterator
from typing import Any

from evaluation.datasets.entries import Entry, ReaderOutput, json_line, read_json_lines
from evaluation.datasets.sources import resolve_image, split_lines
from evaluation.datasets.types import BadLine, DatasetItem, GroundTruthText

__all__ = ["looks_like_text_csv", "looks_like_text_manifest", "read_text_csv", "read_text_manifest"]

TEXT_HEADER = ("image", "words")


def looks_like_text_csv(text: str) -> bool:
    first = next(csv.reader(split_lines(text)[:1]), [])
    return tuple(name.strip().lower() for name in first[:2]) == TEXT_HEADER


def looks_like_text_manifest(text: str) -> bool:
    """A manifest line with `lines` or `words` and no Ground Truth label attribute (`K-metadata`).

    Decided by the first line that parses among the first 100 (a broken first line is a bad line of
    whichever kind of manifest the rest is)."""
    for raw in text.split("\n")[:100]:
        if raw.strip():
            try:
                record = json.loads(raw)
            except (json.JSONDecodeError, RecursionError):
                continue
            return (
                isinstance(record, dict)
                and ("lines" in record or "words" in record)
                and not any(key.endswith("-metadata") for key in record)
            )
    return False


def read_text_csv(text: str, *, source: str, folder: str) -> Iterator[ReaderOutput]:
    reader = csv.reader(split_lines(text))
    next(reader, None)
    for number, row in enumerate(reader, start=2):
        if not any(field.strip() for field in row):
            continue
        if len(row) < 2:
            yield BadLine(source, number, "expected the columns image,words (write 'image,' for no text)")
            continue
        try:
            image = resolve_image(row[0], folder)
        except ValueError as problem:
            yield BadLine(source, number, str(problem))
            continue
        words = row[1].strip()
        lines = (GroundTruthText(words),) if words else ()
        yield Entry(DatasetItem(image, frozenset(), f"{source}:{number}", text=lines), number)


def read_text_manifest(text: str, *, source: str, folder: str) -> Iterator[ReaderOutput]:
    return read_json_lines(text, source=source, parse=lambda raw, where: _parse(raw, where, folder))


def _parse(raw: str, where: str, folder: str) -> DatasetItem:
    record = json_line(raw)
    if not isinstance(record, dict) or not isinstance(record.get("source-ref"), str):
        raise ValueError('expected a JSON object with a "source-ref" string')
    image = resolve_image(record["source-ref"], folder)
    if "lines" in record:
        if not isinstance(record["lines"], list):
            raise ValueError('"lines" must be a list of {"text", "box"?}')
        lines = tuple(_line(entry, position) for position, entry in enumerate(record["lines"], start=1))
    else:
        words = record.get("words")
        if not isinstance(words, str):
            raise ValueError('"words" must be a string (the text the image shows)')
        lines = (GroundTruthText(words.strip()),) if words.strip() else ()
    return DatasetItem(image, frozenset(), where, text=tuple(line for line in lines if line.text))


def _line(entry: Any, position: int) -> GroundTruthText:
    if not isinstance(entry, dict) or not isinstance(entry.get("text"), str):
        raise ValueError(f'lines[{position}]: expected {{"text": ..., "box"?: ...}}')
    box = entry.get("box")
    if box is None:
        return GroundTruthText(entry["text"].strip())
    if not isinstance(box, dict):
        raise ValueError(f'lines[{position}]: "box" must be an object with left, top, width, height')
    values = []
    for name in ("left", "top", "width", "height"):
        value = box.get(name, box.get(name.capitalize()))
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ValueError(f'lines[{position}]: box "{name}" must be a number (a ratio of the image)')
        values.append(float(value))
    try:
        return GroundTruthText(entry["text"].strip(), (values[0], values[1], values[2], values[3]))
    except ValueError as problem:
        raise ValueError(f"lines[{position}]: {problem}") from None
