"""The response store: every raw answer, kept once, so analysis never needs another call.

`responses` holds the newest answer per cache key (what a run uses); `answer_versions` keeps the
answers of other model versions by (cache key, model version the service reported): an answer a newer
model's replaces, and a canary's. So `--refresh` after a model update loses nothing and
`--model-version V` can still evaluate the answers of V, and each answer is stored once.

SQLite in WAL mode: each answer is committed as soon as it arrives (an interrupted run keeps all it
received), several threads of one run share a connection behind a lock, and two runs sharing one file
do not corrupt it (SQLite's own locking; writers wait up to `busy_timeout`).

Only answers of the documented shape go in, and only those come out (`evaluation.calls.answers`): a bad
row an older version stored reads as absent, so it is asked again. Runs sharing one file do not pay
twice for an image: a run claims an image (the `claims` table) before calling it, with a lease its
holder renews while it lives; another run skips a claimed image, and picks up its answer once stored or
takes over the claim once the lease has expired (its holder died).

A file that is not a cache (corrupt, not SQLite) or cannot be written (disk full, read-only) is the
user's environment, not a bug: `CacheError`, a UserError naming the file.

Beside the raw answers the store keeps compact columns of them for the analysis
(evaluation.calls.columns).
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from evaluation.calls.answers import BadAnswer, answer_problem, check_answer
from evaluation.calls.claims import ANSWERED, CLAIMED, HELD_ELSEWHERE, ClaimStore
from evaluation.calls.columns import (
    NAMES_SCHEMA,
    ColumnCodec,
    Columns,
    ColumnStore,
    _parsed,
    _without_metadata,
    columns_schema,
    encode_columns,
)
from evaluation.errors import UserError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY,
    image_id TEXT NOT NULL,
    operation TEXT NOT NULL,
    params TEXT NOT NULL,
    response TEXT NOT NULL,
    model_version TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS responses_image ON responses (image_id);
CREATE TABLE IF NOT EXISTS answer_versions (
    key TEXT NOT NULL,
    model_version TEXT NOT NULL,
    response TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (key, model_version)
);
CREATE TABLE IF NOT EXISTS claims (
    key TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    expires REAL NOT NULL
);
"""

_PUT_SQL = (
    "INSERT OR REPLACE INTO responses "
    "(key, image_id, operation, params, response, model_version, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
)


# What `claim` finds: the answer is stored already, this run now holds the image, another run holds it.


class CacheError(UserError):
    """The cache file cannot be read (corrupt, not a cache) or written (disk full, read-only)."""

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(f"response cache {path}: {problem}")
        self.path = path


class CacheWriteError(CacheError):
    """An answer could not be stored: calling on would pay for answers that cannot be kept."""


def _problem(error: sqlite3.Error, *, writing: bool) -> str:
    text = str(error)
    if "not a database" in text or "malformed" in text or "corrupt" in text:
        return f"not a readable cache ({text}); move it aside or pass another --cache"
    if writing or "readonly" in text or "full" in text:
        return f"cannot be written ({text}); free space or make it writable, or pass another --cache"
    return f"cannot be read ({text})"


# Built once: json.dumps with options builds an encoder per call. No cycle check: what is spelled here
# came from JSON or is a request's parameters (at a million answers the check is a quarter of the time).
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=str, check_circular=False)


def canonical_json(value: Any) -> str:
    """One spelling per value, so equal requests give equal keys."""
    return _CANONICAL.encode(value)


def cache_key(image_id: str, operation: str, params: Mapping[str, Any]) -> str:
    """The identity of one call: which image, which operation, which request parameters."""
    text = f"{operation}\n{image_id}\n{canonical_json(params)}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class CachedResponse:
    key: str
    image_id: str
    operation: str
    params: dict[str, Any]
    response: dict[str, Any]
    model_version: str | None
    created_at: str


def default_cache_path() -> Path:
    """Shared by every run of this user, so a second run over the same images calls nothing."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "rekognition-eval" / "responses.sqlite"


class ResponseCache(ClaimStore, ColumnStore):
    """Raw responses by cache key. Thread-safe; use as a context manager or call close()."""

    def __init__(
        self, path: str | Path, *, busy_timeout_s: float = 30.0, codecs: Sequence[ColumnCodec] = ()
    ) -> None:
        self.path = Path(path)
        self.codecs = tuple(codecs)
        self._name_codes: dict[str, int] = {}
        self._open = False  # a transaction put_recorded left open
        self._lock = threading.Lock()
        self._busy_timeout_s = busy_timeout_s
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise CacheError(self.path, f"cannot create its folder ({error.strerror or error})") from None
        try:
            self._conn = sqlite3.connect(
                str(self.path), timeout=busy_timeout_s, check_same_thread=False, isolation_level=None
            )
        except sqlite3.Error as error:
            raise CacheError(self.path, _problem(error, writing=False)) from None
        try:
            self._while_busy(lambda: self._conn.execute("PRAGMA journal_mode=WAL"))
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._while_busy(lambda: self._conn.executescript(_SCHEMA + NAMES_SCHEMA))
            for codec in self.codecs:
                self._while_busy(lambda codec=codec: self._conn.executescript(columns_schema(codec)))
        except sqlite3.Error as error:
            self._conn.close()
            raise CacheError(self.path, _problem(error, writing=False)) from None

    def _while_busy(self, action: Callable[[], object]) -> None:
        """Run a write, waiting while another process holds the lock.

        SQLite's busy timeout does not cover every case: changing the journal mode, or a write whose read
        snapshot went stale (SQLITE_BUSY_SNAPSHOT in WAL mode), fail at once with "database is locked".
        Those are retried here until the same timeout.
        """
        deadline = time.monotonic() + self._busy_timeout_s
        delay = 0.005
        while True:
            try:
                action()
                return
            except sqlite3.OperationalError as error:
                if "locked" not in str(error) and "busy" not in str(error):
                    raise
                if time.monotonic() > deadline:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 0.25)

    def __enter__(self) -> ResponseCache:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def _read(self, sql: str, args: Iterable[Any]) -> list[tuple[Any, ...]]:
        try:
            return self._conn.execute(sql, tuple(args)).fetchall()
        except sqlite3.Error as error:
            raise CacheError(self.path, _problem(error, writing=False)) from None

    def get(self, key: str) -> CachedResponse | None:
        """The stored answer, or None when there is none or it is not a valid answer (ask again)."""
        with self._lock:
            rows = self._read(
                "SELECT key, image_id, operation, params, response, model_version, created_at "
                "FROM responses WHERE key = ?",
                (key,),
            )
        return _row_to_cached(rows[0]) if rows else None

    def get_many(self, keys: Iterable[str]) -> dict[str, CachedResponse]:
        """Responses for the keys that are stored; missing keys are simply absent."""
        wanted = list(dict.fromkeys(keys))
        found: dict[str, CachedResponse] = {}
        chunk = 500
        with self._lock:
            for start in range(0, len(wanted), chunk):
                part = wanted[start : start + chunk]
                marks = ",".join("?" * len(part))
                rows = self._read(
                    "SELECT key, image_id, operation, params, response, model_version, created_at "
                    f"FROM responses WHERE key IN ({marks})",
                    part,
                )
                for row in rows:
                    cached = _row_to_cached(row)
                    if cached is not None:
                        found[row[0]] = cached
        return found

    def contains(self, key: str) -> bool:
        return self.get(key) is not None

    def stored_params(self, image_ids: Iterable[str], operation: str) -> dict[str, int]:
        """How many of these images have an answer of `operation`, by the request parameters it was
        stored under (canonical JSON): what a replay that found nothing should have asked for."""
        wanted = list(dict.fromkeys(image_ids))
        counts: dict[str, int] = {}
        chunk = 500
        with self._lock:
            for start in range(0, len(wanted), chunk):
                part = wanted[start : start + chunk]
                marks = ",".join("?" * len(part))
                rows = self._read(
                    f"SELECT params, COUNT(DISTINCT image_id) FROM responses WHERE operation = ? "
                    f"AND image_id IN ({marks}) GROUP BY params",
                    [operation, *part],
                )
                for params, count in rows:
                    counts[params] = counts.get(params, 0) + int(count)
        return counts

    def _write(self, action: Callable[[], object]) -> None:
        with self._lock:
            try:
                self._while_busy(action)
            except sqlite3.Error as error:
                raise CacheWriteError(self.path, _problem(error, writing=True)) from None

    def put(
        self,
        key: str,
        *,
        image_id: str,
        operation: str,
        params: Mapping[str, Any],
        response: Mapping[str, Any],
        model_version: str | None,
        newest: bool = True,
        owner: str | None = None,
    ) -> None:
        """Store and commit at once: an answer that was paid for is never lost to a crash.

        Only an answer of the documented shape is stored (BadAnswer otherwise); `owner`'s claim on the
        key, if any, ends with it. A file that cannot be written raises CacheWriteError. With `newest`
        False the answer is only kept by its model version (a canary's answer must not replace the one a
        run uses); an answer without a model version has no version to be kept by.
        """
        entry = dict(key=key, image_id=image_id, operation=operation, params=params, response=response)
        self.put_many([{**entry, "model_version": model_version, "newest": newest}], owner=owner)

    def put_many(self, entries: Sequence[Mapping[str, Any]], *, owner: str | None = None) -> None:
        """Store several answers (each a mapping of `put`'s arguments) in one transaction, with their
        columns. Every answer is checked first (BadAnswer: nothing of the batch is stored). An answer
        with a model version is also kept by that version; one with `newest` False only there (its
        columns, like `responses`, hold the newest answer per key)."""
        for entry in entries:
            check_answer(entry["operation"], _without_metadata(entry["response"]))
        created = datetime.now(timezone.utc).isoformat(timespec="seconds")
        newest = [entry for entry in entries if entry.get("newest", True)]
        rows = [
            (
                entry["key"],
                entry["image_id"],
                entry["operation"],
                canonical_json(entry["params"]),
                canonical_json(_without_metadata(entry["response"])),
                entry["model_version"],
                created,
            )
            for entry in newest
        ]
        versioned = [
            (
                entry["key"],
                entry["model_version"],
                canonical_json(_without_metadata(entry["response"])),
                created,
            )
            for entry in entries
            if entry["model_version"] is not None and not entry.get("newest", True)
        ]
        encoded = [
            (
                codec,
                [
                    (entry["key"], encode_columns(codec, entry["operation"], entry["response"]))
                    for entry in newest
                ],
            )
            for codec in self.codecs
        ]
        owned = [(entry["key"], owner) for entry in entries] if owner is not None else []
        self._write(lambda: self._store(rows, versioned, encoded, owned))

    def put_recorded(
        self, answers: Sequence[tuple[Any, ...]], *, operation: str, params: str, commit: bool = True
    ) -> None:
        """Recorded answers, checked by the caller (evaluation.calls.recorded), in one transaction, as
        `put_many` stores them: each (key, image id, model version, its JSON text as recorded, stored as
        it is; then the cache's one codec's columns, or None and the response to encode them from).
        Without `commit` the transaction stays open for the next call's answers: a transaction of many
        answers writes each index page it touches once, not once per answer (a million random keys)."""
        created = datetime.now(timezone.utc).isoformat(timespec="seconds")
        rows = [
            (key, image_id, operation, params, text, version, created)
            for key, image_id, version, text, *_ in answers
        ]
        encoded = [
            (
                codec,
                [
                    (key, columns if columns is not None else encode_columns(codec, operation, response))
                    for key, _, _, _, columns, response in answers
                ],
            )
            for codec in self.codecs
        ]
        self._write(lambda: self._store(rows, [], encoded, [], commit=commit))

    def _store(
        self,
        rows: Sequence[tuple[Any, ...]],
        versioned: Sequence[tuple[Any, ...]],
        encoded: Sequence[tuple[ColumnCodec, Sequence[tuple[str, Any]]]],
        owned: Sequence[tuple[str, str]],
        commit: bool = True,
    ) -> None:
        """One transaction: `rows` as the newest answers (with their columns, `encoded`), `versioned` kept
        by model version only, and the claims `owned` ended."""
        # the newest answer of a key is kept once, in `responses`; an answer it replaces moves to
        # answer_versions when it is of another model version (a same-version answer is superseded)
        superseded = [(row[0], row[5] or "") for row in rows]
        if not self._open:  # else the transaction a put_recorded left open goes on
            if self._conn.in_transaction:  # a Ctrl-C landed inside an earlier write on this thread
                self._conn.execute("ROLLBACK")
            # BEGIN IMMEDIATE takes the write lock first, so the busy timeout applies to the wait
            self._conn.execute("BEGIN IMMEDIATE")
        try:
            self._conn.executemany(
                "INSERT OR REPLACE INTO answer_versions (key, model_version, response, created_at) "
                "SELECT key, model_version, response, created_at FROM responses "
                "WHERE key = ? AND model_version IS NOT NULL AND model_version != ?",
                superseded,
            )
            self._conn.executemany(_PUT_SQL, rows)
            self._conn.executemany(  # held as the newest now: not twice
                "DELETE FROM answer_versions WHERE key = ? AND model_version = ?", superseded
            )
            # a REPLACE fires no trigger: columns this cache does not write lose the answers replaced
            written = {f"columns_{codec.kind}" for codec in self.codecs}
            for table in self._column_tables():
                if table not in written:
                    replaced = [row[:1] for row in rows]
                    self._conn.executemany(f"DELETE FROM {table} WHERE key = ?", replaced)
            self._conn.executemany(
                "INSERT OR REPLACE INTO answer_versions (key, model_version, response, created_at) "
                "VALUES (?, ?, ?, ?)",
                versioned,
            )
            for codec, values in encoded:
                self._write_columns(codec, [(key, value) for key, value in values if value is not None])
                gone = [(key,) for key, value in values if value is None]
                if gone:  # an answer the codec cannot read keeps no stale columns of an older answer
                    self._conn.executemany(f"DELETE FROM columns_{codec.kind} WHERE key = ?", gone)
            if owned:  # the claims on these keys end with their answers
                self._conn.executemany("DELETE FROM claims WHERE key = ? AND owner = ?", owned)
            if commit:
                self._conn.execute("COMMIT")
            self._open = not commit
        except BaseException:
            self._open = False
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            raise

    def get_versions(self, wanted: Mapping[str, str | None]) -> dict[str, CachedResponse]:
        """Per cache key the answer of the model version asked (None: the newest); missing ones absent.

        A version is found among the answers kept by version, or as the newest answer when that one is
        of it (caches written before answers were kept by version).
        """
        newest = self.get_many(wanted)
        found: dict[str, CachedResponse] = {}
        for key, version in wanted.items():
            entry = newest.get(key)
            # an answer that names no model version (DetectCustomLabels) is the only one there is
            if entry is not None and (version is None or entry.model_version in (version, None)):
                found[key] = entry
                continue
            if version is None:
                continue
            with self._lock:
                row = self._conn.execute(
                    "SELECT response, created_at FROM answer_versions WHERE key = ? AND model_version = ?",
                    (key, version),
                ).fetchone()
            if row is not None and entry is not None:
                found[key] = CachedResponse(
                    key=key,
                    image_id=entry.image_id,
                    operation=entry.operation,
                    params=entry.params,
                    response=json.loads(row[0]),
                    model_version=version,
                    created_at=row[1],
                )
        return found

    def versions(self, key: str) -> list[str]:
        """Every model version an answer for `key` is kept under (the newest's and the older ones'),
        oldest first."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT model_version, MIN(created_at) AS first FROM ("
                "SELECT model_version, created_at FROM answer_versions WHERE key = ? UNION ALL "
                "SELECT model_version, created_at FROM responses WHERE key = ? AND model_version IS NOT NULL"
                ") GROUP BY model_version ORDER BY first, model_version",
                (key, key),
            ).fetchall()
        return [row[0] for row in rows]

    def __len__(self) -> int:
        with self._lock:
            return int(self._read("SELECT COUNT(*) FROM responses", ())[0][0])


def _row_to_cached(row: tuple[Any, ...]) -> CachedResponse | None:
    """The row as an answer; None for a row whose answer is not of the documented shape (ask again)."""
    response = _parsed(row[4])
    params = _parsed(row[3])
    if not isinstance(params, dict) or answer_problem(row[2], response) is not None:
        return None
    return CachedResponse(
        key=row[0],
        image_id=row[1],
        operation=row[2],
        params=params,
        response=response,
        model_version=row[5],
        created_at=row[6],
    )


__all__ = [
    "ANSWERED",
    "CLAIMED",
    "HELD_ELSEWHERE",
    "BadAnswer",
    "CacheError",
    "CacheWriteError",
    "CachedResponse",
    "ColumnCodec",
    "Columns",
    "ResponseCache",
    "cache_key",
    "canonical_json",
    "default_cache_path",
]
