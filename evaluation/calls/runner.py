"""Calls a backend for every image that has no stored answer, as fast as the quota allows, losing nothing.

Two phases: first every image is read, checked and given its cache key (no call), so a dry run knows
exactly what is still to be paid for; then the missing answers are fetched by a thread pool that
shares one client, each checked (evaluation.calls.answers) and stored the moment it arrives. An error on
one image never stops the others; three things stop the run at once, with one line:
- the cache cannot be written (disk full, read-only): every further answer would be paid for and lost;
- no connection can be made, or no credentials found, before any answer came: no image can fix that;
- the first calls all fail with a set-up error (wrong operation, credentials refused).
Runs sharing one cache claim each image before calling it (ResponseCache.claim), so no image is paid
for twice: an image another live run holds is skipped, then picked up once its answer is stored.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import random
import socket
import sys
import threading
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from evaluation.calls.answers import BadAnswer, answer_problem, model_version_of
from evaluation.calls.backends.base import Backend, NotCached
from evaluation.calls.backends.replay import replay_hint
from evaluation.calls.cache import ANSWERED as CLAIM_ANSWERED
from evaluation.calls.cache import (
    HELD_ELSEWHERE,
    CacheError,
    CacheWriteError,
    ResponseCache,
    cache_key,
    canonical_json,
)
from evaluation.calls.completions import finished_queue, next_finished, submit_all
from evaluation.calls.ratelimit import AdaptiveRate
from evaluation.calls.redact import scrub
from evaluation.calls.watch import (
    SETUP_ERROR_CODES,
    SETUP_FAILURES_TO_STOP,
    THROTTLING_CODES,
    ClientWatch,
    Heartbeat,
    SetupFailure,
    is_retryable,
    stops_the_run,
)
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


def _describe_error(exc: BaseException) -> tuple[str, str]:
    code, reason = _error_text(exc)
    return code, scrub(reason)  # botocore quotes the endpoint URL, credentials and all


def _error_text(exc: BaseException) -> tuple[str, str]:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", "ClientError"))
        return code, f"{code}: {error.get('Message', '')}".rstrip(": ")
    if isinstance(exc, BadAnswer):
        return "MalformedAnswer", f"{exc} (not stored; asked again on the next run)"
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


DEFAULT_LEASE_S = 60.0
_DONE, _DEFERRED = "done", "deferred"


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
    lease_s: float = DEFAULT_LEASE_S,
    poll_s: float = 0.25,
    refresh: bool = False,
) -> tuple[list[ImageOutcome], RunStats]:
    """Make sure every image has an answer in the cache (a new one with `refresh`), one outcome each.

    `planned` is the result of `plan` for the same arguments (a dry run's), to skip reading twice.
    `lease_s` is how long a claim on an image outlives this run if it dies (renewed while it lives);
    `poll_s` how often images other runs hold are looked at again.
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
    got_answer = threading.Event()  # once set, a connection error is an outage, not a wrong endpoint
    counters_lock = threading.Lock()
    claims = _calls_for_real(backend)
    owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"

    def count(retries: int = 0, throttled: int = 0) -> None:
        with counters_lock:
            stats.retries += retries
            stats.throttled += throttled

    watch = ClientWatch(backend, count=count, got_answer=got_answer)

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
                    throttled = 0 if watch.counts_throttles else int(code in THROTTLING_CODES)
                    count(retries=_retry_attempts(exc.response), throttled=throttled)
                if round_number == retry.rounds or not is_retryable(exc) or stops_the_run(exc, got_answer):
                    raise
                if limiter is not None:
                    limiter.pushed_back()
                count(retries=1)
                if stop.wait(retry.delay(round_number)):
                    raise _Stopped from None
                continue
            got_answer.set()
            retried = _retry_attempts(response)
            count(retries=retried)
            if limiter is not None:
                # botocore retried inside the call: the service pushed back (throttling or 5xx)
                limiter.pushed_back() if retried else limiter.went_through()
            return response
        raise AssertionError("unreachable")

    def release(key: str) -> None:
        if claims:
            with contextlib.suppress(CacheError):  # the lease runs out on its own
                cache.release(key, owner)

    def call_one(index: int) -> str:
        try:
            return answer_one(index)
        except CacheWriteError:
            stop.set()  # no other worker starts a call whose answer could not be kept
            raise

    def answer_one(index: int) -> str:
        outcome = outcomes[index]
        key = outcome.cache_key or ""
        if stop.is_set():
            return _DONE
        if claims:
            state = cache.claim(key, owner, lease_s=lease_s, refresh=refresh)
            if state == CLAIM_ANSWERED:  # another run sharing the cache stored it meanwhile
                outcome.status = CACHED
                return _DONE
            if state == HELD_ELSEWHERE:
                return _DEFERRED
        try:
            loaded: LoadedImage = load_image(ImageRef(outcome.image), backend.limits, preparation)
            if loaded.image_id != outcome.image_id:
                raise ImageProblem("the file changed while the run was reading it")
            response = call_with_retries(loaded)
            problem = answer_problem(backend.operation, _without_metadata(response))
            if problem is not None:
                raise BadAnswer(problem)
        except _Stopped:
            release(key)
            return _DONE
        except BaseException:
            release(key)
            raise
        cache.put(
            key,
            image_id=loaded.image_id,
            operation=backend.operation,
            params=params,
            response=response,
            model_version=model_version_of(response),
            owner=owner if claims else None,
        )
        outcome.status = CALLED
        return _DONE

    bar = _Progress(len(to_call), enabled=progress, cached=sum(o.status == CACHED for o in outcomes))
    executor = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="rekognition-eval")
    heartbeat = Heartbeat(cache, owner, lease_s) if claims and to_call else None
    pending: dict[Future[str], int] = {}

    def halt() -> None:
        stop.set()
        executor.shutdown(wait=True, cancel_futures=True)
        bar.close()
        watch.close()
        if heartbeat is not None:
            heartbeat.close()

    try:
        finished = finished_queue()  # constant work per finished call (evaluation.calls.completions)
        submit_all(executor, call_one, to_call, pending, finished)
        answered, setup_failures = 0, []
        deferred: list[int] = []
        while pending or deferred:
            if not pending:  # only images other runs hold are left: look again in a moment
                time.sleep(poll_s)
                submit_all(executor, call_one, deferred, pending, finished)
                deferred = []
                continue
            for future in next_finished(finished, timeout=0.5):
                index = pending.pop(future)
                exc = future.exception()
                if exc is None:
                    if future.result() == _DEFERRED:
                        deferred.append(index)
                        continue
                    answered += 1
                elif isinstance(exc, CacheWriteError):
                    halt()
                    raise CacheWriteError(
                        exc.path,
                        f"{str(exc).split(': ', 1)[-1]}; the run stopped calling (answers that "
                        "cannot be stored would be paid for again)",
                    ) from None
                elif stops_the_run(exc, got_answer):
                    halt()
                    raise SetupFailure(1, _describe_error(exc)[1], at_once=True) from None
                else:
                    code, reason = _describe_error(exc)
                    outcome = outcomes[index]
                    outcome.status = MISSING if isinstance(exc, NotCached) else FAILED
                    outcome.reason, outcome.error_code = reason, code
                    if not isinstance(exc, NotCached):  # replay's misses are summed up once, below
                        log.error("%s %s: %s", backend.operation, outcome.image, reason)
                    if code in SETUP_ERROR_CODES:
                        setup_failures.append(reason)
                bar.update(error=exc is not None)
            if not answered and len(setup_failures) >= SETUP_FAILURES_TO_STOP:
                halt()
                raise SetupFailure(len(setup_failures), setup_failures[0])
    except KeyboardInterrupt:
        halt()
        for outcome in outcomes:
            if outcome.status == MISSING and outcome.reason is None:
                outcome.reason = "not called: the run was interrupted"
        _finish(outcomes, stats, started)
        stats.interrupted = True
        raise Interrupted(outcomes, stats) from None
    executor.shutdown(wait=True)
    bar.close()
    watch.close()
    if heartbeat is not None:
        heartbeat.close()
    _explain_misses(outcomes, backend, cache, params)
    _copy_duplicate_answers(outcomes)
    _finish(outcomes, stats, started)
    return outcomes, stats


def _calls_for_real(backend: Backend) -> bool:
    """Backends that pay (or compute) for an answer claim images; replay and a batch's answers do not."""
    return backend.name not in ("replay", "batch")


def _without_metadata(response: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in response.items() if name != "ResponseMetadata"}


class _Stopped(Exception):
    """Raised inside a worker when the run is being interrupted; the image stays unanswered."""


def _explain_misses(
    outcomes: list[ImageOutcome], backend: Backend, cache: ResponseCache, params: dict[str, Any]
) -> None:
    """Replay found no answer for some images: say which options find the answers the cache holds."""
    missed = [o for o in outcomes if o.status == MISSING and o.error_code == "NotCached" and o.image_id]
    if not missed:
        return
    stored = cache.stored_params((o.image_id or "" for o in missed), backend.operation)
    stored.pop(canonical_json(params), None)
    hint = replay_hint(params, [(json.loads(text), n) for text, n in stored.items()], len(missed))
    for outcome in missed:
        outcome.reason = f"{(outcome.reason or '').split('; run it once')[0]}; {hint}"
    log.error("%s: %d image(s) have no stored answer; %s", backend.operation, len(missed), hint)


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
