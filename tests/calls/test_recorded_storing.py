"""Storing recorded answers (`run --backend replay --answers`) keeps exactly what it kept before it was
made faster (lines read by worker processes, columns packed by them, no garbage collection while
storing): the same rows, raw texts, column blobs and name codes, the same report and messages, whether
the lines are read here or by workers, whether the workers run, fail to start or die.

The reference is the code as it was (commit e8486d4), kept below: its loop over the lines, and the
cache's `put_many` and column writing of then, writing into a store of today's schema.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import sqlite3
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from evaluation.calls import recorded, recorded_reading
from evaluation.calls.answers import check_answer, model_version_of
from evaluation.calls.cache import ResponseCache, canonical_json
from evaluation.calls.columns import _without_metadata, encode_columns
from evaluation.operations.answers import labels_from_detect_labels
from evaluation.operations.label_columns import LABELS_CODEC
from tests.support.scale_answers import answers

OPERATION = "DetectLabels"
PARAMS = {"MaxLabels": 1000, "MinConfidence": 50}


# ------------------------------------------------------------------------- the reference: the old code


def _old_interned(cache: ResponseCache, names: list[str]) -> list[int]:
    missing = [name for name in dict.fromkeys(names) if name not in cache._name_codes]
    if missing:
        cache._conn.executemany("INSERT OR IGNORE INTO names (name) VALUES (?)", [(n,) for n in missing])
        for start in range(0, len(missing), 900):
            part = missing[start : start + 900]
            marks = ",".join("?" * len(part))
            rows = cache._conn.execute(f"SELECT name, code FROM names WHERE name IN ({marks})", part)
            cache._name_codes.update(rows)
    return [cache._name_codes[name] for name in names]


def _old_write_columns(cache: ResponseCache, codec: Any, values: list[tuple[str, Mapping[str, Any]]]) -> None:
    if not values:
        return
    field_names = [name for name, _, _ in codec.fields]
    blobs_by_field = []
    for name, dtype, interned in codec.fields:
        parts = [fields[name] for _, fields in values]
        flat = list(itertools.chain.from_iterable(parts))
        data = np.asarray(_old_interned(cache, flat), np.int32) if interned else np.asarray(flat, dtype)
        packed, size = data.tobytes(), data.itemsize
        ends = np.cumsum(np.fromiter(map(len, parts), np.int64, count=len(parts))) * size
        starts = np.concatenate(([0], ends[:-1]))
        blobs_by_field.append([packed[s:e] for s, e in zip(starts.tolist(), ends.tolist(), strict=True)])
    rows = [(key, codec.version, *blobs) for (key, _), *blobs in zip(values, *blobs_by_field, strict=True)]
    marks = ",".join("?" * (len(field_names) + 2))
    cache._conn.executemany(
        f"INSERT OR REPLACE INTO columns_{codec.kind} (key, version, {', '.join(field_names)}) "
        f"VALUES ({marks})",
        rows,
    )


def _old_put_many(cache: ResponseCache, entries: list[dict[str, Any]]) -> None:
    """The old put_many, for entries that are all `newest`, checked by the caller, of no owner."""
    created = datetime.now(timezone.utc).isoformat(timespec="seconds")
    rows = [
        (
            e["key"],
            e["image_id"],
            e["operation"],
            canonical_json(e["params"]),
            e.get("text") or canonical_json(_without_metadata(e["response"])),
            e["model_version"],
            created,
        )
        for e in entries
    ]
    superseded = [(row[0], row[5] or "") for row in rows]
    encoded = [
        (
            codec,
            [
                (
                    e["key"],
                    e["columns"] if "columns" in e else encode_columns(codec, e["operation"], e["response"]),
                )
                for e in entries
            ],
        )
        for codec in cache.codecs
    ]
    conn = cache._conn
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany(
        "INSERT OR REPLACE INTO answer_versions (key, model_version, response, created_at) "
        "SELECT key, model_version, response, created_at FROM responses "
        "WHERE key = ? AND model_version IS NOT NULL AND model_version != ?",
        superseded,
    )
    conn.executemany(
        "INSERT OR REPLACE INTO responses (key, image_id, operation, params, response, model_version, "
        "created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    conn.executemany("DELETE FROM answer_versions WHERE key = ? AND model_version = ?", superseded)
    written = {f"columns_{codec.kind}" for codec in cache.codecs}
    for table in cache._column_tables():
        if table not in written:
            conn.executemany(f"DELETE FROM {table} WHERE key = ?", [row[:1] for row in rows])
    for codec, values in encoded:
        _old_write_columns(cache, codec, [(key, value) for key, value in values if value is not None])
        gone = [(key,) for key, value in values if value is None]
        if gone:
            conn.executemany(f"DELETE FROM columns_{codec.kind} WHERE key = ?", gone)
    conn.execute("COMMIT")


def _old_store(
    path: Path,
    cache: ResponseCache,
    keys: dict[str, str],
    ids: dict[str, str],
    batch_size: int,
    stop: int = -1,
):
    """The old store_recorded: (lines, stored, bad lines); a Ctrl-C before the line read after `stop`."""
    codecs = [codec for codec in cache.codecs if codec.handles(OPERATION)]
    encode = codecs[0].encode if len(codecs) == 1 and len(cache.codecs) == 1 else None
    lines = stored = 0
    bad: list[str] = []
    seen: dict[str, int] = {}
    batch: list[dict[str, Any]] = []
    with path.open("r", encoding="utf-8") as file:
        for number, line in enumerate(file, start=1):
            if not line.strip():
                continue
            if lines == stop:
                raise KeyboardInterrupt
            lines += 1
            try:
                record, text = recorded_reading.parse_line(line)
            except ValueError as exc:
                bad.append(f"{path}:{number}: not JSON: {exc}")
                continue
            if not isinstance(record, dict):
                bad.append(f"{path}:{number}: not a JSON object")
                continue
            image, response, version = (
                record.get("image"),
                record.get("response"),
                record.get("model_version"),
            )
            if not isinstance(image, str) or not image:
                bad.append(f'{path}:{number}: no "image" (the image as the dataset names it)')
                continue
            if not isinstance(response, dict):
                bad.append(f'{path}:{number}: {image}: no "response" object (the service\'s raw answer)')
                continue
            if version is not None and not isinstance(version, str):
                bad.append(f'{path}:{number}: {image}: "model_version" must be a string')
                continue
            if image not in keys:
                bad.append(
                    f"{path}:{number}: {image}: not an image of the dataset (or rejected before any call)"
                )
                continue
            if image in seen:
                bad.append(f"{path}:{number}: {image}: given again (line {seen[image]} is kept)")
                continue
            try:
                check_answer(OPERATION, response)
                columns = encode(OPERATION, response) if encode else labels_from_detect_labels(response)
            except Exception as exc:
                bad.append(f"{path}:{number}: {image}: not a {OPERATION} answer: {exc}")
                continue
            seen[image] = number
            batch.append(
                {
                    "key": keys[image],
                    "image_id": ids[image],
                    "operation": OPERATION,
                    "params": PARAMS,
                    "response": response,
                    "model_version": version if version is not None else model_version_of(response),
                    **({"text": text} if text is not None else {}),
                    **({"columns": columns} if encode else {}),
                }
            )
            if len(batch) >= batch_size:
                _old_put_many(cache, batch)
                stored += len(batch)
                batch = []
    if batch:
        _old_put_many(cache, batch)
        stored += len(batch)
    return lines, stored, bad


# ------------------------------------------------------------------------------------------ the files


def _write_answers(folder: Path, count: int = 240) -> tuple[Path, dict[str, str], dict[str, str]]:
    """A file of `count` good answers and every kind of bad line among them; (path, keys, image ids)."""
    good = [
        json.dumps({"image": uri, "response": response, "model_version": "3.0"}, separators=(",", ":"))
        for uri, response, _ in answers(count, seed=5)
    ]
    uris = [uri for uri, _, _ in answers(count, seed=5)]
    odd = [
        "not json at all",
        "[1, 2, 3]",
        '{"response": {"Labels": []}}',
        '{"image": "s3://b/x.jpg", "response": [1]}',
        '{"image": "s3://b/x.jpg", "response": {"Labels": []}, "model_version": 3}',
        '{"image": "s3://elsewhere/not-in-dataset.jpg", "response": {"Labels": []}}',
        '{"image": "s3://b/wrong.jpg", "response": {"Labels": [{"Name": "", "Confidence": 50}]}}',
        '{"image": "s3://b/wrong2.jpg", "response": {"Labels": [{"Name": "Dog", "Confidence": 500}]}}',
        '{"image": "s3://b/meta.jpg", "response": {"Labels": [{"Name": "Hund ü 狗", "Confidence": 88.5,'
        ' "Parents": [{"Name": "Tier"}]}], "ResponseMetadata": {"RequestId": "r"}}}',
        '{"image": "s3://b/noversion.jpg", "response": {"Labels": [], "LabelModelVersion": "2.0"}}',
        '{"image": "s3://b/spaced.jpg" ,  "response" :  {"Labels": [{"Name": "Cat\\u0000x", "Confidence": 70,'
        ' "Aliases": [{"Name": "Kitty"}], "Instances": [{"BoundingBox": {"Left": 0.1, "Top": 0.2,'
        ' "Width": 0.3, "Height": 0.4}, "Confidence": 60}]}]}}',
        "",
        "   ",
    ]
    lines: list[str] = []
    for index, line in enumerate(good):
        lines.append(line)
        if index % 17 == 3:
            lines.append(odd[(index // 17) % len(odd)])
        if index % 41 == 7:
            lines.append(good[index // 2])  # an image given again
    lines[10:10] = odd  # every kind at least once
    extra = ["s3://b/x.jpg", "s3://b/wrong.jpg", "s3://b/wrong2.jpg", "s3://b/meta.jpg"]
    extra += ["s3://b/noversion.jpg", "s3://b/spaced.jpg"]
    path = folder / "answers.jsonl"
    # \r\n line ends for some lines: text mode reads them as one line end
    path.write_bytes(
        "".join(line + ("\r\n" if i % 5 == 0 else "\n") for i, line in enumerate(lines)).encode()
    )
    keys = {uri: hashlib.sha256(uri.encode()).hexdigest() for uri in uris + extra}
    ids = {uri: hashlib.sha1(uri.encode()).hexdigest() for uri in uris + extra}
    return path, keys, ids


def _stored(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every table's rows (in rowid order), but when they were written."""
    conn = sqlite3.connect(path)
    try:
        return {
            "responses": conn.execute(
                "SELECT rowid, key, image_id, operation, params, response, model_version FROM responses "
                "ORDER BY rowid"
            ).fetchall(),
            "answer_versions": conn.execute(
                "SELECT key, model_version, response FROM answer_versions ORDER BY key, model_version"
            ).fetchall(),
            "columns": conn.execute("SELECT rowid, * FROM columns_labels ORDER BY rowid").fetchall()
            if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'columns_labels'").fetchone()
            else [],
            "names": conn.execute("SELECT code, name FROM names ORDER BY code").fetchall(),
        }
    finally:
        conn.close()


def _reference(
    tmp_path: Path,
    path: Path,
    keys,
    ids,
    *,
    batch: int,
    codecs=(LABELS_CODEC,),
    times: int = 1,
    stop: int = -1,
):
    store = tmp_path / "old.sqlite"
    with ResponseCache(store, codecs=codecs) as cache:
        if stop >= 0:
            with pytest.raises(KeyboardInterrupt):
                _old_store(path, cache, keys, ids, batch, stop)
        for _ in range(times):
            result = _old_store(path, cache, keys, ids, batch)
    return result, _stored(store)


def _ours(
    tmp_path: Path, path: Path, keys, ids, *, workers: int, codecs=(LABELS_CODEC,), times: int = 1, name="new"
):
    store = tmp_path / f"{name}.sqlite"
    with ResponseCache(store, codecs=codecs) as cache:
        for _ in range(times):
            report = recorded.store_recorded(
                path,
                keys_by_image=keys,
                image_ids=ids,
                operation=OPERATION,
                params=PARAMS,
                cache=cache,
                validate=labels_from_detect_labels,
                model_version_of=model_version_of,
                workers=workers,
            )
    return (report.lines, report.stored, report.bad_lines), _stored(store)


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> int:
    """Batches of 23 answers and chunks of 3 kB: many of both, neither lined up with the other."""
    monkeypatch.setattr(recorded, "BATCH", 23)
    monkeypatch.setattr(recorded, "KEPT_BAD_LINES", 1000)
    monkeypatch.setattr(recorded_reading, "CHUNK_BYTES", 3000)
    return 23


@pytest.mark.parametrize("workers", [0, 1, 2])
def test_stored_rows_and_messages_are_the_old_codes(
    tmp_path: Path, small_chunks: int, workers: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, keys, ids = _write_answers(tmp_path)
    expected, expected_rows = _reference(tmp_path, path, keys, ids, batch=small_chunks)
    if workers:  # the workers read every line: none is left to this process

        def not_here(*args: Any, **kwargs: Any) -> Any:
            raise AssertionError("a line was read by the storing process")

        monkeypatch.setattr(recorded_reading, "readings", not_here)
    got, rows = _ours(tmp_path, path, keys, ids, workers=workers)
    assert expected_rows["responses"] and expected_rows["columns"] and len(expected[2]) > 20
    assert got == expected
    assert rows == expected_rows


def test_storing_again_is_as_before(tmp_path: Path, small_chunks: int) -> None:
    path, keys, ids = _write_answers(tmp_path, count=60)
    expected = _reference(tmp_path, path, keys, ids, batch=small_chunks, times=2)
    assert _ours(tmp_path, path, keys, ids, workers=2, times=2) == expected


def test_a_store_without_columns_is_as_before(tmp_path: Path, small_chunks: int) -> None:
    path, keys, ids = _write_answers(tmp_path, count=60)
    expected = _reference(tmp_path, path, keys, ids, batch=small_chunks, codecs=())
    assert _ours(tmp_path, path, keys, ids, workers=2, codecs=()) == expected


@pytest.mark.parametrize(
    "code",
    [
        "import sys; sys.exit(3)",  # dies at once: every line is read here
        # three chunks each, then gone: read here from the chunk they stopped at
        "import os, pickle\n"
        "from evaluation.calls import recorded_reading\n"
        "sent, dumps = [], pickle.dumps\n"
        "def dying(*args, **kwargs):\n"
        "    sent.append(1)\n"
        "    if len(sent) > 3: os._exit(1)\n"
        "    return dumps(*args, **kwargs)\n"
        "pickle.dumps = dying\n"
        "recorded_reading.worker_main()",
    ],
)
def test_workers_that_die_leave_the_lines_to_this_process(
    tmp_path: Path, small_chunks: int, monkeypatch: pytest.MonkeyPatch, code: str
) -> None:
    path, keys, ids = _write_answers(tmp_path, count=80)
    expected = _reference(tmp_path, path, keys, ids, batch=small_chunks)
    monkeypatch.setattr(recorded_reading, "WORKER_CODE", code)
    assert _ours(tmp_path, path, keys, ids, workers=2) == expected


def test_workers_that_cannot_start_leave_the_lines_to_this_process(
    tmp_path: Path, small_chunks: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, keys, ids = _write_answers(tmp_path, count=80)
    expected = _reference(tmp_path, path, keys, ids, batch=small_chunks)

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise OSError("no processes here")

    monkeypatch.setattr(recorded_reading.subprocess, "Popen", refuse)
    assert _ours(tmp_path, path, keys, ids, workers=2) == expected


def test_a_worker_reads_every_line_of_its_chunks_once(tmp_path: Path) -> None:
    """Chunks cut after a line end cover the file once, whatever their size against the lines'."""
    path = tmp_path / "lines.txt"
    lines = [("x" * (i * 37 % 500)) + ("\r\n" if i % 3 == 0 else "\n") for i in range(300)]
    path.write_text("".join(lines), encoding="utf-8", newline="")
    with path.open("r", encoding="utf-8") as file:
        expected = list(file)
    for size in (1, 7, 64, 1000, 10**6):
        got: list[str] = []
        with path.open("rb") as raw:
            for index in itertools.count():
                start, chunk = recorded_reading._chunk_lines(raw, index, size)
                got += chunk
                if not chunk and start >= path.stat().st_size:
                    break
        assert got == expected, size


def test_an_unreadable_file_stores_what_it_stored_before(tmp_path: Path, small_chunks: int) -> None:
    """A byte that is not UTF-8 stops the run where it stopped before, with the same answers stored
    (every whole batch before it, committed though a transaction spans several)."""
    path, keys, ids = _write_answers(tmp_path, count=200)
    data = path.read_bytes()
    cut = data.index(b"\n", len(data) * 2 // 3) + 1
    path.write_bytes(data[:cut] + b'{"image": "\xff"}\n' + data[cut:])
    with pytest.raises(UnicodeDecodeError):
        _reference(tmp_path, path, keys, ids, batch=small_chunks)
    with pytest.raises(UnicodeDecodeError):
        _ours(tmp_path, path, keys, ids, workers=0)
    expected, got = _stored(tmp_path / "old.sqlite"), _stored(tmp_path / "new.sqlite")
    assert len(got["responses"]) > 3 * small_chunks
    assert got == expected


def test_a_ctrl_c_keeps_the_whole_batches_and_a_second_run_completes_them(
    tmp_path: Path, small_chunks: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, keys, ids = _write_answers(tmp_path, count=200)
    calls = itertools.count()

    def interrupted(*args: Any, **kwargs: Any) -> Any:
        if next(calls) == 150:
            raise KeyboardInterrupt
        return recorded_reading.read_line(*args, **kwargs)

    monkeypatch.setattr(recorded, "read_line", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _ours(tmp_path, path, keys, ids, workers=0)
    kept = _stored(tmp_path / "new.sqlite")["responses"]
    assert kept and len(kept) % small_chunks == 0  # whole batches, committed
    monkeypatch.undo()
    monkeypatch.setattr(recorded, "BATCH", small_chunks)
    monkeypatch.setattr(recorded, "KEPT_BAD_LINES", 1000)
    expected = _reference(tmp_path, path, keys, ids, batch=small_chunks, stop=150)
    assert _ours(tmp_path, path, keys, ids, workers=2) == expected
