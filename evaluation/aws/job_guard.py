"""The guard of stored-video jobs: a ledger of every job started, so no video is ever started twice.

A Rekognition Video job costs money while it runs, and there is no API to stop one: the only protection
is never to start a job that is already there. So, for every (video, API, request):

1. before Start*, a row with the ClientRequestToken to be sent is written (status STARTING);
2. Start* is called with that token: the service answers the same JobId for the same token, so a run
   killed between the call and step 3 starts nothing new when it sends the same token again;
3. the JobId is written (status IN_PROGRESS) before the first poll;
4. the outcome (SUCCEEDED, FAILED, EXPIRED) is written when known.

A rerun reads the ledger and polls the jobs it finds instead of starting others; only a FAILED job, or one
whose results the service no longer keeps (7 days), is started again, with a new token (attempt + 1).
The ledger lives in the response cache's SQLite file (its own table), so it travels with the answers.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

__all__ = ["RESULTS_KEPT", "JobLedger", "JobRecord", "job_token"]

RESULTS_KEPT = timedelta(days=7)  # the service keeps a job's results this long [DG:api-video]

_SELECT = "SELECT job_key, api, video, token, attempt, job_id, status, message, started_at, finished_at "
_SCHEMA = """
CREATE TABLE IF NOT EXISTS video_jobs (
    job_key TEXT PRIMARY KEY,
    api TEXT NOT NULL,
    video TEXT NOT NULL,
    token TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    job_id TEXT,
    status TEXT NOT NULL,
    message TEXT,
    started_at TEXT NOT NULL,
    finished_at TEXT
);
"""


def job_token(job_key: str, attempt: int) -> str:
    """ClientRequestToken: 64 characters of [0-9a-f], one per (video, API, request, attempt)."""
    return hashlib.sha256(f"{job_key}:{attempt}".encode()).hexdigest()


@dataclass(frozen=True)
class JobRecord:
    job_key: str
    api: str
    video: str
    token: str
    attempt: int
    job_id: str | None
    status: str
    message: str | None
    started_at: str
    finished_at: str | None

    @property
    def results_expired(self) -> bool:
        started = datetime.fromisoformat(self.started_at)
        return datetime.now(timezone.utc) - started > RESULTS_KEPT

    @property
    def reusable(self) -> bool:
        """A job to poll rather than start again: running, or done with results still kept."""
        return self.status in ("STARTING", "IN_PROGRESS", "SUCCEEDED") and not self.results_expired


class JobLedger:
    """What was started, by job key; thread-safe, every write committed at once."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(
            str(self.path), timeout=30.0, check_same_thread=False, isolation_level=None
        )
        self._conn.executescript(_SCHEMA)

    def __enter__(self) -> JobLedger:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def get(self, job_key: str) -> JobRecord | None:
        with self._lock:
            row = self._conn.execute(
                _SELECT + "FROM video_jobs WHERE job_key = ?",
                (job_key,),
            ).fetchone()
        return JobRecord(*row) if row else None

    def all(self) -> list[JobRecord]:
        with self._lock:
            rows = self._conn.execute(_SELECT + "FROM video_jobs ORDER BY started_at").fetchall()
        return [JobRecord(*row) for row in rows]

    def starting(self, job_key: str, *, api: str, video: str, attempt: int) -> JobRecord:
        """Step 1: the token is recorded before Start* is called."""
        now = _now()
        record = JobRecord(
            job_key, api, video, job_token(job_key, attempt), attempt, None, "STARTING", None, now, None
        )
        with self._lock:
            self._conn.execute(
                "INSERT OR REPLACE INTO video_jobs "
                "(job_key, api, video, token, attempt, job_id, status, message, started_at, finished_at) "
                "VALUES (?, ?, ?, ?, ?, NULL, 'STARTING', NULL, ?, NULL)",
                (job_key, api, video, record.token, attempt, now),
            )
        return record

    def started(self, job_key: str, job_id: str) -> None:
        """Step 3: the JobId, before the first poll."""
        with self._lock:
            self._conn.execute(
                "UPDATE video_jobs SET job_id = ?, status = 'IN_PROGRESS' WHERE job_key = ?",
                (job_id, job_key),
            )

    def finished(self, job_key: str, status: str, message: str | None = None) -> None:
        with self._lock:
            self._conn.execute(
                "UPDATE video_jobs SET status = ?, message = ?, finished_at = ? WHERE job_key = ?",
                (status, message, _now(), job_key),
            )


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
