"""Answers recorded elsewhere (`run --backend replay --answers FILE.jsonl`), stored as a live run would.

One JSON object per line: `image`, the image as the dataset names it; `response`, the service's raw
answer; optionally `model_version`. Each answer is checked as a live one is (by the operation's adapter,
through `validate`), stored under the cache key a live run of the same request would use, and then the
run replays it: no call is made. A bad line (not JSON, no such image in the dataset, an answer of the
wrong shape, an image given twice) is named, and the rest go on.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evaluation.calls.answers import check_answer
from evaluation.calls.cache import ResponseCache
from evaluation.errors import UserError

log = logging.getLogger(__name__)

BATCH = 5000  # answers per transaction
KEPT_BAD_LINES = 100  # listed in run.json; the count says how many more


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
) -> RecordedAnswers:
    """Store the file's answers for the images of `keys_by_image` (image URI -> cache key)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"--answers {path}: no such file")
    report = RecordedAnswers(path=str(path))
    # the store's codec reads the answer with the operation's adapter: that one reading checks it too
    codecs = [codec for codec in cache.codecs if codec.handles(operation)]
    encode = codecs[0].encode if len(codecs) == 1 and len(cache.codecs) == 1 else None
    seen: dict[str, int] = {}
    batch: list[dict[str, Any]] = []
    with path.open("r", encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            report.lines += 1
            entry = _entry(line, number, report, keys_by_image, seen)
            if entry is None:
                continue
            image, response, version, text = entry
            try:
                check_answer(operation, response)  # the documented shape, as a live answer is checked
                columns = encode(operation, response) if encode else validate(response)
            except Exception as exc:  # the adapter's ResponseShapeError, or any other sign of a bad shape
                report.bad_line(number, f"{image}: not a {operation} answer: {exc}")
                continue
            seen[image] = number
            batch.append(
                {
                    "key": keys_by_image[image],
                    "image_id": image_ids[image],
                    "operation": operation,
                    "params": params,
                    "response": response,
                    "model_version": version if version is not None else model_version_of(response),
                    **({"text": text} if text is not None else {}),
                    **({"columns": columns} if encode else {}),
                }
            )
            if len(batch) >= BATCH:
                cache.put_many(batch, checked=True)
                report.stored += len(batch)
                batch = []
    if batch:
        cache.put_many(batch, checked=True)
        report.stored += len(batch)
    if report.bad:
        log.warning("%s: %d bad line(s) skipped, %d answers stored", path, report.bad, report.stored)
    return report


_RESPONSE_KEY = re.compile(r'"response"\s*:\s*')
_DECODER = json.JSONDecoder()


def parse_line(line: str) -> tuple[Any, str | None]:
    """The line's record, and its response's JSON text as the line spells it, to be stored as it is
    (spelling a million answers again costs more than reading them), or None where it cannot be cut out
    for certain: then the cache spells the answer.

    The first `"response":` of a line is the record's own key unless a member before it is an object
    (no string holds an unescaped quote); the rest of the line, with that value replaced by null, must
    then parse to a record whose "response" is that null, and no second key may follow."""
    found = _RESPONSE_KEY.search(line)
    if found is not None:
        try:
            response, end = _DECODER.raw_decode(line, found.end())
            record = json.loads(line[: found.end()] + "null" + line[end:])
        except ValueError:
            pass  # the whole line is parsed below, and its error names the line's own problem
        else:
            cut_out = isinstance(record, dict) and "response" in record and record["response"] is None
            if cut_out and isinstance(response, dict) and _RESPONSE_KEY.search(line, end) is None:
                record["response"] = response
                text = line[found.end() : end] if "ResponseMetadata" not in response else None
                return record, text
    return json.loads(line), None


def _entry(
    line: str, number: int, report: RecordedAnswers, keys_by_image: Mapping[str, str], seen: Mapping[str, int]
) -> tuple[str, dict[str, Any], str | None, str | None] | None:
    try:
        record, text = parse_line(line)
    except ValueError as exc:
        report.bad_line(number, f"not JSON: {exc}")
        return None
    if not isinstance(record, dict):
        report.bad_line(number, "not a JSON object")
        return None
    image, response, version = record.get("image"), record.get("response"), record.get("model_version")
    if not isinstance(image, str) or not image:
        report.bad_line(number, 'no "image" (the image as the dataset names it)')
        return None
    if not isinstance(response, dict):
        report.bad_line(number, f'{image}: no "response" object (the service\'s raw answer)')
        return None
    if version is not None and not isinstance(version, str):
        report.bad_line(number, f'{image}: "model_version" must be a string')
        return None
    if image not in keys_by_image:
        report.bad_line(number, f"{image}: not an image of the dataset (or rejected before any call)")
        return None
    if image in seen:
        report.bad_line(number, f"{image}: given again (line {seen[image]} is kept)")
        return None
    return image, response, version, text


def images_to_store(outcomes: Sequence[Any]) -> tuple[dict[str, str], dict[str, str]]:
    """(image URI -> cache key, image URI -> image id) of the outcomes that can hold an answer."""
    keys: dict[str, str] = {}
    ids: dict[str, str] = {}
    for outcome in outcomes:
        if outcome.cache_key and outcome.image_id:
            keys[outcome.image] = outcome.cache_key
            ids[outcome.image] = outcome.image_id
    return keys, ids
