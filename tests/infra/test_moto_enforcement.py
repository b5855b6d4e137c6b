"""The role's real policies, loaded into moto with IAM enforcement on, used through an assumed session.

The trust and access policies are the exact JSON `__main__.py` emitted under Pulumi's mocks. A user the
trust policy names assumes the role with STS; every call after that is signed with the role's temporary
credentials and judged by moto against the role's inline policy.

What moto enforces here: signatures, the trust policy's principal list for sts:AssumeRole, and the
identity policy's actions and resources for S3 object calls, IAM, SQS and Rekognition.
What moto does not enforce (tests/infra/test_policies.py judges those with a small evaluator):
  - condition keys: moto has no request context (TLS, s3:prefix, kms:ViaService), and it counts a
    statement whose condition it cannot check as a Deny. So ListBucket (allowed only with an s3:prefix
    condition) is not exercised here, and the bucket policy is left off the moto bucket: moto does apply
    bucket policies to object calls, and would read the TLS-only deny as "deny everything";
  - an account-root principal in a trust policy (moto compares principal ARNs literally), so the program
    is configured here to trust one IAM user;
  - Rekognition resource-level permissions: moto authorizes every Rekognition call against Resource "*",
    so the Custom Labels grants scoped to one project cannot be shown to allow anything here;
  - Rekognition reading an S3Object with the caller's permissions: moto's DetectLabels does not read S3.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.core import disable_iam_authentication, enable_iam_authentication

from tests.infra.program import ACCOUNT_ID, REGION, ProgramRun, run_program
from tests.support.iam_eval import Request, decide
from tests.support.moto_iam import EVALUATOR, allow_assume, denied

OTHER_BUCKET = "someone-elses-bucket"
OBJECTS = (
    "datasets/birds/1.jpg",
    "cache/ab/cd.json",
    "reports/run-1/metrics.csv",
    "secrets/key.txt",
    "datasets.bak/1.jpg",
)


@pytest.fixture(scope="module")
def program() -> ProgramRun:
    """The program, configured to trust one IAM user (moto does not model an account-root principal)."""
    return run_program({"trustedPrincipals": [EVALUATOR]})


@dataclass
class Account:
    """The moto account after set-up, and sessions for the people in it."""

    bucket: str
    role_arn: str
    role_policy: dict[str, Any]
    as_role: boto3.Session
    session_for: Callable[[str], boto3.Session]


@pytest.fixture
def account(program: ProgramRun, monkeypatch: pytest.MonkeyPatch) -> Iterator[Account]:
    """A fresh moto account: the stack's bucket and role as the program declared them, and another bucket."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    bucket = program.outputs["bucketName"]
    role_arn = program.outputs["roleArn"]
    role = program.one("aws:iam/role:Role")
    role_policy = program.one("aws:iam/rolePolicy:RolePolicy").json_input("policy")

    with mock_aws():
        with disable_iam_authentication():  # set-up runs as the account's administrator
            s3 = boto3.client("s3", region_name=REGION)
            for name in (bucket, OTHER_BUCKET):
                s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
            for key in OBJECTS:
                s3.put_object(Bucket=bucket, Key=key, Body=b"data")
            s3.put_object(Bucket=OTHER_BUCKET, Key="datasets/birds/1.jpg", Body=b"data")

            iam = boto3.client("iam", region_name=REGION)
            iam.create_role(
                RoleName=role.state["name"],
                AssumeRolePolicyDocument=role.inputs["assumeRolePolicy"],
                MaxSessionDuration=int(role.inputs["maxSessionDuration"]),  # Pulumi numbers arrive as floats
            )
            iam.put_role_policy(
                RoleName=role.state["name"], PolicyName="access", PolicyDocument=json.dumps(role_policy)
            )
            users = {name: allow_assume(iam, name, role_arn) for name in ("evaluator", "outsider")}

        with enable_iam_authentication():
            credentials = (
                users["evaluator"]
                .client("sts")
                .assume_role(RoleArn=role_arn, RoleSessionName="evaluation")["Credentials"]
            )
            as_role = boto3.Session(
                aws_access_key_id=credentials["AccessKeyId"],
                aws_secret_access_key=credentials["SecretAccessKey"],
                aws_session_token=credentials["SessionToken"],
                region_name=REGION,
            )
            yield Account(bucket, role_arn, role_policy, as_role, users.__getitem__)


def test_the_trusted_user_assumed_the_role(account: Account) -> None:
    identity = account.as_role.client("sts").get_caller_identity()

    assert identity["Arn"].startswith(f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/")
    assert identity["Arn"].endswith("/evaluation")


def test_a_user_the_trust_policy_does_not_name_cannot_assume_it(account: Account) -> None:
    outsider = account.session_for("outsider").client("sts")

    assert denied(lambda: outsider.assume_role(RoleArn=account.role_arn, RoleSessionName="outsider"))


def test_reads_datasets_and_writes_cache_and_reports(account: Account) -> None:
    s3 = account.as_role.client("s3")

    assert s3.get_object(Bucket=account.bucket, Key="datasets/birds/1.jpg")["Body"].read() == b"data"
    s3.put_object(Bucket=account.bucket, Key="reports/run-2/summary.json", Body=b"{}")
    s3.put_object(Bucket=account.bucket, Key="cache/ef/01.json", Body=b"{}")
    assert s3.get_object(Bucket=account.bucket, Key="cache/ef/01.json")["Body"].read() == b"{}"
    assert s3.get_object(Bucket=account.bucket, Key="reports/run-1/metrics.csv")["Body"].read() == b"data"


def test_cannot_write_or_delete_datasets(account: Account) -> None:
    s3 = account.as_role.client("s3")

    assert denied(lambda: s3.put_object(Bucket=account.bucket, Key="datasets/birds/2.jpg", Body=b"x"))
    assert denied(lambda: s3.delete_object(Bucket=account.bucket, Key="datasets/birds/1.jpg"))
    assert denied(lambda: s3.delete_object(Bucket=account.bucket, Key="reports/run-1/metrics.csv"))


@pytest.mark.parametrize("key", ["secrets/key.txt", "datasets.bak/1.jpg"])
def test_cannot_read_or_write_other_prefixes(account: Account, key: str) -> None:
    s3 = account.as_role.client("s3")

    assert denied(lambda: s3.get_object(Bucket=account.bucket, Key=key))
    assert denied(lambda: s3.put_object(Bucket=account.bucket, Key=key, Body=b"x"))


def test_cannot_touch_another_bucket(account: Account) -> None:
    s3 = account.as_role.client("s3")

    assert denied(lambda: s3.get_object(Bucket=OTHER_BUCKET, Key="datasets/birds/1.jpg"))
    assert denied(lambda: s3.put_object(Bucket=OTHER_BUCKET, Key="reports/x", Body=b"x"))
    assert denied(lambda: s3.list_objects_v2(Bucket=OTHER_BUCKET, Prefix="datasets/"))
    assert denied(lambda: s3.list_buckets())
    assert denied(
        lambda: s3.create_bucket(
            Bucket="new-bucket", CreateBucketConfiguration={"LocationConstraint": REGION}
        )
    )
    assert denied(lambda: s3.delete_bucket_policy(Bucket=account.bucket))


def test_calls_the_detect_operations(account: Account) -> None:
    rekognition = account.as_role.client("rekognition")
    image = {"S3Object": {"Bucket": account.bucket, "Name": "datasets/birds/1.jpg"}}

    assert "Labels" in rekognition.detect_labels(Image=image, MinConfidence=0, MaxLabels=1000)
    assert "TextDetections" in rekognition.detect_text(Image=image)


def test_cannot_call_other_rekognition_operations(account: Account) -> None:
    rekognition = account.as_role.client("rekognition")
    image = {"S3Object": {"Bucket": account.bucket, "Name": "datasets/birds/1.jpg"}}
    version = f"arn:aws:rekognition:{REGION}:{ACCOUNT_ID}:project/p/version/v/1"

    assert denied(lambda: rekognition.compare_faces(SourceImage=image, TargetImage=image))
    assert denied(lambda: rekognition.detect_custom_labels(ProjectVersionArn=version, Image=image))


def test_cannot_call_other_services(account: Account) -> None:
    iam = account.as_role.client("iam")
    sqs = account.as_role.client("sqs")

    assert denied(lambda: iam.list_users())
    assert denied(lambda: iam.create_user(UserName="backdoor"))
    assert denied(lambda: iam.put_role_policy(RoleName="x", PolicyName="y", PolicyDocument="{}"))
    assert denied(lambda: sqs.list_queues())


def test_the_evaluator_agrees_with_moto_where_moto_enforces(account: Account) -> None:
    """The evaluator used in test_policies.py must judge these unconditioned requests as moto does."""
    s3 = account.as_role.client("s3")
    cases = [
        (
            "s3:GetObject",
            f"arn:aws:s3:::{account.bucket}/{key}",
            lambda k=key: s3.get_object(Bucket=account.bucket, Key=k),
        )
        for key in OBJECTS
    ] + [
        (
            "s3:PutObject",
            f"arn:aws:s3:::{account.bucket}/{key}",
            lambda k=key: s3.put_object(Bucket=account.bucket, Key=k, Body=b"x"),
        )
        for key in OBJECTS
    ]
    for action, resource, call in cases:
        evaluator_allows = decide(Request(action, resource), [account.role_policy]) == "allow"
        assert evaluator_allows == (not denied(call)), (action, resource)
