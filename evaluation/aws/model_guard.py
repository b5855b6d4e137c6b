"""A Custom Labels model running for a block of work, and never left running past a deadline.

People have left models running for days by mistake. `ModelGuard` starts a model only when it is not
running, stops it again when the work ends (success, error or Ctrl-C), stops only what it started, and a
watchdog thread stops it the moment `max_runtime_s` has passed, even in the middle of a run or while the
model is still starting. The watchdog lives in this process: a process killed outright (SIGKILL, power
loss) cannot stop anything, so a lease written before the start (evaluation.aws.model_leases) says
which model this tool started: the same command run again takes a leftover over and stops it, and
`rekognition-eval models stop --leftovers` stops them all.
"""

from __future__ import annotations

import _thread
import logging
import signal
import threading
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from evaluation.aws.model_cost import format_duration
from evaluation.aws.model_leases import LeaseStore
from evaluation.aws.models import (
    NOT_RUNNING,
    RUNNING,
    STARTABLE,
    STARTING,
    STOPPING,
    ModelError,
    ModelStartFailed,
    VersionRef,
    Waiting,
    describe_version,
    project_arn_of,
    request_stop,
    start_model,
    wait_running,
    wait_stopped,
)
from evaluation.errors import UserError

log = logging.getLogger(__name__)


class DeadlinePassed(Exception):
    """The watchdog stopped the model at --max-runtime; answers received so far are kept."""


class ModelGuard:
    """`with ModelGuard(...):` the model runs inside the block and is stopped when it ends, if we started it.

    - A model that is already RUNNING (or STARTING) was started by someone else: it is used, never stopped.
    - Otherwise it is started with the inference units asked for, the watchdog is armed, and the SDK
      waiter waits for RUNNING; a model that goes to FAILED raises ModelStartFailed with its StatusMessage.
    - On leaving the block (normally, on an exception, on KeyboardInterrupt) a model we started is stopped
      and waited for until STOPPED.
    - When `max_runtime_s` passes first (counted from StartProjectVersion), the watchdog thread stops the
      model and interrupts the main thread (as Ctrl-C would), so the runner keeps every answer received
      and a rerun resumes; `deadline_passed` is then set. Used from another thread, the guard cannot
      interrupt it: the model is stopped and the remaining calls fail with ResourceNotReadyException.
    """

    def __init__(
        self,
        client: Any,
        version_arn: str,
        *,
        max_runtime_s: float,
        min_inference_units: int = 1,
        max_inference_units: int | None = None,
        project_arn: str | None = None,
        waiting: Waiting | None = None,
        say: Callable[[str], None] = print,
        interrupt: Callable[[], None] | None = None,
        leases: LeaseStore | None = None,
    ) -> None:
        if min_inference_units < 1:
            raise UserError(f"--min-inference-units must be at least 1, got {min_inference_units}")
        if max_inference_units is not None and max_inference_units < min_inference_units:
            raise UserError(
                f"--max-inference-units ({max_inference_units}) must not be below --min-inference-units "
                f"({min_inference_units})"
            )
        if max_runtime_s <= 0:
            raise UserError("--max-runtime must be positive")
        self.client = client
        self.version = VersionRef.parse(version_arn)
        self.max_runtime_s = float(max_runtime_s)
        self.min_inference_units = min_inference_units
        self.max_inference_units = max_inference_units
        self.project_arn = project_arn
        self.waiting = waiting or Waiting()
        self.say = say
        self.interrupt = interrupt
        self.leases = leases if leases is not None else LeaseStore()
        self.taken_over = False  # a leftover of an earlier run of this tool, now ours to stop
        self.started_at: datetime | None = None  # when the --max-runtime clock started (UTC)
        self.started_by_us = False
        self.stopped = False
        self.deadline_passed = threading.Event()
        self.status_before: str | None = None
        self._lock = threading.Lock()
        self._stop_requested = False
        self._status_after_stop: str | None = None
        self._active = False  # inside the block (or waiting to start): the watchdog may interrupt
        self._timer: threading.Timer | None = None

    # -- entering

    def __enter__(self) -> ModelGuard:
        if self.interrupt is None and threading.current_thread() is threading.main_thread():
            self.interrupt = interrupt_main
        self.project_arn = self.project_arn or project_arn_of(self.client, self.version)
        current = describe_version(self.client, self.version, self.project_arn)
        self.status_before = current.status
        if current.status in (RUNNING, STARTING) and self._take_over_leftover(current.status):
            return self
        if current.status in (RUNNING, STARTING):
            self.say(
                f"Model {self.version.version_name} is already {current.status}: it was not started by this "
                "run, and this run will not stop it."
            )
            if current.status == STARTING:
                wait_running(self.client, self.version, self.project_arn, self.waiting)
            return self
        if current.status == STOPPING:
            self.say(
                f"Model {self.version.version_name} is STOPPING: waiting for STOPPED before starting it."
            )
            wait_stopped(self.client, self.version, self.project_arn, self.waiting)
        elif current.status not in STARTABLE:
            raise ModelError(
                f"cannot start {self.version.arn}: its status is {current.status}"
                + (f" ({current.status_message})" if current.status_message else "")
            )
        with self._lock:
            self._active = True
        try:
            self._write_lease()  # before the start: a kill right after it must not lose what was started
            try:
                start_model(
                    self.client,
                    self.version,
                    self.project_arn,
                    min_inference_units=self.min_inference_units,
                    max_inference_units=self.max_inference_units,
                )
            except BaseException:
                self.leases.remove(self.version.arn)  # nothing was started
                raise
            self.started_by_us = True
            self._arm_watchdog()
            self.say(
                f"Starting model {self.version.version_name} ({self.min_inference_units} inference unit(s)); "
                f"it will be stopped when this run ends, and at the latest after "
                f"{format_duration(self.max_runtime_s)} (--max-runtime)."
            )
            wait_running(self.client, self.version, self.project_arn, self.waiting)
            if self.deadline_passed.is_set():  # it became RUNNING just as the deadline passed
                raise KeyboardInterrupt
        except BaseException as error:
            if isinstance(error, ModelStartFailed) and error.status in NOT_RUNNING:
                self.stopped = True  # FAILED: nothing runs, nothing to stop
            self.close()
            if isinstance(error, KeyboardInterrupt) and self.deadline_passed.is_set():
                raise DeadlinePassed(self._deadline_message()) from None
            raise
        self.say(f"Model {self.version.version_name} is RUNNING.")
        return self

    def _take_over_leftover(self, status: str) -> bool:
        """A RUNNING or STARTING model that an earlier run of this tool started and could not stop (it
        was killed): this run holds it now, under its own --max-runtime, and stops it when it ends."""
        lease = self.leases.find(self.version.arn)
        if lease is None:
            return False
        if not lease.is_leftover():
            self.say(
                f"Model {self.version.version_name} is {status}, held by another {lease.describe()}: "
                "this run uses it and leaves it to that run to stop."
            )
            return False
        self.say(
            f"Model {self.version.version_name} is {status}, a leftover of {lease.describe()}, which is "
            "gone: this run takes it over and stops it when it ends, at the latest after "
            f"{format_duration(self.max_runtime_s)} (--max-runtime, from now)."
        )
        with self._lock:
            self._active = True
        self._write_lease()
        self.started_by_us = self.taken_over = True
        self._arm_watchdog()
        try:
            if status == STARTING:
                wait_running(self.client, self.version, self.project_arn or "", self.waiting)
            if self.deadline_passed.is_set():
                raise KeyboardInterrupt
        except BaseException as error:
            self.close()
            if isinstance(error, KeyboardInterrupt) and self.deadline_passed.is_set():
                raise DeadlinePassed(self._deadline_message()) from None
            raise
        self.say(f"Model {self.version.version_name} is RUNNING.")
        return True

    def _write_lease(self) -> None:
        endpoint = getattr(getattr(self.client, "meta", None), "endpoint_url", None)
        self.leases.write(
            self.version.arn,
            project_arn=self.project_arn,
            region=self.version.region,
            endpoint_url=None if endpoint and ".amazonaws.com" in endpoint else endpoint,
            max_runtime_s=self.max_runtime_s,
        )

    @property
    def deadline_at(self) -> datetime | None:
        """When the watchdog stops the model (UTC): --max-runtime after the start was asked."""
        return None if self.started_at is None else self.started_at + timedelta(seconds=self.max_runtime_s)

    # -- the watchdog

    def _arm_watchdog(self) -> None:
        self.started_at = datetime.now(timezone.utc)
        self._timer = threading.Timer(self.max_runtime_s, self._deadline)
        self._timer.daemon = True
        self._timer.name = "rekognition-eval-model-watchdog"
        self._timer.start()

    def _deadline(self) -> None:
        """On the timer's thread: interrupt the work using the model (no new call starts), then stop it."""
        self.deadline_passed.set()
        with self._lock:
            interrupt = self.interrupt if self._active else None
        if interrupt is not None:
            interrupt()
        self.say(
            f"--max-runtime {format_duration(self.max_runtime_s)} passed: stopping model "
            f"{self.version.version_name} now."
        )
        try:
            self._stop_once()
        except Exception as error:  # the main thread retries in close(); say why it failed here
            log.error("the watchdog could not stop %s: %s", self.version.arn, error)

    def _deadline_message(self) -> str:
        """What the run says when the deadline ended it: "was stopped" only once the stop was accepted."""
        name = self.version.version_name
        if self._status_after_stop is not None or self.stopped:
            state = f"model {name} was stopped"
        else:
            state = f"model {name} is being stopped"
        return (
            f"--max-runtime {format_duration(self.max_runtime_s)} passed: {state}. Answers received so far "
            "are kept; run the same command again to resume."
        )

    # -- leaving

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop what we started and wait for STOPPED; safe to call twice, and against a late Ctrl-C (or
        SIGTERM / SIGHUP, which the command line turns into one)."""
        with self._lock:
            self._active = False
        if self._timer is not None:
            self._timer.cancel()
        if not self.started_by_us or self.stopped:
            return
        interrupted = False
        for _ in range(3):  # a KeyboardInterrupt landing here must not keep the stop from being sent
            try:
                self._stop_once()
                break
            except KeyboardInterrupt:
                interrupted = True
        name = self.version.version_name
        try:
            if self._status_after_stop in NOT_RUNNING:
                self.say(f"Model {name} is {self._status_after_stop}: nothing left running.")
            elif wait_stopped(self.client, self.version, self.project_arn or "", self.waiting):
                self.say(f"Model {name} is STOPPED.")
            else:
                self.say(
                    f"Model {name}: stop requested, not yet STOPPED; check `rekognition-eval models list`."
                )
            self.stopped = True
        except KeyboardInterrupt:
            interrupted = True
            self.say(f"Model {self.version.version_name}: stop requested; not waiting for STOPPED.")
        if interrupted and not self.deadline_passed.is_set():
            raise KeyboardInterrupt

    def _stop_once(self) -> None:
        with self._lock:
            if self._stop_requested:
                return
            self._stop_requested = True
        try:
            self.say(f"Stopping model {self.version.version_name} ...")
            self._status_after_stop = request_stop(
                self.client, self.version, self.project_arn or "", self.waiting
            )
        except BaseException:
            with self._lock:
                self._stop_requested = False
            raise
        self.leases.remove(self.version.arn)  # stopping or stopped: nothing of ours is left running


def interrupt_main() -> None:
    """Ctrl-C for the main thread from the watchdog's: a real SIGINT wakes it from a sleep or a socket
    wait (the SDK waiter polls every 30 s), which `_thread.interrupt_main` alone would not."""
    if hasattr(signal, "pthread_kill") and signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)
    else:
        _thread.interrupt_main()
