"""Reading a recorded-answers file line by line (parse, check, encode), here or by worker processes.

What a line says does not depend on the lines before it, except whether its image was given before and
whether the dataset has it: `read_line` gives everything else, and evaluation.calls.recorded applies
those two in line order. That split lets a large file be read by fresh interpreters (one per core, as
the report's plots are drawn: not multiprocessing, whose spawn re-runs the caller's unguarded script and
whose fork can hang on locks other threads hold), each reading every W-th chunk of the file by itself,
while this process stores what they send back in the file's order: about 60% of storing an answer is
reading it. Anything a worker cannot do (start, unpickle the codec, read a chunk) is done here instead,
from the chunk where it stopped, so what is stored and every message are the same either way.
"""

from __future__ import annotations

import gc
import io
import json
import os
import pickle
import re
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

import orjson

from evaluation.calls.answers import check_answer
from evaluation.calls.cache import canonical_json
from evaluation.calls.columns import _without_metadata, pack_columns
from evaluation.fresh_python import package_python

# What `read_line` gives: a bad line's message; an answer of the wrong shape (image, message); an answer
# (image, model version, raw text, then its columns, or None and the response the store encodes them from).
BAD, WRONG_SHAPE, ANSWER = 0, 1, 2
Reading = tuple[Any, ...]

CHUNK_BYTES = 4 << 20  # a worker's unit: about 700 DetectLabels answers, a few MB held per worker
# smaller files are read here: starting the workers costs about 1.5 s of CPU (imports, the answer model),
# what reading 20,000 answers in them saves (10,000: 157 us an answer here, 302 with two workers)
PARALLEL_MIN_BYTES = 128 << 20
MAX_WORKERS = 4  # beyond that this process's storing is the bound
WORKER_CODE = "from evaluation.calls.recorded_reading import worker_main; worker_main()"

_RESPONSE_KEY = re.compile(r'"response"\s*:\s*')
_DECODER = json.JSONDecoder()
_JSON_SPACE = " \t\n\r"
_DIGITS_AS_0, _NINETEEN_DIGITS = bytes.maketrans(b"123456789", b"0" * 9), b"0" * 19


def parse_line(line: str) -> tuple[Any, str | None]:
    """The line's record, and its response's JSON text as the line spells it, to be stored as it is
    (spelling a million answers again costs more than reading them), or None where it cannot be cut out
    for certain: then the cache spells the answer.

    The first `"response":` of a line is the record's own key unless a member before it is an object
    (no string holds an unescaped quote); the rest of the line, with that value replaced by null, must
    then parse to a record whose "response" is that null, and no second key may follow."""
    found = _RESPONSE_KEY.search(line)
    if found is not None:
        cut = _cut_by_orjson(line, found.end()) or _cut_by_json(line, found.end())
        if cut is not None:
            record, response, end = cut
            cut_out = isinstance(record, dict) and "response" in record and record["response"] is None
            if cut_out and isinstance(response, dict) and _RESPONSE_KEY.search(line, end) is None:
                record["response"] = response
                text = line[found.end() : end] if "ResponseMetadata" not in response else None
                return record, text
    return json.loads(line), None


def _cut_by_orjson(line: str, start: int) -> tuple[Any, Any, int] | None:
    """(the rest of the line with the value at `start` as null, that value, its end), parsed by orjson
    (in about two thirds of json's time) where the value ends at the last "}" before the record's own:
    what follows it holds no "}" (a model version, the record's end). The value must be the whole of
    that text, so it ends where json's raw_decode would. What orjson reads otherwise than json is left
    to json, whose reading is the record's: what orjson refuses (NaN, a lone surrogate) and 19 digits
    in a row (an integer beyond 64 bits, which orjson reads as a float)."""
    closing = len(line.rstrip(_JSON_SPACE)) - 1
    end = line.rfind("}", start, closing) + 1
    if end <= start or line[closing] != "}" or _NINETEEN_DIGITS in line.encode().translate(_DIGITS_AS_0):
        return None
    try:
        return orjson.loads(line[:start] + "null" + line[end:]), orjson.loads(line[start:end]), end
    except orjson.JSONDecodeError:
        return None


def _cut_by_json(line: str, start: int) -> tuple[Any, Any, int] | None:
    """As _cut_by_orjson, by json: the value's end is where raw_decode stops."""
    try:
        response, end = _DECODER.raw_decode(line, start)
        return json.loads(line[:start] + "null" + line[end:]), response, end
    except ValueError:
        return None  # the whole line is parsed by json.loads, and its error names the line's own problem


def read_line(
    line: str,
    operation: str,
    encode: Callable[[str, Mapping[str, Any]], Any] | None,
    validate: Callable[[Mapping[str, Any]], Any] | None,
    model_version_of: Callable[[Mapping[str, Any]], str | None],
) -> Reading:
    """What one (non-blank) line holds, checked as a live answer is: its columns by `encode` (the store's
    one codec), or only `validate`d when the store encodes them itself (`encode` None)."""
    try:
        record, text = parse_line(line)
    except ValueError as exc:
        return (BAD, f"not JSON: {exc}")
    if not isinstance(record, dict):
        return (BAD, "not a JSON object")
    image, response, version = record.get("image"), record.get("response"), record.get("model_version")
    if not isinstance(image, str) or not image:
        return (BAD, 'no "image" (the image as the dataset names it)')
    if not isinstance(response, dict):
        return (BAD, f'{image}: no "response" object (the service\'s raw answer)')
    if version is not None and not isinstance(version, str):
        return (BAD, f'{image}: "model_version" must be a string')
    try:
        check_answer(operation, response)  # the documented shape, as a live answer is checked
        columns = encode(operation, response) if encode is not None else validate(response)  # type: ignore[misc]
    except Exception as exc:  # the adapter's ResponseShapeError, or any other sign of a bad shape
        return (WRONG_SHAPE, image, f"{image}: not a {operation} answer: {exc}")
    return (
        ANSWER,
        image,
        version if version is not None else model_version_of(response),
        text or canonical_json(_without_metadata(response)),
        columns if encode is not None else None,
        None if encode is not None else response,  # the store encodes its columns from it
    )


Reader = Callable[[str], Reading]


def readings(
    path: Path, read: Reader, start: int = 0, first_number: int = 1
) -> Iterator[tuple[int, Reading]]:
    """(line number, reading) of every non-blank line from byte `start` (just after a line's end), here."""
    with path.open("rb") as raw:
        raw.seek(start)
        with io.TextIOWrapper(raw, encoding="utf-8") as lines:  # as open(path, "r") reads: same newlines
            for number, line in enumerate(lines, start=first_number):
                if line.strip():
                    yield number, read(line)


def _chunk_start(raw: IO[bytes], index: int, size: int) -> int:
    """Where chunk `index` starts: just after the first line end at or past index * size."""
    if index == 0:
        return 0
    raw.seek(index * size - 1)
    skipped = raw.readline()  # to the end of the line holding the byte before the nominal start
    return index * size - 1 + len(skipped)


def _chunk_lines(raw: IO[bytes], index: int, size: int) -> tuple[int, list[str]]:
    """(start offset, the lines of chunk `index`) as text mode reads them (a chunk ends after a newline,
    so a \\r\\n is never cut; a line longer than a chunk belongs to the chunk where it starts)."""
    start, end = _chunk_start(raw, index, size), _chunk_start(raw, index + 1, size)
    if end <= start:
        return start, []
    raw.seek(start)
    data = raw.read(end - start)
    return start, io.TextIOWrapper(io.BytesIO(data), encoding="utf-8").readlines()


def worker_main() -> None:
    """A worker: read the setup from stdin, then every W-th chunk, each chunk's readings to stdout. On
    any error it just ends: the parent reads on from that chunk itself, and shows the error if any."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides; it ends its workers itself
    gc.disable()  # as in the parent (evaluation.calls.recorded): no cycles here, and a chunk is many objects
    try:
        setup = pickle.load(sys.stdin.buffer)  # our own parent's payload
        path, index, step, size, operation, codec, model_version_of = setup
        out = sys.stdout.buffer
        with open(path, "rb") as raw:
            while True:
                start, lines = _chunk_lines(raw, index, size)
                if not lines and start >= os.fstat(raw.fileno()).st_size:
                    break
                found = [
                    (number, read_line(line, operation, codec.encode, None, model_version_of))
                    for number, line in enumerate(lines)
                    if line.strip()
                ]
                found = _packed(found, codec)
                out.write(pickle.dumps((index, len(lines), found), protocol=pickle.HIGHEST_PROTOCOL))
                out.flush()
                index += step
        out.write(pickle.dumps(None))
        out.flush()
    except Exception:
        os._exit(1)


def _packed(found: list[tuple[int, Reading]], codec: Any) -> list[tuple[int, Reading]]:
    """The answers' columns packed here (numbers as their blobs, names as positions in the chunk's table
    of them), as the store would pack them: less to send, and less for the storing process to do.
    Columns that cannot be packed are sent as they are: storing them raises as it would have."""
    answers = [index for index, (_, reading) in enumerate(found) if reading[0] == ANSWER]
    try:
        packed = pack_columns(codec, [found[index][1][4] for index in answers], local_names=True)
    except Exception:
        return found
    for index, columns in zip(answers, packed, strict=True):
        number, reading = found[index]
        found[index] = (number, (*reading[:4], columns, reading[5]))
    return found


def worker_count(path: Path) -> int:
    """Workers for a file: none for a small one (or on one core), else one per core, up to MAX_WORKERS."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return 0 if path.stat().st_size < PARALLEL_MIN_BYTES or cores < 2 else min(MAX_WORKERS, cores)


def parallel_readings(
    path: Path, workers: int, operation: str, codec: Any, model_version_of: Callable[..., Any], read: Reader
) -> Iterator[tuple[int, Reading]]:
    """Every non-blank line's (number, reading), in the file's order, read by `workers` processes; where
    they cannot go on (or never start), the rest is read here by `read`, from the chunk they stopped at."""
    processes: list[subprocess.Popen[bytes]] = []
    index, number = 0, 1  # the next chunk to hand on, and its first line's number
    try:
        try:
            setups = [
                pickle.dumps((str(path), w, workers, CHUNK_BYTES, operation, codec, model_version_of))
                for w in range(workers)
            ]
            command, env = package_python(WORKER_CODE)
            for setup in setups:
                process = subprocess.Popen(
                    command,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    env=env,
                )
                processes.append(process)
                assert process.stdin is not None
                process.stdin.write(setup)
                process.stdin.close()
        except (OSError, pickle.PicklingError, TypeError, AttributeError):
            processes_failed = True
        else:
            processes_failed = False
        while not processes_failed:
            stream = processes[index % workers].stdout
            assert stream is not None
            try:
                message = pickle.load(stream)  # our own worker's, started just now
            except Exception:  # it died (EOFError, a cut message): this process reads on from here
                break
            if message is None:
                return
            chunk, count, found = message
            if chunk != index:
                break
            for offset, reading in found:
                yield number + offset, reading
            index, number = index + 1, number + count
        with path.open("rb") as raw:
            start = _chunk_start(raw, index, CHUNK_BYTES)
        yield from readings(path, read, start, number)
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
            process.wait()
            for stream in (process.stdout, process.stdin):
                if stream is not None and not stream.closed:
                    stream.close()
