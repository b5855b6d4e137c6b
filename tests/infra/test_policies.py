"""The program's own policy documents, judged by the evaluator where moto does not enforce.

Every document here is the exact JSON the program sent to the (mocked) engine: bucket policies, the role's
trust and access policies, the log bucket's policy. moto cannot judge these parts: conditions on identity
policies (s3:prefix, kms:ViaService), bucket policies (TLS, log delivery), trust policies naming an
account root, and Rekognition's resource-level permissions (Custom Labels).
"""

from __future__ import annotations

from typing import Any

import pytest

from infra.policies import evaluation_role_policy, project_version_arns, trust_policy
from tests.infra.program import ACCOUNT_ID, DEPLOYER, KEY_ARN, REGION, ProgramRun, run_program
from tests.support.iam_eval import Request, decide, trust_allows

BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
ROLE_ARN_PREFIX = f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/"
OTHER_PROJECT = f"arn:aws:rekognition:{REGION}:{ACCOUNT_ID}:project/someone-else/1600000000000"


class Deployed:
    """The policies of one program run, and helpers to ask them questions as the role would."""

    def __init__(self, run: ProgramRun) -> None:
        self.run = run
        bucket = run.one("aws:s3/bucket:Bucket", "rekognition-eval-data")
        self.bucket = bucket.state["bucket"]
        self.bucket_arn = bucket.state["arn"]
        self.role_policy = run.one("aws:iam/rolePolicy:RolePolicy").json_input("policy")
        self.trust = run.one("aws:iam/role:Role").json_input("assumeRolePolicy")
        self.bucket_policy = run.attached_to(BUCKET_POLICY, bucket)[0].json_input("policy")
        self.principal = f"{ROLE_ARN_PREFIX}{run.one('aws:iam/role:Role').state['name']}/evaluation"

    def as_role(self, action: str, resource: str, **context: str) -> str:
        """The decision for a request the role makes over TLS (unless the context says otherwise)."""
        context = {"aws:SecureTransport": "true", **context}
        resource_policies = [self.bucket_policy] if resource.startswith(f"arn:aws:s3:::{self.bucket}") else []
        return decide(
            Request(action=action, resource=resource, principal=self.principal, context=context),
            [self.role_policy],
            resource_policies,
        )

    def object(self, key: str) -> str:
        return f"{self.bucket_arn}/{key}"


@pytest.fixture(scope="module")
def default() -> Deployed:
    return Deployed(run_program())


@pytest.fixture(scope="module")
def everything_on() -> Deployed:
    return Deployed(run_program({"kmsKeyArn": KEY_ARN, "customLabels": True, "accessLogs": True}))


@pytest.mark.parametrize(
    ("prefix", "decision"),
    [
        ("datasets/", "allow"),
        ("datasets/birds/", "allow"),
        ("cache/", "allow"),
        ("reports/2024/", "allow"),
        ("", "implicit-deny"),
        ("secrets/", "implicit-deny"),
        ("datasets", "implicit-deny"),
        ("datasets.bak/", "implicit-deny"),
    ],
)
def test_listing_is_limited_to_the_three_prefixes(default: Deployed, prefix: str, decision: str) -> None:
    assert default.as_role("s3:ListBucket", default.bucket_arn, **{"s3:prefix": prefix}) == decision


def test_listing_without_a_prefix_is_denied(default: Deployed) -> None:
    assert default.as_role("s3:ListBucket", default.bucket_arn) == "implicit-deny"


@pytest.mark.parametrize(
    ("action", "key", "decision"),
    [
        ("s3:GetObject", "datasets/birds/1.jpg", "allow"),
        ("s3:PutObject", "datasets/birds/1.jpg", "implicit-deny"),
        ("s3:DeleteObject", "datasets/birds/1.jpg", "implicit-deny"),
        ("s3:GetObject", "cache/ab/cd.json", "allow"),
        ("s3:PutObject", "cache/ab/cd.json", "allow"),
        ("s3:GetObject", "reports/run-1/metrics.csv", "allow"),
        ("s3:PutObject", "reports/run-1/metrics.csv", "allow"),
        ("s3:DeleteObject", "reports/run-1/metrics.csv", "implicit-deny"),
        ("s3:PutObjectAcl", "reports/run-1/metrics.csv", "implicit-deny"),
        ("s3:GetObjectVersion", "datasets/birds/1.jpg", "implicit-deny"),
        ("s3:GetObject", "secrets/key.txt", "implicit-deny"),
        ("s3:GetObject", "datasets.bak/1.jpg", "implicit-deny"),
        ("s3:GetObject", "s3-access-logs/2024-01-01", "implicit-deny"),
    ],
)
def test_object_access_by_prefix(default: Deployed, action: str, key: str, decision: str) -> None:
    assert default.as_role(action, default.object(key)) == decision


@pytest.mark.parametrize(
    "action", ["s3:GetObject", "s3:PutObject", "s3:ListBucket", "s3:DeleteBucket", "s3:PutBucketPolicy"]
)
def test_no_request_without_tls_gets_through(default: Deployed, action: str) -> None:
    resource = default.bucket_arn if "Bucket" in action else default.object("cache/x")
    context = {"aws:SecureTransport": "false", "s3:prefix": "cache/"}

    assert default.as_role(action, resource, **context) == "explicit-deny"


def test_tls_deny_applies_to_every_principal_even_an_administrator(default: Deployed) -> None:
    admin = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    request = Request(
        action="s3:GetObject",
        resource=default.object("datasets/1.jpg"),
        principal=f"arn:aws:iam::{ACCOUNT_ID}:user/admin",
        context={"aws:SecureTransport": "false"},
    )

    assert decide(request, [admin], [default.bucket_policy]) == "explicit-deny"
    over_tls = Request(**{**request.__dict__, "context": {"aws:SecureTransport": "true"}})
    assert decide(over_tls, [admin], [default.bucket_policy]) == "allow"


@pytest.mark.parametrize(
    "action",
    [
        "rekognition:DetectLabels",
        "rekognition:DetectModerationLabels",
        "rekognition:DetectText",
        "rekognition:DetectFaces",
    ],
)
def test_detect_operations_are_allowed(default: Deployed, action: str) -> None:
    assert default.as_role(action, "*") == "allow"


@pytest.mark.parametrize(
    "action",
    [
        "rekognition:IndexFaces",
        "rekognition:CreateCollection",
        "rekognition:CreateProject",
        "rekognition:DetectCustomLabels",
        "rekognition:StartProjectVersion",
        "rekognition:DescribeProjects",
    ],
)
def test_other_rekognition_operations_are_denied_by_default(default: Deployed, action: str) -> None:
    assert default.as_role(action, "*") == "implicit-deny"
    assert default.as_role(action, f"{project_version_arns(OTHER_PROJECT)[:-1]}v1/1") == "implicit-deny"


def test_custom_labels_models_of_the_project_only(everything_on: Deployed) -> None:
    project_arn = everything_on.run.one("aws:rekognition/project:Project").state["arn"]
    own_version = project_arn.rsplit("/", 1)[0] + "/version/v1/1700000000001"
    other_version = OTHER_PROJECT.rsplit("/", 1)[0] + "/version/v1/1600000000001"
    look_alike = project_arn.rsplit("/", 1)[0] + "-2/version/v1/1700000000001"

    for action in (
        "rekognition:DetectCustomLabels",
        "rekognition:StartProjectVersion",
        "rekognition:StopProjectVersion",
    ):
        assert everything_on.as_role(action, own_version) == "allow", action
        assert everything_on.as_role(action, other_version) == "implicit-deny", action
        assert everything_on.as_role(action, look_alike) == "implicit-deny", action
        assert everything_on.as_role(action, "*") == "implicit-deny", action
    assert everything_on.as_role("rekognition:DescribeProjectVersions", project_arn) == "allow"
    assert everything_on.as_role("rekognition:DescribeProjectVersions", OTHER_PROJECT) == "implicit-deny"
    # DescribeProjects has no resource-level permission: "*" is the only resource it can be granted on
    assert everything_on.as_role("rekognition:DescribeProjects", "*") == "allow"
    for action in (
        "rekognition:CreateProjectVersion",
        "rekognition:DeleteProject",
        "rekognition:DeleteProjectVersion",
    ):
        assert everything_on.as_role(action, project_arn) == "implicit-deny", action
        assert everything_on.as_role(action, own_version) == "implicit-deny", action


def test_kms_key_only_through_s3_and_only_for_data_keys(everything_on: Deployed) -> None:
    via_s3 = {"kms:ViaService": f"s3.{REGION}.amazonaws.com"}
    other_key = KEY_ARN.replace("1234abcd", "9999abcd")

    assert everything_on.as_role("kms:Decrypt", KEY_ARN, **via_s3) == "allow"
    assert everything_on.as_role("kms:GenerateDataKey", KEY_ARN, **via_s3) == "allow"
    assert everything_on.as_role("kms:Decrypt", KEY_ARN) == "implicit-deny"  # called directly
    assert everything_on.as_role(
        "kms:Decrypt", KEY_ARN, **{"kms:ViaService": "sqs.eu-west-1.amazonaws.com"}
    ) == ("implicit-deny")
    assert everything_on.as_role("kms:Decrypt", other_key, **via_s3) == "implicit-deny"
    for action in ("kms:Encrypt", "kms:ScheduleKeyDeletion", "kms:PutKeyPolicy", "kms:CreateGrant"):
        assert everything_on.as_role(action, KEY_ARN, **via_s3) == "implicit-deny", action


def test_without_a_key_no_kms_use_is_allowed(default: Deployed) -> None:
    assert default.as_role("kms:Decrypt", KEY_ARN, **{"kms:ViaService": f"s3.{REGION}.amazonaws.com"}) == (
        "implicit-deny"
    )


def test_other_services_are_denied(everything_on: Deployed) -> None:
    for action, resource in [
        ("iam:CreateUser", "*"),
        ("iam:PassRole", "*"),
        ("sts:AssumeRole", "*"),
        ("dynamodb:Scan", "*"),
        ("s3:ListAllMyBuckets", "*"),
        ("s3:GetObject", "arn:aws:s3:::another-bucket/datasets/1.jpg"),
        ("s3:ListBucket", "arn:aws:s3:::another-bucket"),
    ]:
        assert everything_on.as_role(action, resource, **{"s3:prefix": "datasets/"}) == "implicit-deny", (
            action
        )


def test_default_trust_is_the_deploying_principal_not_the_account(default: Deployed) -> None:
    """Issue 18: before, every principal of the account could assume the role; now only the deployer."""
    assert trust_allows(default.trust, DEPLOYER)
    assert not trust_allows(default.trust, f"arn:aws:iam::{ACCOUNT_ID}:user/ana")
    assert not trust_allows(default.trust, f"arn:aws:iam::{ACCOUNT_ID}:role/ci")
    assert not trust_allows(default.trust, "arn:aws:iam::111122223333:user/deployer")
    assert not trust_allows(default.trust, DEPLOYER, action="sts:AssumeRoleWithWebIdentity")


def test_a_trusted_account_must_present_the_external_id() -> None:
    run = run_program({"trustedPrincipals": ["444455556666"], "externalId": "eval-7f3a"})
    trust = run.one("aws:iam/role:Role").json_input("assumeRolePolicy")
    statements = [{**s, "Resource": "*"} for s in trust["Statement"]]

    def assume(principal: str, **context: str) -> str:
        request = Request("sts:AssumeRole", "*", principal=principal, context=context)
        return decide(request, resource_policies=[{"Statement": statements}])

    ana = "arn:aws:iam::444455556666:user/ana"
    assert assume(ana, **{"sts:ExternalId": "eval-7f3a"}) == "allow"
    assert assume(ana) == "implicit-deny"
    assert assume(ana, **{"sts:ExternalId": "eval-7f3b"}) == "implicit-deny"
    assert assume(f"arn:aws:iam::{ACCOUNT_ID}:user/ana", **{"sts:ExternalId": "eval-7f3a"}) == "implicit-deny"


def test_configured_trust_admits_exactly_those_principals() -> None:
    run = run_program({"trustedPrincipals": ["arn:aws:iam::111122223333:role/data-science"]})
    trust = run.one("aws:iam/role:Role").json_input("assumeRolePolicy")

    assert trust_allows(trust, "arn:aws:iam::111122223333:role/data-science")
    assert not trust_allows(trust, "arn:aws:iam::111122223333:role/other")
    assert not trust_allows(trust, f"arn:aws:iam::{ACCOUNT_ID}:user/deployer")


def test_log_delivery_is_admitted_for_our_bucket_only(everything_on: Deployed) -> None:
    logs = everything_on.run.one("aws:s3/bucket:Bucket", "rekognition-eval-access-logs")
    policy = everything_on.run.attached_to(BUCKET_POLICY, logs)[0].json_input("policy")

    def delivery(key: str, source_arn: str, source_account: str = ACCOUNT_ID) -> str:
        request = Request(
            action="s3:PutObject",
            resource=f"{logs.state['arn']}/{key}",
            principal="logging.s3.amazonaws.com",
            context={
                "aws:SourceArn": source_arn,
                "aws:SourceAccount": source_account,
                "aws:SecureTransport": "true",
            },
        )
        return decide(request, resource_policies=[policy])

    assert delivery("s3-access-logs/2024-01-01-00-00-00-X", everything_on.bucket_arn) == "allow"
    assert delivery("s3-access-logs/x", "arn:aws:s3:::another-bucket") == "implicit-deny"
    assert delivery("s3-access-logs/x", everything_on.bucket_arn, "111122223333") == "implicit-deny"
    assert delivery("elsewhere/x", everything_on.bucket_arn) == "implicit-deny"


def test_project_version_pattern_needs_a_project_arn() -> None:
    with pytest.raises(ValueError, match="not a Rekognition project ARN"):
        project_version_arns("arn:aws:rekognition:eu-west-1:123456789012:collection/faces")


def test_trust_policy_needs_a_principal() -> None:
    with pytest.raises(ValueError, match="at least one principal"):
        trust_policy([])


def test_the_evaluator_refuses_what_it_does_not_understand() -> None:
    """So a new construct in a policy fails these tests rather than being silently misjudged."""
    policy: dict[str, Any] = evaluation_role_policy("arn:aws:s3:::b", region=REGION)
    policy["Statement"][0]["Condition"] = {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}

    with pytest.raises(NotImplementedError, match="IpAddress"):
        decide(Request("rekognition:DetectLabels", "*"), [policy])
