"""Calls a backend for every image that has no stored answer, as fast as the quota allows, losing nothing.

Two phases: first every image is read, checked and given its cache key (no call), so a dry run knows
exactly what is still to be paid for; then the missing answers are fetched by a thread pool that
shares one client, each stored the moment it arrives. An error on one image never stops the others.
"""

from __future__ import annotations

import logging
import queue
import random
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from evaluation.calls.backends.base import Backend, NotCached
from evaluation.calls.cache import ResponseCache, cache_key
from evaluation.calls.ratelimit import AdaptiveRate
from evaluation.errors import UserError
from evaluation.images import AS_IS, ImageProblem, ImageRef, LoadedImage, Preparation, load_image

log = logging.getLogger(__name__)

CALLED, CACHED, REJECTED, FAILED, MISSING = "called", "cached", "rejected", "failed", "missing"
ANSWERED = frozenset({CALLED, CACHED})


@dataclass
class ImageOutcome:
    """What happened to one image; `reason` is the sentence a report shows for a problem."""

    image: str
    status: str
    cache_key: str | None = None
    image_id: str | None = None
    reason: str | None = None
    error_code: str | None = None
    orientation: int | None = None
    changes: str | None = None

    @property
    def answered(self) -> bool:
        return self.status in ANSWERED


@dataclass
class RunStats:
    images: int = 0
    calls: int = 0
    cache_hits: int = 0
    rejected: int = 0
    failed: int = 0
    missing: int = 0
    retries: int = 0
    throttled: int = 0
    wall_s: float = 0.0
    interrupted: bool = False
    error_codes: dict[str, int] = field(default_factory=dict)


class Interrupted(Exception):
    """Ctrl-C during a run: the answers already stored are kept, a rerun resumes."""

    def __init__(self, outcomes: list[ImageOutcome], stats: RunStats) -> None:
        super().__init__("interrupted")
        self.outcomes = outcomes
        self.stats = stats


def plan(
    images: Sequence[ImageRef],
    backend: Backend,
    cache: ResponseCache,
    *,
    preparation: Preparation = AS_IS,
) -> tuple[list[ImageOutcome], list[int]]:
    """Check every image and find its stored answer; returns outcomes and the indexes still to call."""
    params = backend.request_params()
    outcomes: list[ImageOutcome] = []
    for ref in images:
        try:
            loaded = load_image(ref, backend.limits, preparation)
        except ImageProblem as problem:
            outcomes.append(ImageOutcome(image=ref.uri, status=REJECTED, reason=str(problem)))
            log.warning("%s: rejected: %s", ref.uri, problem)
            continue
        key = cache_key(loaded.image_id, backend.operation, params)
        outcomes.append(
            ImageOutcome(
                image=ref.uri,
                status=MISSING,
                cache_key=key,
                image_id=loaded.image_id,
                orientation=loaded.orientation,
                changes=";".join(loaded.changes) or None,
            )
        )
    stored = cache.stored_keys(o.cache_key for o in outcomes if o.cache_key)  # indexed, nothing parsed
    to_call: list[int] = []
    seen_keys: set[str] = set()
    for index, outcome in enumerate(outcomes):
        if outcome.cache_key is None:
            continue
        if outcome.cache_key in stored:
            outcome.status = CACHED
        elif outcome.cache_key not in seen_keys:  # identical bytes under two names: one call
            seen_keys.add(outcome.cache_key)
            to_call.append(index)
    return outcomes, to_call


def _next_finished(finished: queue.SimpleQueue[Future[None]], *, timeout: float) -> list[Future[None]]:
    """The next finished future, waiting up to `timeout` (so Ctrl-C is seen); none when none finished."""
    try:
        return [finished.get(timeout=timeout)]
    except queue.Empty:
        return []


def _describe_error(exc: BaseException) -> tuple[str, str]:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", "ClientError"))
        return code, f"{code}: {error.get('Message', '')}".rstrip(": ")
    if isinstance(exc, NotCached):
        return "NotCached", str(exc)
    if isinstance(exc, ImageProblem):
        return "ImageProblem", str(exc)
    if isinstance(exc, BotoCoreError):
        return type(exc).__name__, f"{type(exc).__name__}: {exc}"
    return type(exc).__name__, f"{type(exc).__name__}: {exc}"


class _Progress:
    """A progress bar on a terminal, a log line every few seconds elsewhere (CI logs, notebooks' files)."""

    def __init__(self, total: int, *, enabled: bool, cached: int) -> None:
        self.total = total
        self.done = 0
        self.errors = 0
        self.cached = cached
        self._bar = None
        self._last_line = time.monotonic()
        self._started = time.monotonic()
        self.enabled = enabled and total > 0
        if self.enabled and sys.stderr.isatty():
            from tqdm import tqdm

            self._bar = tqdm(total=total, unit="img", desc="calling", dynamic_ncols=True)
            self._bar.set_postfix(cached=cached, errors=0)

    def update(self, *, error: bool) -> None:
        self.done += 1
        self.errors += int(error)
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.update(1)
            self._bar.set_postfix(cached=self.cached, errors=self.errors, refresh=False)
            return
        now = time.monotonic()
        if now - self._last_line >= 5.0 or self.done == self.total:
            self._last_line = now
            rate = self.done / max(now - self._started, 1e-9)
            eta = (self.total - self.done) / rate if rate > 0 else float("inf")
            log.info(
                "called %d/%d images (%.1f/s, ETA %.0fs), %d cached, %d errors",
                self.done,
                self.total,
                rate,
                eta,
                self.cached,
                self.errors,
            )

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


RETRYABLE_CODES = frozenset(
    {
        "ThrottlingException",
        "ProvisionedThroughputExceededException",
        "InternalServerError",
        "ServiceUnavailableException",
        "RequestTimeout",
        "RequestTimeoutException",
    }
)
THROTTLING_CODES = frozenset({"ThrottlingException", "ProvisionedThroughputExceededException"})


def is_retryable(exc: BaseException) -> bool:
    """Throttling, 5xx and dropped or timed-out connections are worth another try; nothing else is."""
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return code in RETRYABLE_CODES or int(status or 0) >= 500
    from botocore.exceptions import ConnectionError as BotoConnectionError
    from botocore.exceptions import HTTPClientError

    return isinstance(exc, (BotoConnectionError, HTTPClientError))


def _retry_attempts(source: Any) -> int:
    metadata = source.get("ResponseMetadata", {}) if isinstance(source, dict) else {}
    return int(metadata.get("RetryAttempts", 0) or 0)


@dataclass(frozen=True)
class RetryPolicy:
    """Rounds of retries on top of botocore's own, for outages longer than its attempts cover.

    botocore's standard mode retries each call a few times within seconds and has a client-wide retry
    quota that a long throttling burst can exhaust; a lost image costs a rerun, so the runner waits
    longer (jittered exponential backoff) and tries again before giving up on an image.
    """

    rounds: int = 4
    base_s: float = 1.0
    cap_s: float = 30.0

    def delay(self, round_number: int) -> float:
        return random.uniform(0, min(self.cap_s, self.base_s * 2**round_number))


def fetch(
    images: Sequence[ImageRef],
    backend: Backend,
    cache: ResponseCache,
    *,
    workers: int = 8,
    tps: float | None = None,
    progress: bool = True,
    preparation: Preparation = AS_IS,
    retry: RetryPolicy | None = None,
    planned: tuple[list[ImageOutcome], list[int]] | None = None,
) -> tuple[list[ImageOutcome], RunStats]:
    """Make sure every image has an answer in the cache; returns one outcome per image, in order.

    `planned` is the result of `plan` for the same arguments (a dry run's), to skip reading twice.
    """
    started = time.monotonic()
    retry = retry or RetryPolicy()
    if planned is None:
        planned = plan(images, backend, cache, preparation=preparation)
    outcomes, to_call = planned
    stats = RunStats(images=len(images))
    limiter = AdaptiveRate(tps, burst=1.0) if tps else None  # paced, never bursting past the quota
    params = backend.request_params()
    stop = threading.Event()
    counters_lock = threading.Lock()

    def count(retries: int = 0, throttled: int = 0) -> None:
        with counters_lock:
            stats.retries += retries
            stats.throttled += throttled

    def call_with_retries(loaded: LoadedImage) -> dict[str, Any]:
        for round_number in range(retry.rounds + 1):
            if limiter is not None:
                limiter.acquire()
            if stop.is_set():
                raise _Stopped
            try:
                response = backend.call(loaded)
            except Exception as exc:
                if isinstance(exc, ClientError):
                    code = exc.response.get("Error", {}).get("Code", "")
                    count(retries=_retry_attempts(exc.response), throttled=int(code in THROTTLING_CODES))
                if round_number == retry.rounds or not is_retryable(exc):
                    raise
                if limiter is not None:
                    limiter.pushed_back()
                count(retries=1)
                if stop.wait(retry.delay(round_number)):
                    raise _Stopped from None
                continue
            retried = _retry_attempts(response)
            count(retries=retried)
            if limiter is not None:
                # botocore retried inside the call: the service pushed back (throttling or 5xx)
                limiter.pushed_back() if retried else limiter.went_through()
            return response
        raise AssertionError("unreachable")

    def call_one(index: int) -> None:
        outcome = outcomes[index]
        if stop.is_set():
            return
        loaded: LoadedImage = load_image(ImageRef(outcome.image), backend.limits, preparation)
        if loaded.image_id != outcome.image_id:
            raise ImageProblem("the file changed while the run was reading it")
        try:
            response = call_with_retries(loaded)
        except _Stopped:
            return
        cache.put(
            outcome.cache_key or "",
            image_id=loaded.image_id,
            operation=backend.operation,
            params=params,
            response=response,
            model_version=model_version(response),
        )
        outcome.status = CALLED

    bar = _Progress(len(to_call), enabled=progress, cached=sum(o.status == CACHED for o in outcomes))
    executor = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="rekognition-eval")
    pending: dict[Future[None], int] = {}
    try:
        # Completed futures arrive on a queue (constant work per image): waiting on the set of pending
        # futures would look at every one of them on each wake-up, which slows a run of 100,000 images.
        finished: queue.SimpleQueue[Future[None]] = queue.SimpleQueue()
        for index in to_call:
            future = executor.submit(call_one, index)
            pending[future] = index
            future.add_done_callback(finished.put)
        answered, setup_failures = 0, []
        while pending:
            # one at a time, so the setup-failure check below sees each failure as it comes
            for future in _next_finished(finished, timeout=0.5):
                index = pending.pop(future)
                exc = future.exception()
                if exc is None:
                    answered += 1
                else:
                    code, reason = _describe_error(exc)
                    outcome = outcomes[index]
                    outcome.status = MISSING if isinstance(exc, NotCached) else FAILED
                    outcome.reason, outcome.error_code = reason, code
                    log.error("%s %s: %s", backend.operation, outcome.image, reason)
                    if code in SETUP_ERROR_CODES:
                        setup_failures.append(reason)
                bar.update(error=exc is not None)
            if not answered and len(setup_failures) >= SETUP_FAILURES_TO_STOP:
                stop.set()
                executor.shutdown(wait=True, cancel_futures=True)
                bar.close()
                raise SetupFailure(len(setup_failures), setup_failures[0])
    except KeyboardInterrupt:
        stop.set()
        executor.shutdown(wait=True, cancel_futures=True)
        bar.close()
        for outcome in outcomes:
            if outcome.status == MISSING and outcome.reason is None:
                outcome.reason = "not called: the run was interrupted"
        _finish(outcomes, stats, started)
        stats.interrupted = True
        raise Interrupted(outcomes, stats) from None
    executor.shutdown(wait=True)
    bar.close()
    _copy_duplicate_answers(outcomes)
    _finish(outcomes, stats, started)
    return outcomes, stats


# Errors that say the endpoint, the credentials or the operation are wrong, not the image: when the first
# calls all fail with them, every other call would too, so the run stops instead of failing each image.
SETUP_ERROR_CODES = frozenset(
    {
        "EndpointConnectionError",
        "ConnectTimeoutError",
        "ConnectionClosedError",
        "UnknownOperationException",
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "ExpiredTokenException",
        "AccessDeniedException",
        "NoCredentialsError",
    }
)
SETUP_FAILURES_TO_STOP = 8


class SetupFailure(UserError):
    """The first calls all failed in a way no image can fix; nothing more is called."""

    def __init__(self, count: int, first_reason: str) -> None:
        super().__init__(
            f"the first {count} calls all failed, e.g. {first_reason}; this is not about the images: "
            "check --endpoint-url, the region, the credentials and the operation (answers already "
            "stored are kept)"
        )


class _Stopped(Exception):
    """Raised inside a worker when the run is being interrupted; the image stays unanswered."""


def _copy_duplicate_answers(outcomes: list[ImageOutcome]) -> None:
    """An image whose bytes equal another's shares that one's answer (or its failure, or its absence)."""
    by_key = {
        o.cache_key: o
        for o in outcomes
        if o.cache_key and (o.status in (CALLED, FAILED) or (o.status == MISSING and o.reason))
    }
    for outcome in outcomes:
        source = by_key.get(outcome.cache_key) if outcome.status == MISSING and not outcome.reason else None
        if source is not None and source is not outcome:
            outcome.status = {CALLED: CACHED}.get(source.status, source.status)
            outcome.reason, outcome.error_code = source.reason, source.error_code


def _finish(outcomes: list[ImageOutcome], stats: RunStats, started: float) -> None:
    stats.calls = sum(o.status == CALLED for o in outcomes)
    stats.cache_hits = sum(o.status == CACHED for o in outcomes)
    stats.rejected = sum(o.status == REJECTED for o in outcomes)
    stats.failed = sum(o.status == FAILED for o in outcomes)
    stats.missing = sum(o.status == MISSING for o in outcomes)
    codes: dict[str, int] = {}
    for outcome in outcomes:
        if outcome.error_code:
            codes[outcome.error_code] = codes.get(outcome.error_code, 0) + 1
    stats.error_codes = codes
    stats.wall_s = round(time.monotonic() - started, 3)


def model_version(response: Mapping[str, Any]) -> str | None:
    """The model version an answer names (each API calls the field its own way)."""
    for field_name in ("LabelModelVersion", "ModerationModelVersion", "TextModelVersion", "FaceModelVersion"):
        if response.get(field_name):
            return str(response[field_name])
    return None
