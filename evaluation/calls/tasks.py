"""Many independent calls of one kind (IndexFaces per image, SearchFaces per face, CompareFaces per pair,
GetFaceLivenessSessionResults per session) through one thread pool, paced and retried like the image
runner's, with Ctrl-C keeping what was done.

`run_tasks` returns one `TaskResult` per task in order: the value, or the error that ended it (after
retries on throttling, 5xx and dropped connections; never on InvalidParameter and the like). The caller
stores each value as it arrives (`on_done`), so an interrupted run loses nothing it paid for.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from botocore.exceptions import ClientError

from evaluation.calls.ratelimit import AdaptiveRate
from evaluation.calls.runner import THROTTLING_CODES, RetryPolicy, is_retryable

Task = TypeVar("Task")

__all__ = ["TaskResult", "TasksInterrupted", "error_code", "run_tasks"]


@dataclass
class TaskResult(Generic[Task]):
    task: Task
    value: Any = None
    error: BaseException | None = None
    retries: int = 0

    @property
    def ok(self) -> bool:
        return self.error is None


class TasksInterrupted(Exception):
    """Ctrl-C (or a guard's deadline) while calls were running; `results` holds what finished."""

    def __init__(self, results: list[TaskResult[Any]]) -> None:
        super().__init__("interrupted")
        self.results = results


class _Stopped(Exception):
    pass


def error_code(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", "ClientError"))
    return type(exc).__name__


def run_tasks(
    tasks: Sequence[Task],
    call: Callable[[Task], Any],
    *,
    workers: int = 8,
    tps: float | None = None,
    retry: RetryPolicy | None = None,
    on_done: Callable[[TaskResult[Task]], None] | None = None,
) -> list[TaskResult[Task]]:
    """`call(task)` for every task, concurrently; one result per task, in order."""
    retry = retry or RetryPolicy()
    limiter = AdaptiveRate(tps, burst=1.0) if tps else None
    stop = threading.Event()
    results: list[TaskResult[Task]] = [TaskResult(task) for task in tasks]

    def attempt(index: int) -> None:
        result = results[index]
        for round_number in range(retry.rounds + 1):
            if limiter is not None:
                limiter.acquire()
            if stop.is_set():
                raise _Stopped
            try:
                result.value = call(result.task)
            except Exception as exc:
                throttled = isinstance(exc, ClientError) and error_code(exc) in THROTTLING_CODES
                if round_number == retry.rounds or not is_retryable(exc):
                    raise
                if limiter is not None and throttled:
                    limiter.pushed_back()
                result.retries += 1
                if stop.wait(retry.delay(round_number)):
                    raise _Stopped from None
                continue
            if limiter is not None:
                limiter.went_through()
            return

    executor = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="rekognition-eval-faces")
    pending: dict[Future[None], int] = {}
    try:
        pending = {executor.submit(attempt, index): index for index in range(len(results))}
        while pending:
            done, _ = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
            for future in done:
                index = pending.pop(future)
                exc = future.exception()
                if isinstance(exc, _Stopped):
                    continue
                results[index].error = exc
                if on_done is not None:
                    on_done(results[index])
    except KeyboardInterrupt:
        stop.set()
        executor.shutdown(wait=True, cancel_futures=True)
        for future, index in pending.items():  # calls that finished meanwhile were paid for: keep them
            if future.done() and not future.cancelled() and not isinstance(future.exception(), _Stopped):
                results[index].error = future.exception()
                if on_done is not None:
                    on_done(results[index])
        raise TasksInterrupted(results) from None
    executor.shutdown(wait=True)
    return results
