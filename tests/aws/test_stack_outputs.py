"""The harness reads `pulumi stack output --json` and assumes the stack's role (moto stands in for STS)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from botocore.credentials import RefreshableCredentials
from moto import mock_aws

from evaluation.aws.stack_outputs import (
    StackOutputs,
    assume_role_session,
    load_stack_outputs,
    parse_stack_outputs,
)
from evaluation.errors import UserError

ACCOUNT_ID = "123456789012"  # moto's default account
OUTPUTS = {
    "bucketName": "rekognition-eval-data-0a1b2c3",
    "bucketArn": "arn:aws:s3:::rekognition-eval-data-0a1b2c3",
    "roleArn": f"arn:aws:iam::{ACCOUNT_ID}:role/rekognition-eval-4d5e6f7",
    "region": "eu-west-1",
}
TRUST_ACCOUNT = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT_ID}:root"},
            "Action": "sts:AssumeRole",
        }
    ],
}


def write(tmp_path: Path, document: object) -> str:
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    return str(path)


def test_reads_a_file_and_derives_the_prefix_uris(tmp_path: Path) -> None:
    outputs = load_stack_outputs(write(tmp_path, OUTPUTS))

    assert outputs == StackOutputs(
        bucket="rekognition-eval-data-0a1b2c3",
        bucket_arn="arn:aws:s3:::rekognition-eval-data-0a1b2c3",
        role_arn=OUTPUTS["roleArn"],
        region="eu-west-1",
        project_arn=None,
    )
    assert outputs.datasets_uri == "s3://rekognition-eval-data-0a1b2c3/datasets/"
    assert outputs.cache_uri == "s3://rekognition-eval-data-0a1b2c3/cache/"
    assert outputs.reports_uri == "s3://rekognition-eval-data-0a1b2c3/reports/"


def test_reads_stdin_for_dash(monkeypatch: pytest.MonkeyPatch) -> None:
    project_arn = f"arn:aws:rekognition:eu-west-1:{ACCOUNT_ID}:project/rekognition-eval-dev/1700000000000"
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps({**OUTPUTS, "projectArn": project_arn})))

    assert load_stack_outputs("-").project_arn == project_arn


def test_extra_outputs_are_ignored(tmp_path: Path) -> None:
    """Outputs a later version of the program adds must not break an older harness."""
    outputs = load_stack_outputs(write(tmp_path, {**OUTPUTS, "accessLogsBucketName": "logs"}))

    assert outputs.bucket == OUTPUTS["bucketName"]


def test_missing_file_says_how_to_make_it(tmp_path: Path) -> None:
    missing = tmp_path / "nope.json"

    with pytest.raises(UserError, match=r"not found: .*nope\.json.*pulumi stack output --json"):
        load_stack_outputs(str(missing))


def test_bad_json_names_the_source_and_position(tmp_path: Path) -> None:
    path = tmp_path / "outputs.json"
    path.write_text('{"bucketName": ', encoding="utf-8")

    with pytest.raises(UserError, match=r"outputs\.json: not JSON .*line 1"):
        load_stack_outputs(str(path))


def test_bad_json_on_stdin_says_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("Current stack is dev:\n"))

    with pytest.raises(UserError, match=r"^stdin: not JSON"):
        load_stack_outputs("-")


@pytest.mark.parametrize("key", ["bucketName", "bucketArn", "roleArn", "region"])
def test_each_missing_key_is_named(key: str) -> None:
    document = {k: v for k, v in OUTPUTS.items() if k != key}

    with pytest.raises(UserError, match=rf"missing stack output\(s\) {key}\b"):
        parse_stack_outputs(document, where="outputs.json")


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([OUTPUTS], r"expected a JSON object"),
        ({**OUTPUTS, "roleArn": 42}, r"roleArn must be a non-empty string"),
        ({**OUTPUTS, "region": ""}, r"region must be a non-empty string"),
        ({**OUTPUTS, "projectArn": None}, r"projectArn must be a non-empty string"),
        ({**OUTPUTS, "roleArn": "[secret]"}, r"roleArn is masked"),
        ({**OUTPUTS, "bucketArn": "arn:aws:s3:::another-bucket"}, r"not the ARN of bucket"),
    ],
)
def test_malformed_outputs_are_refused_with_the_key(document: object, message: str) -> None:
    with pytest.raises(UserError, match=message):
        parse_stack_outputs(document, where="outputs.json")


@pytest.fixture
def aws() -> Iterator[None]:
    """A clean moto account per test, with a role trusted by that account."""
    with mock_aws():
        iam = boto3.client("iam", region_name="us-east-1")
        iam.create_role(
            RoleName="rekognition-eval-4d5e6f7", AssumeRolePolicyDocument=json.dumps(TRUST_ACCOUNT)
        )
        yield


@pytest.fixture(autouse=True)
def fake_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Never let a developer's real credentials or profile reach these tests."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")


@pytest.mark.usefixtures("aws")
def test_assumed_session_acts_as_the_role_in_the_stack_region() -> None:
    outputs = parse_stack_outputs(OUTPUTS)

    session = assume_role_session(
        outputs, base_session=boto3.Session(region_name="us-east-1"), session_name="ci"
    )

    assert session.region_name == "eu-west-1"
    identity = session.client("sts").get_caller_identity()
    assert identity["Arn"] == f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/rekognition-eval-4d5e6f7/ci"


@pytest.mark.usefixtures("aws")
def test_assumed_credentials_refresh_themselves() -> None:
    """Runs outlive the role's one-hour sessions: the credentials must be refreshable, not a snapshot."""
    session = assume_role_session(parse_stack_outputs(OUTPUTS))

    credentials = session.get_credentials()
    assert isinstance(credentials, RefreshableCredentials)
    assert credentials.method == "rekognition-eval-assume-role"
    assert credentials.refresh_needed() is False


@pytest.mark.usefixtures("aws")
def test_assume_role_refusal_is_a_user_error_naming_the_role_and_the_setting() -> None:
    """With moto's IAM enforcement on, a user with no sts:AssumeRole permission is refused.

    (moto refuses it for the caller's missing permission; it does not model an account-root principal in
    the trust policy, so this is not a test of the trust policy itself: tests/infra covers that.)
    """
    from moto.core import enable_iam_authentication

    iam = boto3.client("iam", region_name="us-east-1")
    iam.create_user(UserName="stranger")
    key = iam.create_access_key(UserName="stranger")["AccessKey"]
    stranger = boto3.Session(
        aws_access_key_id=key["AccessKeyId"],
        aws_secret_access_key=key["SecretAccessKey"],
        region_name="eu-west-1",
    )

    with enable_iam_authentication(), pytest.raises(UserError) as raised:
        assume_role_session(parse_stack_outputs(OUTPUTS), base_session=stranger)

    assert OUTPUTS["roleArn"] in str(raised.value)
    assert "AccessDenied" in str(raised.value)
    assert "trustedPrincipals" in str(raised.value)


def test_prefixes_match_the_pulumi_program() -> None:
    """The harness repeats the bucket layout rather than import the Pulumi package; keep them equal."""
    policies = pytest.importorskip("infra.policies")
    from evaluation.aws import stack_outputs

    assert stack_outputs.DATASETS_PREFIX == policies.DATASETS_PREFIX
    assert stack_outputs.CACHE_PREFIX == policies.CACHE_PREFIX
    assert stack_outputs.REPORTS_PREFIX == policies.REPORTS_PREFIX
