"""The response store: every raw answer, kept once, so analysis never needs another call.

SQLite in WAL mode: each answer is committed as soon as it arrives (an interrupted run keeps all it
received), several threads of one run share a connection behind a lock, and two runs sharing one file
do not corrupt it (SQLite's own locking; writers wait up to `busy_timeout`).
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

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
"""


def canonical_json(value: Any) -> str:
    """One spelling per value, so equal requests give equal keys."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


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


class ResponseCache:
    """Raw responses by cache key. Thread-safe; use as a context manager or call close()."""

    def __init__(self, path: str | Path, *, busy_timeout_s: float = 30.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._busy_timeout_s = busy_timeout_s
        self._conn = sqlite3.connect(
            str(self.path), timeout=busy_timeout_s, check_same_thread=False, isolation_level=None
        )
        self._while_busy(lambda: self._conn.execute("PRAGMA journal_mode=WAL"))
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._while_busy(lambda: self._conn.executescript(_SCHEMA))

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

    def get(self, key: str) -> CachedResponse | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT key, image_id, operation, params, response, model_version, created_at "
                "FROM responses WHERE key = ?",
                (key,),
            ).fetchone()
        return _row_to_cached(row) if row else None

    def get_many(self, keys: Iterable[str]) -> dict[str, CachedResponse]:
        """Responses for the keys that are stored; missing keys are simply absent."""
        wanted = list(dict.fromkeys(keys))
        found: dict[str, CachedResponse] = {}
        chunk = 500
        with self._lock:
            for start in range(0, len(wanted), chunk):
                part = wanted[start : start + chunk]
                marks = ",".join("?" * len(part))
                rows = self._conn.execute(
                    "SELECT key, image_id, operation, params, response, model_version, created_at "
                    f"FROM responses WHERE key IN ({marks})",
                    part,
                ).fetchall()
                for row in rows:
                    found[row[0]] = _row_to_cached(row)
        return found

    def contains(self, key: str) -> bool:
        with self._lock:
            return self._conn.execute("SELECT 1 FROM responses WHERE key = ?", (key,)).fetchone() is not None

    def put(
        self,
        key: str,
        *,
        image_id: str,
        operation: str,
        params: Mapping[str, Any],
        response: Mapping[str, Any],
        model_version: str | None,
    ) -> None:
        """Store and commit at once: an answer that was paid for is never lost to a crash."""
        created = datetime.now(timezone.utc).isoformat(timespec="seconds")
        row = (
            key,
            image_id,
            operation,
            canonical_json(params),
            canonical_json(_without_metadata(response)),
            model_version,
            created,
        )

        def write() -> None:
            if self._conn.in_transaction:  # a Ctrl-C landed inside an earlier write on this thread
                self._conn.execute("ROLLBACK")
            # BEGIN IMMEDIATE takes the write lock first, so the busy timeout applies to the wait
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.execute(
                    "INSERT OR REPLACE INTO responses "
                    "(key, image_id, operation, params, response, model_version, created_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    row,
                )
                self._conn.execute("COMMIT")
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise

        with self._lock:
            self._while_busy(write)

    def __len__(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT COUNT(*) FROM responses").fetchone()[0])


def _without_metadata(response: Mapping[str, Any]) -> dict[str, Any]:
    """boto3's ResponseMetadata (request ids, headers, retry counts) is per call, not part of the answer."""
    return {name: value for name, value in response.items() if name != "ResponseMetadata"}


def _row_to_cached(row: tuple[Any, ...]) -> CachedResponse:
    return CachedResponse(
        key=row[0],
        image_id=row[1],
        operation=row[2],
        params=json.loads(row[3]),
        response=json.loads(row[4]),
        model_version=row[5],
        created_at=row[6],
    )
