"""Claims on cache keys, so runs sharing one cache never pay twice for an image: a run claims a key
before calling for it, with a lease it renews while alive; another run skips a key claimed by a live
run, and takes over one whose lease ran out (its run died). Part of ResponseCache (its connection,
lock and writer)."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable

from evaluation.calls.columns import _valid

ANSWERED, CLAIMED, HELD_ELSEWHERE = "answered", "claimed", "held elsewhere"


class ClaimStore:
    """The claims' part of ResponseCache, which provides the connection, its lock and `_write`."""

    _conn: sqlite3.Connection
    _lock: threading.Lock

    def _write(self, action: Callable[[], object]) -> None:
        raise NotImplementedError

    def claim(self, key: str, owner: str, *, lease_s: float, refresh: bool = False) -> str:
        """Before calling for `key`: ANSWERED (a valid answer is stored), CLAIMED (this owner holds it
        now, until `lease_s` from now unless renewed) or HELD_ELSEWHERE (another live run is calling).
        With `refresh` a stored answer does not count (--refresh calls again)."""

        outcome: list[str] = []

        def take() -> None:
            outcome.clear()
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                row = self._conn.execute(
                    "SELECT operation, response FROM responses WHERE key = ?", (key,)
                ).fetchone()
                if row is not None and not refresh and _valid(row[0], row[1]):
                    outcome.append(ANSWERED)
                else:
                    now = time.time()
                    holder = self._conn.execute(
                        "SELECT owner, expires FROM claims WHERE key = ?", (key,)
                    ).fetchone()
                    if holder is not None and holder[0] != owner and holder[1] > now:
                        outcome.append(HELD_ELSEWHERE)
                    else:
                        self._conn.execute(
                            "INSERT OR REPLACE INTO claims (key, owner, expires) VALUES (?, ?, ?)",
                            (key, owner, now + lease_s),
                        )
                        outcome.append(CLAIMED)
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

        self._write(take)
        return outcome[0]

    def release(self, key: str, owner: str) -> None:
        """Give an image back unanswered (its call failed): another run may try it."""
        self._write(
            lambda: self._conn.execute("DELETE FROM claims WHERE key = ? AND owner = ?", (key, owner))
        )

    def renew(self, owner: str, *, lease_s: float) -> None:
        """Extend every claim this owner holds: it is alive and still calling."""
        self._write(
            lambda: self._conn.execute(
                "UPDATE claims SET expires = ? WHERE owner = ?", (time.time() + lease_s, owner)
            )
        )
