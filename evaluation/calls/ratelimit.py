"""One token bucket, for both sides of a rate: the runner waits for a token, a test server refuses."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class TokenBucket:
    """At most `tps` events a second on average, with bursts of up to `burst` (default: a tenth of tps)."""

    def __init__(
        self, tps: float, *, burst: float | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if tps <= 0:
            raise ValueError(f"tps must be positive, got {tps}")
        self.tps = float(tps)
        self.capacity = float(burst if burst is not None else max(1.0, tps / 10))
        self._tokens = self.capacity
        self._clock = clock
        self._last = clock()
        self._lock = threading.Lock()

    def _refill_and_take(self) -> float:
        """Take a token if there is one (returns 0), else the seconds until there will be."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.capacity, self._tokens + (now - self._last) * self.tps)
            self._last = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return 0.0
            return (1.0 - self._tokens) / self.tps

    def try_take(self) -> bool:
        """A token now, or False: what a server that throttles does."""
        return self._refill_and_take() == 0.0

    def acquire(self) -> None:
        """Wait for a token: what a client that respects the rate does."""
        while (wait_s := self._refill_and_take()) > 0.0:
            time.sleep(wait_s)


class AdaptiveRate(TokenBucket):
    """A client's rate that backs off when the service pushes back and creeps back up when it does not.

    The configured rate is a ceiling: the quota may be shared with other applications, or lower than the
    table says. A throttled (or retried) call cuts the rate by `decrease`; each clean call adds back
    `increase` of the ceiling, so the client settles just under what the service actually allows instead
    of being throttled on every call (additive increase, multiplicative decrease).
    """

    def __init__(
        self,
        tps: float,
        *,
        burst: float | None = None,
        decrease: float = 0.8,
        increase: float = 0.005,
        floor_fraction: float = 0.05,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(tps, burst=burst, clock=clock)
        self.ceiling = float(tps)
        self._decrease = decrease
        self._increase = increase * float(tps)
        self._floor = floor_fraction * float(tps)
        self._last_cut = -1.0e9

    def pushed_back(self) -> None:
        """The service throttled: slow down, at most once per refill period so a burst cuts once."""
        with self._lock:
            now = self._clock()
            if now - self._last_cut < 1.0 / self.tps * self.capacity + 0.1:
                return
            self._last_cut = now
            self.tps = max(self._floor, self.tps * self._decrease)

    def went_through(self) -> None:
        with self._lock:
            self.tps = min(self.ceiling, self.tps + self._increase)
