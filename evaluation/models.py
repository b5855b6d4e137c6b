"""Rekognition Custom Labels models: list them, start and stop them, and never leave one running.

A running model is billed per inference-unit hour whether it answers anything or not, and people have
left models running for days by mistake. StartProjectVersion has no way to stop by itself (botocore's
service model gives it ProjectVersionArn, MinInferenceUnits and MaxInferenceUnits, nothing else), so the
deadline is kept here: `ModelGuard` starts a model only when it is not running, stops it again when the
work ends (success, error or Ctrl-C), stops only what it started, and a watchdog thread stops it the
moment `max_runtime_s` has passed, even in the middle of a run. The watchdog lives in this process: a
process killed outright (SIGKILL, power loss) cannot stop anything, so `models list` shows what runs.

Every call takes the boto3 client as an argument; waits use the SDK's `project_version_running` waiter
(and an SDK waiter built here for STOPPED, which boto3 does not ship), with delays from `Waiting`.
"""

from __future__ import annotations

import _thread
import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError, WaiterError
from botocore.waiter import WaiterModel, create_waiter_with_client

from evaluation.backends.custom_labels import check_version_arn
from evaluation.errors import UserError
from evaluation.tables import PriceTable

log = logging.getLogger(__name__)

RUNNING, STARTING, STOPPING, STOPPED, FAILED = "RUNNING", "STARTING", "STOPPING", "STOPPED", "FAILED"
TRAINING_COMPLETED = "TRAINING_COMPLETED"
STARTABLE = frozenset({TRAINING_COMPLETED, STOPPED, FAILED, "COPYING_COMPLETED"})

_PROJECT_ARN = re.compile(
    r"^arn:[a-z\d-]+:rekognition:[a-z\d-]+:\d{12}:project/[a-zA-Z0-9_.\-]{1,255}/[0-9]+$"
)

# boto3 ships project_version_running but nothing for STOPPED; the same machinery, the same shape.
_STOPPED_WAITER = WaiterModel(
    {
        "version": 2,
        "waiters": {
            "ProjectVersionStopped": {
                "operation": "DescribeProjectVersions",
                "delay": 30,
                "maxAttempts": 40,
                "acceptors": [
                    {
                        "state": "success",
                        "matcher": "pathAll",
                        "argument": "ProjectVersionDescriptions[].Status",
                        "expected": STOPPED,
                    }
                ],
            }
        },
    }
)


class ModelError(UserError):
    """A model that cannot be described, started or stopped; the message says which and why."""


class ModelStartFailed(ModelError):
    """The model went to FAILED, or did not become RUNNING in time; it is not left running."""

    def __init__(self, message: str, *, status: str) -> None:
        super().__init__(message)
        self.status = status


class DeadlinePassed(Exception):
    """The watchdog stopped the model at --max-runtime; answers received so far are kept."""


@dataclass(frozen=True)
class Waiting:
    """How often and how long to poll DescribeProjectVersions; the defaults are the SDK waiter's own."""

    delay_s: float = 30.0
    max_attempts: int = 40  # 20 minutes: starting a model takes minutes

    def config(self) -> dict[str, Any]:
        return {"Delay": self.delay_s, "MaxAttempts": self.max_attempts}


@dataclass(frozen=True)
class VersionRef:
    """What a model version ARN says: region, account, project and version names."""

    arn: str
    region: str
    account: str
    project_name: str
    version_name: str

    @classmethod
    def parse(cls, arn: str) -> VersionRef:
        check_version_arn(arn)
        head, _, resource = arn.partition(":project/")
        parts = head.split(":")
        project_name, _, rest = resource.partition("/version/")
        version_name = rest.rsplit("/", 1)[0]
        return cls(
            arn=arn, region=parts[3], account=parts[4], project_name=project_name, version_name=version_name
        )


def check_project_arn(arn: str) -> str:
    if not isinstance(arn, str) or not _PROJECT_ARN.match(arn):
        raise UserError(
            f"not a Custom Labels project ARN: {arn!r} (expected "
            "arn:aws:rekognition:REGION:ACCOUNT:project/NAME/TIMESTAMP)"
        )
    return arn


@dataclass(frozen=True)
class ModelVersion:
    """One model version as DescribeProjectVersions describes it."""

    arn: str
    version_name: str
    status: str
    status_message: str | None
    min_inference_units: int | None
    max_inference_units: int | None
    created: str | None
    f1: float | None
    summary_uri: str | None  # the EvaluationSummary file AWS wrote after training

    @classmethod
    def from_description(cls, description: dict[str, Any]) -> ModelVersion:
        arn = str(description["ProjectVersionArn"])
        evaluation = description.get("EvaluationResult") or {}
        summary = (evaluation.get("Summary") or {}).get("S3Object") or {}
        created = description.get("CreationTimestamp")
        return cls(
            arn=arn,
            version_name=arn.split("/version/", 1)[-1].rsplit("/", 1)[0],
            status=str(description.get("Status", "UNKNOWN")),
            status_message=description.get("StatusMessage"),
            min_inference_units=description.get("MinInferenceUnits"),
            max_inference_units=description.get("MaxInferenceUnits"),
            created=created.isoformat(timespec="seconds") if hasattr(created, "isoformat") else created,
            f1=evaluation.get("F1Score"),
            summary_uri=f"s3://{summary['Bucket']}/{summary['Name']}" if summary.get("Bucket") else None,
        )


def _client_error(action: str, arn: str, error: ClientError) -> ModelError:
    details = error.response.get("Error", {})
    code, message = details.get("Code", "ClientError"), details.get("Message", "")
    hint = {
        "AccessDeniedException": " (your role needs Custom Labels permissions on this project)",
        "ResourceNotFoundException": " (check the ARN and the region)",
        "LimitExceededException": " (too many inference units running in this account and region)",
    }.get(code, "")
    return ModelError(f"cannot {action} {arn}: {code}: {message}{hint}")


# --- describing ------------------------------------------------------------------------------------


def project_arn_of(client: Any, version: VersionRef) -> str:
    """The project ARN of a version (its timestamp differs from the version's): DescribeProjects by name."""
    try:
        response = client.describe_projects(ProjectNames=[version.project_name])
    except ClientError as error:
        raise _client_error("find the project of", version.arn, error) from None
    for project in response.get("ProjectDescriptions", []):
        arn = str(project.get("ProjectArn", ""))
        if arn.split(":project/", 1)[-1].rsplit("/", 1)[0] == version.project_name:
            return arn
    raise ModelError(f"no Custom Labels project named {version.project_name!r} in {version.region}")


def list_versions(client: Any, project_arn: str) -> list[ModelVersion]:
    """Every version of a project, newest first as the service lists them."""
    check_project_arn(project_arn)
    try:
        pages = client.get_paginator("describe_project_versions").paginate(ProjectArn=project_arn)
        return [
            ModelVersion.from_description(d) for page in pages for d in page["ProjectVersionDescriptions"]
        ]
    except ClientError as error:
        raise _client_error("list the models of", project_arn, error) from None


def describe_version(client: Any, version: VersionRef, project_arn: str) -> ModelVersion:
    try:
        response = client.describe_project_versions(
            ProjectArn=project_arn, VersionNames=[version.version_name]
        )
    except ClientError as error:
        raise _client_error("describe", version.arn, error) from None
    for description in response.get("ProjectVersionDescriptions", []):
        if description.get("ProjectVersionArn") == version.arn:
            return ModelVersion.from_description(description)
    raise ModelError(f"no model version {version.arn} in project {project_arn}")


# --- cost ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HourlyCost:
    """What running a model costs per hour, before it is started; usd is None when the price is unknown."""

    min_inference_units: int
    max_inference_units: int | None
    usd_per_unit_hour: float | None
    source: str

    @property
    def usd_per_hour(self) -> float | None:
        """At the most units the model may scale to (MaxInferenceUnits), else at MinInferenceUnits."""
        if self.usd_per_unit_hour is None:
            return None
        return self.usd_per_unit_hour * (self.max_inference_units or self.min_inference_units)

    def at_most(self, hours: float) -> float | None:
        return None if self.usd_per_hour is None else self.usd_per_hour * hours

    def describe(self, max_runtime_s: float | None = None) -> str:
        units = f"{self.min_inference_units} inference unit(s)"
        if self.max_inference_units and self.max_inference_units != self.min_inference_units:
            units = f"{self.min_inference_units} to {self.max_inference_units} inference units (auto-scaling)"
        if self.usd_per_unit_hour is None:
            return (
                f"Cost while running, {units}: unknown: pass --price-table FILE with "
                f"custom_labels.<region>.inference_unit_hour ({self.source})"
            )
        text = (
            f"Cost while running, {units}: USD {self.usd_per_hour:,.2f} per hour at most "
            f"(USD {self.usd_per_unit_hour:,.2f} per inference-unit hour, billed while running, even idle; "
            f"{self.source})"
        )
        if max_runtime_s is not None:
            worst = self.at_most(max_runtime_s / 3600) or 0.0
            text += f"; stopped after at most {format_duration(max_runtime_s)}: at most USD {worst:,.2f}"
        return text


def hourly_cost(
    region: str | None,
    *,
    min_inference_units: int,
    max_inference_units: int | None = None,
    price_table: str | None = None,
) -> HourlyCost:
    price, source = PriceTable.load(price_table).inference_unit_hour(region)
    return HourlyCost(min_inference_units, max_inference_units, price, source)


_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([hms])", re.IGNORECASE)


def parse_duration(text: str) -> float:
    """'2h', '90m', '1h30m', '45s', '0.5s' -> seconds; a unit is required: is '2' two hours or seconds?"""
    cleaned = str(text).strip().replace(" ", "")
    parts = _DURATION.findall(cleaned)
    if not parts or "".join(f"{n}{u}" for n, u in parts).lower() != cleaned.lower():
        raise UserError(f"--max-runtime: {text!r} is not a duration like 2h, 90m, 1h30m or 45s")
    seconds = sum(float(n) * {"h": 3600, "m": 60, "s": 1}[u.lower()] for n, u in parts)
    if seconds <= 0:
        raise UserError(f"--max-runtime must be positive, got {text!r}")
    return seconds


def format_duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:g}s"
    hours, rest = divmod(round(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    return "".join(f"{value}{unit}" for value, unit in ((hours, "h"), (minutes, "m"), (secs, "s")) if value)


# --- starting and stopping ---------------------------------------------------------------------------


def wait_running(client: Any, version: VersionRef, project_arn: str, waiting: Waiting) -> ModelVersion:
    """The SDK waiter until RUNNING; FAILED or a timeout raise ModelStartFailed with the service's message."""
    waiter = client.get_waiter("project_version_running")
    try:
        waiter.wait(
            ProjectArn=project_arn, VersionNames=[version.version_name], WaiterConfig=waiting.config()
        )
    except WaiterError:
        current = describe_version(client, version, project_arn)
        if current.status == FAILED:
            raise ModelStartFailed(
                f"model {version.arn} failed to start: {current.status_message or 'no StatusMessage given'}",
                status=FAILED,
            ) from None
        waited = format_duration(waiting.delay_s * waiting.max_attempts)
        raise ModelStartFailed(
            f"model {version.arn} is {current.status}, not RUNNING, after waiting {waited}",
            status=current.status,
        ) from None
    return describe_version(client, version, project_arn)


def wait_stopped(client: Any, version: VersionRef, project_arn: str, waiting: Waiting) -> bool:
    """True once STOPPED; False when it is still STOPPING after the wait (the stop was requested anyway)."""
    waiter = create_waiter_with_client("ProjectVersionStopped", _STOPPED_WAITER, client)
    try:
        waiter.wait(
            ProjectArn=project_arn, VersionNames=[version.version_name], WaiterConfig=waiting.config()
        )
    except WaiterError:
        return False
    return True


NOT_RUNNING = frozenset({STOPPED, FAILED, TRAINING_COMPLETED, "COPYING_COMPLETED"})


def request_stop(client: Any, version: VersionRef, project_arn: str, waiting: Waiting) -> str:
    """StopProjectVersion; returns STOPPING, or the status of a model that had nothing left to stop.

    A model still STARTING is waited for first, in case the service refuses to stop it mid-start.
    """
    for _ in range(2):
        try:
            return str(client.stop_project_version(ProjectVersionArn=version.arn).get("Status", STOPPING))
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ResourceInUseException":
                raise _client_error("stop", version.arn, error) from None
        current = describe_version(client, version, project_arn)
        if current.status in NOT_RUNNING or current.status == STOPPING:
            return current.status
        if current.status == STARTING:
            try:
                wait_running(client, version, project_arn, waiting)
            except ModelStartFailed:
                return describe_version(client, version, project_arn).status
    raise ModelError(f"cannot stop {version.arn}: it stays in use; stop it from the console")


def start_model(
    client: Any,
    version: VersionRef,
    project_arn: str,
    *,
    min_inference_units: int,
    max_inference_units: int | None = None,
) -> None:
    """StartProjectVersion only: the caller waits (ModelGuard arms its watchdog first)."""
    request: dict[str, Any] = {
        "ProjectVersionArn": version.arn,
        "MinInferenceUnits": int(min_inference_units),
    }
    if max_inference_units is not None:
        request["MaxInferenceUnits"] = int(max_inference_units)
    try:
        client.start_project_version(**request)
    except ClientError as error:
        raise _client_error("start", version.arn, error) from None


# --- the guard ---------------------------------------------------------------------------------------


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
        waiting: Waiting = Waiting(),
        say: Callable[[str], None] = print,
        interrupt: Callable[[], None] | None = None,
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
        self.waiting = waiting
        self.say = say
        self.interrupt = interrupt
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
            self.interrupt = _thread.interrupt_main
        self.project_arn = self.project_arn or project_arn_of(self.client, self.version)
        current = describe_version(self.client, self.version, self.project_arn)
        self.status_before = current.status
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
            start_model(
                self.client,
                self.version,
                self.project_arn,
                min_inference_units=self.min_inference_units,
                max_inference_units=self.max_inference_units,
            )
            self.started_by_us = True
            self._arm_watchdog()
            self.say(
                f"Starting model {self.version.version_name} ({self.min_inference_units} inference unit(s)); "
                f"it will be stopped when this run ends, and at the latest after "
                f"{format_duration(self.max_runtime_s)} (--max-runtime)."
            )
            wait_running(self.client, self.version, self.project_arn, self.waiting)
        except BaseException as error:
            if isinstance(error, ModelStartFailed) and error.status in NOT_RUNNING:
                self.stopped = True  # FAILED: nothing runs, nothing to stop
            self.close()
            if isinstance(error, KeyboardInterrupt) and self.deadline_passed.is_set():
                raise DeadlinePassed(self._deadline_message()) from None
            raise
        self.say(f"Model {self.version.version_name} is RUNNING.")
        return self

    # -- the watchdog

    def _arm_watchdog(self) -> None:
        self._timer = threading.Timer(self.max_runtime_s, self._deadline)
        self._timer.daemon = True
        self._timer.name = "rekognition-eval-model-watchdog"
        self._timer.start()

    def _deadline(self) -> None:
        """On the timer's thread: stop the model now, then interrupt the work that was using it."""
        self.deadline_passed.set()
        self.say(self._deadline_message())
        try:
            self._stop_once()
        except Exception as error:  # the main thread retries in close(); say why it failed here
            log.error("the watchdog could not stop %s: %s", self.version.arn, error)
        with self._lock:
            interrupt = self.interrupt if self._active else None
        if interrupt is not None:
            interrupt()

    def _deadline_message(self) -> str:
        return (
            f"--max-runtime {format_duration(self.max_runtime_s)} passed: model {self.version.version_name} "
            "was stopped. Answers received so far are kept; run the same command again to resume."
        )

    # -- leaving

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop what we started and wait for STOPPED; safe to call twice, and against a late Ctrl-C."""
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
