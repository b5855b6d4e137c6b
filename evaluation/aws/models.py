"""Rekognition Custom Labels models: describe, start and stop them, and wait with the SDK's waiters.

Every call takes the boto3 client as an argument; waits use the SDK's `project_version_running` waiter
(and an SDK waiter built here for STOPPED, which boto3 does not ship), with delays from `Waiting`.
StartProjectVersion has no way to stop by itself (botocore's service model gives it ProjectVersionArn,
MinInferenceUnits and MaxInferenceUnits, nothing else): evaluation/model_guard.py keeps the deadline,
evaluation/model_cost.py says what running costs.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError, WaiterError
from botocore.waiter import WaiterModel, create_waiter_with_client

from evaluation.aws.model_cost import format_duration
from evaluation.calls.backends.custom_labels import check_version_arn
from evaluation.errors import UserError

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


STOP_RETRY_S = 2.0  # while a model still STARTING refuses the stop, it is asked again this often


def request_stop(client: Any, version: VersionRef, project_arn: str, waiting: Waiting) -> str:
    """StopProjectVersion; returns STOPPING, or the status of a model that had nothing left to stop.

    A model still STARTING may refuse the stop (ResourceInUseException): it is asked again every few
    seconds (not at the SDK waiter's 30 s), so it is stopped the moment the service lets it be, and never
    left running for a poll's length after it could have been stopped.
    """
    attempts = max(2, int(waiting.delay_s * waiting.max_attempts / min(STOP_RETRY_S, waiting.delay_s)))
    for _ in range(attempts):
        try:
            return str(client.stop_project_version(ProjectVersionArn=version.arn).get("Status", STOPPING))
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ResourceInUseException":
                raise _client_error("stop", version.arn, error) from None
        current = describe_version(client, version, project_arn)
        if current.status in NOT_RUNNING or current.status == STOPPING:
            return current.status
        if current.status == STARTING:
            time.sleep(min(STOP_RETRY_S, waiting.delay_s))
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
