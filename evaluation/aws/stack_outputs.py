"""The harness side of the Pulumi program: read its stack outputs, assume its role.

`pulumi stack output --json > outputs.json` (or piped in as `-`) gives the bucket, its prefixes, the role
and the region, so nobody retypes them. This module imports boto3 only, never Pulumi.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import botocore.session
from botocore.credentials import CredentialProvider, RefreshableCredentials
from botocore.exceptions import BotoCoreError, ClientError

from evaluation.errors import UserError

# The bucket's layout, as the Pulumi program (infra/policies.py) grants it; a test keeps them in step.
DATASETS_PREFIX = "datasets/"
CACHE_PREFIX = "cache/"
REPORTS_PREFIX = "reports/"

# Output names of the Pulumi program's stack (__main__.py).
BUCKET_NAME = "bucketName"
BUCKET_ARN = "bucketArn"
ROLE_ARN = "roleArn"
REGION = "region"
PROJECT_ARN = "projectArn"
STATE_MACHINE_ARN = "stateMachineArn"
STATE_MACHINE_LOG_GROUP_NAME = "stateMachineLogGroupName"
ACCESS_LOGS_BUCKET_NAME = "accessLogsBucketName"
# sts:ExternalId the role's trust policy requires (config externalId); passed to AssumeRole.
ROLE_EXTERNAL_ID = "roleExternalId"
# Face collections the role may use are named with this prefix (config faces).
COLLECTION_PREFIX = "collectionPrefix"
# Rekognition Video's NotificationChannel and the queue its notifications land in (config video).
VIDEO_TOPIC_ARN = "videoTopicArn"
VIDEO_NOTIFICATION_ROLE_ARN = "videoNotificationRoleArn"
VIDEO_QUEUE_URL = "videoQueueUrl"
REQUIRED_OUTPUTS = (BUCKET_NAME, BUCKET_ARN, ROLE_ARN, REGION)


@dataclass(frozen=True)
class StackOutputs:
    """Where an evaluation reads and writes, and the role it runs as."""

    bucket: str
    bucket_arn: str
    role_arn: str
    region: str
    project_arn: str | None = None
    # The batch state machine (config `batch`); `rekognition-eval batch submit` starts it.
    state_machine_arn: str | None = None
    # The ExternalId the role's trust policy requires (config `externalId`), sent with AssumeRole.
    role_external_id: str | None = None
    # Rekognition Video's notifications (config `video`): topic, the role Rekognition publishes with, queue.
    video_topic_arn: str | None = None
    video_notification_role_arn: str | None = None
    video_queue_url: str | None = None

    @property
    def video_channel(self) -> tuple[str, str, str] | None:
        """--notification-channel from the stack: (topic ARN, role ARN, queue URL), when it has all three."""
        parts = (self.video_topic_arn, self.video_notification_role_arn, self.video_queue_url)
        return (parts[0], parts[1], parts[2]) if all(parts) else None  # type: ignore[return-value]

    @property
    def datasets_uri(self) -> str:
        """Datasets go here (uploaded with your own credentials; the role may only read them)."""
        return f"s3://{self.bucket}/{DATASETS_PREFIX}"

    @property
    def cache_uri(self) -> str:
        return f"s3://{self.bucket}/{CACHE_PREFIX}"

    @property
    def reports_uri(self) -> str:
        return f"s3://{self.bucket}/{REPORTS_PREFIX}"


def load_stack_outputs(source: str) -> StackOutputs:
    """Read the JSON of `pulumi stack output --json` from a file, or from stdin when source is "-"."""
    where = "stdin" if source == "-" else source
    if source == "-":
        text = sys.stdin.read()
    else:
        path = Path(source).expanduser()
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise UserError(
                f"stack outputs file not found: {source} "
                f"(write it with `pulumi stack output --json > {source}`)"
            ) from None
        except OSError as error:
            raise UserError(f"cannot read stack outputs file {source}: {error.strerror or error}") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise UserError(
            f"{where}: not JSON ({error.msg} at line {error.lineno}, column {error.colno}); "
            "expected the output of `pulumi stack output --json`"
        ) from None
    return parse_stack_outputs(document, where=where)


def parse_stack_outputs(document: Any, *, where: str = "stack outputs") -> StackOutputs:
    """Check the decoded outputs and build StackOutputs; every message names the source and the key."""
    if not isinstance(document, dict):
        raise UserError(f"{where}: expected a JSON object of stack outputs, got {type(document).__name__}")
    missing = [key for key in REQUIRED_OUTPUTS if key not in document]
    if missing:
        raise UserError(
            f"{where}: missing stack output(s) {', '.join(missing)}; is this the output of "
            "`pulumi stack output --json` for the rekognition-eval stack, after `pulumi up`?"
        )
    optional = (PROJECT_ARN, STATE_MACHINE_ARN, ROLE_EXTERNAL_ID)
    video = (VIDEO_TOPIC_ARN, VIDEO_NOTIFICATION_ROLE_ARN, VIDEO_QUEUE_URL)
    for key in (*REQUIRED_OUTPUTS, *optional, *video):
        value = document.get(key)
        if key in document and (not isinstance(value, str) or not value):
            raise UserError(f"{where}: stack output {key} must be a non-empty string, got {value!r}")
        if value == "[secret]":
            raise UserError(
                f"{where}: stack output {key} is masked; run `pulumi stack output --json --show-secrets`"
            )
    bucket = document[BUCKET_NAME]
    if document[BUCKET_ARN] != f"arn:{_partition(document[ROLE_ARN])}:s3:::{bucket}":
        raise UserError(f"{where}: {BUCKET_ARN} {document[BUCKET_ARN]!r} is not the ARN of bucket {bucket!r}")
    return StackOutputs(
        bucket=bucket,
        bucket_arn=document[BUCKET_ARN],
        role_arn=document[ROLE_ARN],
        region=document[REGION],
        project_arn=document.get(PROJECT_ARN),
        state_machine_arn=document.get(STATE_MACHINE_ARN),
        role_external_id=document.get(ROLE_EXTERNAL_ID),
        video_topic_arn=document.get(VIDEO_TOPIC_ARN),
        video_notification_role_arn=document.get(VIDEO_NOTIFICATION_ROLE_ARN),
        video_queue_url=document.get(VIDEO_QUEUE_URL),
    )


def _partition(arn: str) -> str:
    parts = arn.split(":")
    return parts[1] if len(parts) > 1 and parts[0] == "arn" else "aws"


class _AssumedRoleProvider(CredentialProvider):
    """Hands botocore the refreshable credentials of the assumed role, ahead of every other source."""

    METHOD = "rekognition-eval-assume-role"
    CANONICAL_NAME = "RekognitionEvalAssumeRole"

    def __init__(self, credentials: RefreshableCredentials) -> None:
        super().__init__()
        self._credentials = credentials

    def load(self) -> RefreshableCredentials:
        return self._credentials


def assume_role_session(
    outputs: StackOutputs,
    *,
    base_session: boto3.Session | None = None,
    session_name: str = "rekognition-eval",
) -> boto3.Session:
    """A boto3 session acting as the stack's evaluation role, in the stack's region.

    The base session's credentials (default: the usual AWS profile and environment) call STS AssumeRole.
    The credentials are refreshed before they expire, so a run longer than the role's one-hour session
    keeps going. The first AssumeRole happens here, so a principal the role does not trust gets a clear
    error now rather than in the middle of a run.
    """
    base = base_session or boto3.Session(region_name=outputs.region)
    try:
        sts = base.client("sts", region_name=outputs.region)
    except BotoCoreError as error:
        raise UserError(f"cannot create an STS client to assume {outputs.role_arn}: {error}") from None

    def fetch() -> dict[str, str]:
        extra = {"ExternalId": outputs.role_external_id} if outputs.role_external_id else {}
        response = sts.assume_role(RoleArn=outputs.role_arn, RoleSessionName=session_name, **extra)
        credentials = response["Credentials"]
        return {
            "access_key": credentials["AccessKeyId"],
            "secret_key": credentials["SecretAccessKey"],
            "token": credentials["SessionToken"],
            "expiry_time": credentials["Expiration"].isoformat(),
        }

    try:
        first = fetch()
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        message = error.response.get("Error", {}).get("Message", str(error))
        hint = (
            " (your credentials must belong to one of the role's trusted principals: "
            "config key rekognition-eval:trustedPrincipals)"
            if code == "AccessDenied"
            else ""
        )
        raise UserError(f"cannot assume role {outputs.role_arn}: {code}: {message}{hint}") from None
    except BotoCoreError as error:  # no credentials, no network, bad endpoint
        raise UserError(f"cannot assume role {outputs.role_arn}: {error}") from None

    credentials = RefreshableCredentials.create_from_metadata(
        metadata=first, refresh_using=fetch, method=_AssumedRoleProvider.METHOD
    )
    session = botocore.session.get_session()
    session.get_component("credential_provider").insert_before("env", _AssumedRoleProvider(credentials))
    return boto3.Session(botocore_session=session, region_name=outputs.region)
