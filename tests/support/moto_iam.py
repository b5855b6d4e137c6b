"""moto with IAM enforcement, as the infrastructure tests use it: users allowed to assume a role, and
whether moto refused a call for lack of permission."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import boto3
from botocore.exceptions import ClientError

from tests.infra.program import ACCOUNT_ID, REGION

EVALUATOR = f"arn:aws:iam::{ACCOUNT_ID}:user/evaluator"
ASSUME_ROLE = "AssumeTheEvaluationRole"


def allow_assume(iam: Any, user: str, role_arn: str) -> boto3.Session:
    """A user allowed to call sts:AssumeRole on the role; whether the role trusts them is the role's say."""
    iam.create_user(UserName=user)
    iam.put_user_policy(
        UserName=user,
        PolicyName=ASSUME_ROLE,
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": role_arn}],
            }
        ),
    )
    key = iam.create_access_key(UserName=user)["AccessKey"]
    return boto3.Session(
        aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"], region_name=REGION
    )


def denied(call: Callable[[], Any]) -> bool:
    """Whether moto refused the call for lack of permission (any other error fails the test).

    moto answers an IAM refusal with AccessDenied, except for JSON-protocol services (Rekognition, SQS)
    where botocore cannot parse its XML error body and reports the HTTP status with moto's message.
    """
    try:
        call()
    except ClientError as error:
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        code = error.response["Error"].get("Code", "")
        message = error.response["Error"].get("Message", "")
        if status == 403 and (code.startswith("AccessDenied") or "is not authorized to perform" in message):
            return True
        raise
    return False
