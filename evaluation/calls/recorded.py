"""Answers recorded elsewhere (`run --backend replay --answers FILE.jsonl`), stored as a live run would.

One JSON object per line: `image`, the image as the dataset names it; `response`, the service's raw
answer; optionally `model_version`. Each answer is checked as a live one is (by the operation's adapter,
through `validate`), stored under the cache key a live run of the same request would use, and then the
run replays it: no call is made. A bad line (not JSON, no such image in the dataset, an answer of the
wrong shape, an image given twice) is named, and the rest go on. Reading the lines (parse, check,
encode) is evaluation.calls.recorded_reading's, by worker processes for a large file.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evaluation.calls.cache import CacheError, ResponseCache, canonical_json
from evaluation.calls.recorded_reading import (
    BAD,
    WRONG_SHAPE,
    parallel_readings,
    parse_line,
    read_line,
    readings,
    worker_count,
)
from evaluation.errors import UserError

log = logging.getLogger(__name__)

BATCH = 5000  # answers written at once (their new names are interned in the order they first appear)
BATCHES_PER_COMMIT = 4  # a transaction of 20,000 answers writes a third of the pages one of 5,000 does
KEPT_BAD_LINES = 100  # listed in run.json; the count says how many more

__all__ = ["BATCH", "RecordedAnswers", "images_to_store", "parse_line", "store_recorded"]


@dataclass
class RecordedAnswers:
    """What reading the file did: lines read, answers stored, and the bad lines with their reasons."""

    path: str
    lines: int = 0
    stored: int = 0
    bad: int = 0
    bad_lines: list[str] = field(default_factory=list)

    def bad_line(self, number: int, reason: str) -> None:
        self.bad += 1
        message = f"{self.path}:{number}: {reason}"
        log.warning("%s", message)
        if len(self.bad_lines) < KEPT_BAD_LINES:
            self.bad_lines.append(message)

    def to_record(self) -> dict[str, Any]:
        return {
            "file": self.path,
            "lines": self.lines,
            "stored": self.stored,
            "bad_lines": self.bad,
            "first_bad_lines": list(self.bad_lines),
        }


def store_recorded(
    path: str | Path,
    *,
    keys_by_image: Mapping[str, str],
    image_ids: Mapping[str, str],
    operation: str,
    params: Mapping[str, Any],
    cache: ResponseCache,
    validate: Callable[[Mapping[str, Any]], Any],
    model_version_of: Callable[[Mapping[str, Any]], str | None],
    workers: int | None = None,
) -> RecordedAnswers:
    """Store the file's answers for the images of `keys_by_image` (image URI -> cache key).

    A large file is read by `workers` processes (None: one per core for a large file, else none; see
    evaluation.calls.recorded_reading); what is stored, and every message, is the same either way."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"--answers {path}: no such file")
    report = RecordedAnswers(path=str(path))
    # the store's codec reads the answer with the operation's adapter: that one reading checks it too
    codecs = [codec for codec in cache.codecs if codec.handles(operation)]
    codec = codecs[0] if len(codecs) == 1 and len(cache.codecs) == 1 else None
    read = functools.partial(
        read_line,
        operation=operation,
        encode=codec.encode if codec is not None else None,
        validate=validate,
        model_version_of=model_version_of,
    )
    count = worker_count(path) if workers is None else workers
    lines = (
        parallel_readings(path, count, operation, codec, model_version_of, read)
        if codec is not None and count > 0
        else readings(path, read)
    )
    params_text = canonical_json(params)
    seen: dict[str, int] = {}
    batch: list[tuple[Any, ...]] = []
    written = 0  # batches in the open transaction

    def write(answers: list[tuple[Any, ...]], commit: bool) -> None:
        cache.put_recorded(answers, operation=operation, params=params_text, commit=commit)
        report.stored += len(answers)

    collecting = gc.isenabled()
    # no garbage collection while storing: a line's objects hold no cycle, and the collections a line's
    # few hundred objects set off (walking every object alive: the batch's, the dataset's) were half the
    # time of storing 10,000 answers (the code before this one: 406-435 us an answer, 203-207 without)
    gc.disable()
    try:
        for number, reading in lines:
            report.lines += 1
            if reading[0] == BAD:
                report.bad_line(number, reading[1])
                continue
            image = reading[1]
            if image not in keys_by_image:
                report.bad_line(number, f"{image}: not an image of the dataset (or rejected before any call)")
                continue
            if image in seen:
                report.bad_line(number, f"{image}: given again (line {seen[image]} is kept)")
                continue
            if reading[0] == WRONG_SHAPE:
                report.bad_line(number, reading[2])
                continue
            seen[image] = number
            batch.append((keys_by_image[image], image_ids[image], *reading[2:]))
            if len(batch) >= BATCH:
                written = (written + 1) % BATCHES_PER_COMMIT
                write(batch, commit=written == 0)
                batch = []
        if batch or written:
            write(batch, commit=True)
        written = 0
    finally:
        if collecting:
            gc.enable()
        close = getattr(lines, "close", None)
        if close is not None:
            close()  # ends the workers at once, however this ends
        if written:  # stopped (Ctrl-C, an unreadable file) with whole batches not committed: they are
            with contextlib.suppress(CacheError):  # (what stopped it is the error to show)
                cache.put_recorded([], operation=operation, params=params_text, commit=True)
    if report.bad:
        log.warning("%s: %d bad line(s) skipped, %d answers stored", path, report.bad, report.stored)
    return report


def images_to_store(outcomes: Sequence[Any]) -> tuple[dict[str, str], dict[str, str]]:
    """(image URI -> cache key, image URI -> image id) of the outcomes that can hold an answer."""
    keys: dict[str, str] = {}
    ids: dict[str, str] = {}
    for outcome in outcomes:
        if outcome.cache_key and outcome.image_id:
            keys[outcome.image] = outcome.cache_key
            ids[outcome.image] = outcome.image_id
    return keys, ids
