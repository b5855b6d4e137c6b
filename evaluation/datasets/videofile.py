"""Ground truth for stored videos (Rekognition Video), in two shapes told apart by their columns and keys:

- CSV with the header `video,labels`: the labels present anywhere in the video, separated by `;` (an
  empty field: none of the labels, a negative video). Only video-level metrics can be computed.
- JSON Lines with `video` and `segments`: `{"video": uri, "segments": [{"label", "start_ms", "end_ms"}]}`,
  the times in milliseconds from the start of the video; an empty list is a video without any label.
  The video's labels are its segments' labels, so per-video and per-segment metrics both apply.

Video paths resolve like image paths (relative to the dataset's folder, absolute, or s3://); the service
reads only S3, which the run checks (and `--upload` copies local videos to the stack's bucket).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from typing import Any

from evaluation.datasets.entries import Entry, ReaderOutput
from evaluation.datasets.sources import resolve_image, split_lines
from evaluation.datasets.types import BadLine, DatasetItem, GroundTruthSegment

__all__ = ["looks_like_video_csv", "looks_like_video_manifest", "read_video_csv", "read_video_manifest"]

VIDEO_HEADER = ("video", "labels")
LABEL_SEPARATOR = ";"


def looks_like_video_csv(text: str) -> bool:
    first = next(csv.reader(split_lines(text)[:1]), [])
    return tuple(name.strip().lower() for name in first[:2]) == VIDEO_HEADER


def looks_like_video_manifest(text: str) -> bool:
    """Decided by the first line that parses among the first 100: an object with a "video" key."""
    for raw in text.split("\n")[:100]:
        if raw.strip():
            try:
                record = json.loads(raw)
            except (json.JSONDecodeError, RecursionError):
                continue
            return isinstance(record, dict) and "video" in record
    return False


def read_video_csv(text: str, *, source: str, folder: str) -> Iterator[ReaderOutput]:
    reader = csv.reader(split_lines(text))
    next(reader, None)
    for number, row in enumerate(reader, start=2):
        if not any(field.strip() for field in row):
            continue
        if len(row) < 2:
            yield BadLine(source, number, "expected the columns video,labels (write 'video,' for no label)")
            continue
        try:
            video = resolve_image(row[0], folder)
        except ValueError as problem:
            yield BadLine(source, number, str(problem))
            continue
        labels = frozenset(part.strip() for part in row[1].split(LABEL_SEPARATOR) if part.strip())
        yield Entry(DatasetItem(video, labels, f"{source}:{number}"), number)


def read_video_manifest(text: str, *, source: str, folder: str) -> Iterator[ReaderOutput]:
    for number, raw in enumerate(text.split("\n"), start=1):
        if not raw.strip():
            continue
        try:
            yield Entry(_parse(raw, f"{source}:{number}", folder), number)
        except ValueError as problem:
            yield BadLine(source, number, str(problem))


def _parse(raw: str, where: str, folder: str) -> DatasetItem:
    try:
        record = json.loads(raw)
    except json.JSONDecodeError as err:
        raise ValueError(f"invalid JSON: {err.msg} (column {err.colno})") from None
    except RecursionError:
        raise ValueError("invalid JSON: nested too deeply to read") from None
    if not isinstance(record, dict) or not isinstance(record.get("video"), str):
        raise ValueError('expected a JSON object with a "video" string')
    video = resolve_image(record["video"], folder)
    entries = record.get("segments")
    if not isinstance(entries, list):
        raise ValueError('"segments" must be a list of {"label", "start_ms", "end_ms"} (empty: no label)')
    segments = tuple(_segment(entry, position) for position, entry in enumerate(entries, start=1))
    ordered = tuple(sorted(set(segments), key=lambda s: (s.label, s.start_ms, s.end_ms)))
    return DatasetItem(video, frozenset(s.label for s in ordered), where, segments=ordered)


def _segment(entry: Any, position: int) -> GroundTruthSegment:
    if not isinstance(entry, dict) or not isinstance(entry.get("label"), str) or not entry["label"].strip():
        raise ValueError(f'segments[{position}]: expected {{"label": ..., "start_ms": ..., "end_ms": ...}}')
    times = []
    for name in ("start_ms", "end_ms"):
        value = entry.get(name)
        if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
            raise ValueError(f'segments[{position}]: "{name}" must be a number of milliseconds')
        times.append(round(float(value)))
    try:
        return GroundTruthSegment(entry["label"].strip(), times[0], times[1])
    except ValueError as problem:
        raise ValueError(f"segments[{position}]: {problem}") from None
