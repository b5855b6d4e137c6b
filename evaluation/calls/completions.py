"""Calls handed back as they finish, with constant work per image whatever the run's size.

Waiting on the set of pending futures (`concurrent.futures.wait`) looks at every one of them on each
wake-up: a first run over 100,000 images spent more time in that loop than in its calls. Here each
future puts itself on a queue when it finishes, and the runner takes them one at a time (so a check
after each, such as the stop on setup failures, sees every failure as it comes).
"""

from __future__ import annotations

import queue
from collections.abc import Callable, Iterable
from concurrent.futures import Executor, Future
from typing import Any


def finished_queue() -> queue.SimpleQueue[Future[Any]]:
    return queue.SimpleQueue()


def submit_all(
    executor: Executor,
    call: Callable[[int], Any],
    indexes: Iterable[int],
    pending: dict[Future[Any], int],
    finished: queue.SimpleQueue[Future[Any]],
) -> None:
    """Submit `call(index)` for each index; `pending` maps each future to its index until it is taken."""
    for index in indexes:
        future = executor.submit(call, index)
        pending[future] = index
        future.add_done_callback(finished.put)


def next_finished(finished: queue.SimpleQueue[Future[Any]], *, timeout: float) -> list[Future[Any]]:
    """The next finished future, waiting up to `timeout` (so Ctrl-C is seen); none when none finished."""
    try:
        return [finished.get(timeout=timeout)]
    except queue.Empty:
        return []
