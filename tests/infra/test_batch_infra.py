"""The batch state machine under Pulumi's mocks, and its role's policies in the evaluator and in moto.

`batch: true` adds exactly one component: a named Standard state machine (its definition is
infra/batch_definition.py's document, byte for byte), the role its executions run as, and that role's
inline policy; the evaluation role gains start-and-watch permissions on that state machine only. With
`batch` off nothing of it exists. As in test_moto_enforcement.py, moto enforces the batch role's S3 object
and Rekognition permissions (against Resource "*" for Rekognition); the evaluator judges the rest
(Step Functions resource ARNs, the trust policy's conditions) and is cross-checked against moto.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.core import disable_iam_authentication, enable_iam_authentication

from infra.batch_definition import batch_definition
from infra.config import ConfigError
from infra.policies import LOG_DELIVERY_ACTIONS, batch_log_delivery_policy, child_executions_of
from tests.infra.program import ACCOUNT_ID, KEY_ARN, REGION, ProgramRun, program_error, run_program
from tests.support.iam_eval import Request, decide
from tests.support.moto_iam import denied

STATE_MACHINE = "aws:sfn/stateMachine:StateMachine"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
LOG_GROUP_NAME = "/aws/vendedlogs/states/rekognition-eval-dev-batch"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
COMPONENT = "rekognition-eval:infra:BatchEvaluation"
STATE_MACHINE_ARN = f"arn:aws:states:{REGION}:{ACCOUNT_ID}:stateMachine:rekognition-eval-dev-batch"
OTHER_STATE_MACHINE = f"arn:aws:states:{REGION}:{ACCOUNT_ID}:stateMachine:someone-elses"
EXECUTION = (
    f"arn:aws:states:{REGION}:{ACCOUNT_ID}:execution:rekognition-eval-dev-batch:birds-20260101T000000Z"
)
CHILD_EXECUTION = (
    f"arn:aws:states:{REGION}:{ACCOUNT_ID}:execution:rekognition-eval-dev-batch/Images:1a2b:3c4d"
)
MAP_RUN = f"arn:aws:states:{REGION}:{ACCOUNT_ID}:mapRun:rekognition-eval-dev-batch/Images:1a2b"


@pytest.fixture(scope="module")
def default() -> ProgramRun:
    return run_program()


@pytest.fixture(scope="module")
def batch_on() -> ProgramRun:
    return run_program({"batch": True, "batchMaxConcurrency": 40})


@dataclass
class BatchDeployed:
    """The batch's resources as one program run declared them."""

    run: ProgramRun
    bucket: str
    bucket_arn: str
    machine: Any
    role: Any
    role_policy: dict
    trust: dict
    evaluation_policy: dict

    def as_batch_role(self, action: str, resource: str) -> str:
        return decide(Request(action=action, resource=resource), [self.role_policy])

    def as_evaluation_role(self, action: str, resource: str) -> str:
        return decide(Request(action=action, resource=resource), [self.evaluation_policy])


def deployed(run: ProgramRun) -> BatchDeployed:
    bucket = run.one("aws:s3/bucket:Bucket", "rekognition-eval-data")
    role = run.one(ROLE, "rekognition-eval-batch")
    return BatchDeployed(
        run=run,
        bucket=bucket.state["bucket"],
        bucket_arn=bucket.state["arn"],
        machine=run.one(STATE_MACHINE),
        role=role,
        role_policy=run.one(ROLE_POLICY, "rekognition-eval-batch-access").json_input("policy"),
        trust=role.json_input("assumeRolePolicy"),
        evaluation_policy=run.one(ROLE_POLICY, "rekognition-eval-access").json_input("policy"),
    )


@pytest.fixture(scope="module")
def batch(batch_on: ProgramRun) -> BatchDeployed:
    return deployed(batch_on)


# --- what the program declares ----------------------------------------------------------------------------


def test_without_batch_nothing_of_it_exists(default: ProgramRun) -> None:
    assert default.of_type(STATE_MACHINE) == []
    assert default.of_type(COMPONENT) == []
    assert [role.name for role in default.of_type(ROLE)] == ["rekognition-eval"]
    assert "stateMachineArn" not in default.outputs
    assert "states:" not in default.one(ROLE_POLICY).inputs["policy"]


def test_batch_adds_exactly_the_state_machine_its_role_and_policy_in_one_component(
    default: ProgramRun, batch_on: ProgramRun
) -> None:
    extra = Counter(r.type for r in batch_on.resources) - Counter(r.type for r in default.resources)

    # The role's two policies: what executions may do, and what log delivery needs; and the log group.
    assert extra == Counter({COMPONENT: 1, STATE_MACHINE: 1, ROLE: 1, ROLE_POLICY: 2, LOG_GROUP: 1})
    for resource in batch_on.resources:
        if resource.name.startswith("rekognition-eval-batch"):
            assert resource.parent_type == COMPONENT, resource.name
    assert batch_on.one(COMPONENT).parent_type == "pulumi:pulumi:Stack"


def test_the_state_machine_is_a_named_standard_workflow_running_as_its_role(batch: BatchDeployed) -> None:
    inputs = batch.machine.inputs

    assert inputs["name"] == "rekognition-eval-dev-batch"
    assert inputs["type"] == "STANDARD"
    assert inputs["roleArn"] == batch.role.state["arn"]
    # Its permissions exist before it can be started.
    assert batch.run.one(ROLE_POLICY, "rekognition-eval-batch-access").urn in batch.machine.dependencies


def test_the_definition_is_the_pure_function_s_document(batch: BatchDeployed) -> None:
    assert batch.machine.json_input("definition") == batch_definition(bucket=batch.bucket, max_concurrency=40)


def test_the_state_machine_arn_is_exported(batch: BatchDeployed) -> None:
    assert batch.machine.state["arn"] == STATE_MACHINE_ARN
    assert batch.run.outputs["stateMachineArn"] == STATE_MACHINE_ARN
    assert set(batch.run.outputs) == {
        "bucketName",
        "bucketArn",
        "roleArn",
        "region",
        "accessLogsBucketName",
        "stateMachineArn",
        "stateMachineLogGroupName",
    }
    assert batch.run.outputs["stateMachineLogGroupName"] == LOG_GROUP_NAME


# --- logging to CloudWatch Logs (issue 18) ----------------------------------------------------------------


def test_the_state_machine_logs_errors_without_execution_data_by_default(batch: BatchDeployed) -> None:
    log_group = batch.run.one(LOG_GROUP)

    assert log_group.inputs["name"] == LOG_GROUP_NAME
    assert log_group.inputs["retentionInDays"] == 30
    assert log_group.parent_type == COMPONENT
    assert batch.machine.inputs["loggingConfiguration"] == {
        "level": "ERROR",
        "includeExecutionData": False,
        "logDestination": f"{log_group.state['arn']}:*",
    }


def test_the_batch_role_has_exactly_the_log_delivery_permissions(batch: BatchDeployed) -> None:
    logs_policy = batch.run.one(ROLE_POLICY, "rekognition-eval-batch-logs")

    assert logs_policy.inputs["role"] == batch.role.state["name"]
    assert logs_policy.json_input("policy") == batch_log_delivery_policy()
    assert logs_policy.json_input("policy")["Statement"] == [
        {
            "Sid": "DeliverStateMachineLogs",
            "Effect": "Allow",
            "Action": [
                "logs:CreateLogDelivery",
                "logs:DeleteLogDelivery",
                "logs:DescribeLogGroups",
                "logs:DescribeResourcePolicies",
                "logs:GetLogDelivery",
                "logs:ListLogDeliveries",
                "logs:PutResourcePolicy",
                "logs:UpdateLogDelivery",
            ],
            "Resource": "*",
        }
    ]
    # Step Functions checks these when the state machine is created with logging.
    assert logs_policy.urn in batch.machine.dependencies
    policies = [batch.role_policy, logs_policy.json_input("policy")]
    for action in LOG_DELIVERY_ACTIONS:
        assert decide(Request(action, "*"), policies) == "allow", action
    for action in ("logs:PutLogEvents", "logs:CreateLogStream", "logs:DeleteLogGroup", "logs:GetLogEvents"):
        assert decide(Request(action, "*"), policies) == "implicit-deny", action
    # The evaluation role gains nothing of it.
    assert "logs:" not in json.dumps(batch.evaluation_policy)


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"batchLogLevel": "ALL", "batchLogExecutionData": True}, ("ALL", True)),
        ({"batchLogLevel": "fatal"}, ("FATAL", False)),
    ],
)
def test_log_level_and_execution_data_follow_the_settings(config: dict, expected: tuple) -> None:
    run = run_program({"batch": True, **config})
    logging = run.one(STATE_MACHINE).inputs["loggingConfiguration"]

    assert (logging["level"], logging["includeExecutionData"]) == expected


def test_log_level_off_creates_no_log_group_and_no_log_permission() -> None:
    run = run_program({"batch": True, "batchLogLevel": "OFF"})

    assert run.one(STATE_MACHINE).inputs["loggingConfiguration"] == {"level": "OFF"}
    assert run.of_type(LOG_GROUP) == []
    assert [p.name for p in run.of_type(ROLE_POLICY)] == [
        "rekognition-eval-batch-access",
        "rekognition-eval-access",
    ]
    assert "stateMachineLogGroupName" not in run.outputs


def test_only_step_functions_for_this_state_machine_may_assume_the_batch_role(batch: BatchDeployed) -> None:
    assert batch.trust["Statement"] == [
        {
            "Sid": "AssumeForBatchExecutions",
            "Effect": "Allow",
            "Principal": {"Service": "states.amazonaws.com"},
            "Action": "sts:AssumeRole",
            "Condition": {
                "StringEquals": {"aws:SourceAccount": ACCOUNT_ID},
                "ArnLike": {"aws:SourceArn": [STATE_MACHINE_ARN, f"{STATE_MACHINE_ARN}/*"]},
            },
        }
    ]

    def assume(principal: str, source_arn: str, source_account: str = ACCOUNT_ID) -> str:
        request = Request(
            action="sts:AssumeRole",
            resource="*",
            principal=principal,
            context={"aws:SourceArn": source_arn, "aws:SourceAccount": source_account},
        )
        statements = [{**s, "Resource": "*"} for s in batch.trust["Statement"]]
        return decide(request, resource_policies=[{"Statement": statements}])

    child_machine = f"{STATE_MACHINE_ARN}/Images"
    assert assume("states.amazonaws.com", STATE_MACHINE_ARN) == "allow"
    assert assume("states.amazonaws.com", child_machine) == "allow"
    assert assume("states.amazonaws.com", OTHER_STATE_MACHINE) == "implicit-deny"
    assert assume("states.amazonaws.com", f"{STATE_MACHINE_ARN}-2") == "implicit-deny"
    assert assume("states.amazonaws.com", STATE_MACHINE_ARN, "111122223333") == "implicit-deny"
    assert assume("lambda.amazonaws.com", STATE_MACHINE_ARN) == "implicit-deny"
    assert assume(f"arn:aws:iam::{ACCOUNT_ID}:user/ana", STATE_MACHINE_ARN) == "implicit-deny"


def test_no_allow_of_the_batch_role_has_a_wildcard_action(batch: BatchDeployed) -> None:
    for statement in batch.role_policy["Statement"]:
        assert statement["Effect"] == "Allow"
        assert all("*" not in action for action in statement["Action"]), statement["Sid"]
        if statement["Sid"] != "DetectLabels":  # DetectLabels has no resource-level permissions
            assert statement["Resource"] != "*", statement["Sid"]


@pytest.mark.parametrize(
    ("action", "key", "decision"),
    [
        ("s3:GetObject", "datasets/birds/1.jpg", "allow"),  # Rekognition reads the image as the role
        ("s3:PutObject", "datasets/birds/1.jpg", "implicit-deny"),
        ("s3:GetObject", "cache/batch/items/0a1b.json", "allow"),  # ItemReader
        ("s3:PutObject", "cache/batch/items/0a1b.json", "implicit-deny"),
        ("s3:PutObject", "cache/batch/results/run/SUCCEEDED_0.json", "allow"),  # ResultWriter
        ("s3:GetObject", "cache/batch/results/run/manifest.json", "allow"),
        ("s3:AbortMultipartUpload", "cache/batch/results/run/SUCCEEDED_0.json", "allow"),
        ("s3:ListMultipartUploadParts", "cache/batch/results/run/SUCCEEDED_0.json", "allow"),
        ("s3:DeleteObject", "cache/batch/results/run/SUCCEEDED_0.json", "implicit-deny"),
        ("s3:GetObject", "cache/ab/cd.json", "implicit-deny"),  # the harness's own cache objects
        ("s3:PutObject", "cache/ab/cd.json", "implicit-deny"),
        ("s3:GetObject", "cache/batch/datasets/0a1b/birds.csv", "implicit-deny"),  # ground truth: not needed
        ("s3:GetObject", "reports/run-1/metrics.csv", "implicit-deny"),
        ("s3:GetObject", "datasets.bak/1.jpg", "implicit-deny"),
    ],
)
def test_batch_role_object_access_by_prefix(
    batch: BatchDeployed, action: str, key: str, decision: str
) -> None:
    assert batch.as_batch_role(action, f"{batch.bucket_arn}/{key}") == decision


def test_batch_role_calls_detect_labels_only(batch: BatchDeployed) -> None:
    assert batch.as_batch_role("rekognition:DetectLabels", "*") == "allow"
    for action in ("rekognition:DetectText", "rekognition:DetectFaces", "rekognition:IndexFaces"):
        assert batch.as_batch_role(action, "*") == "implicit-deny", action


def test_batch_role_runs_its_own_child_executions_only(batch: BatchDeployed) -> None:
    assert batch.as_batch_role("states:StartExecution", STATE_MACHINE_ARN) == "allow"
    assert batch.as_batch_role("states:StartExecution", OTHER_STATE_MACHINE) == "implicit-deny"
    assert batch.as_batch_role("states:DescribeExecution", CHILD_EXECUTION) == "allow"
    assert batch.as_batch_role("states:StopExecution", CHILD_EXECUTION) == "allow"
    assert child_executions_of(STATE_MACHINE_ARN).endswith(":execution:rekognition-eval-dev-batch/*")
    other_child = CHILD_EXECUTION.replace("rekognition-eval-dev-batch", "someone-elses")
    assert batch.as_batch_role("states:StopExecution", other_child) == "implicit-deny"
    assert batch.as_batch_role("states:StopExecution", EXECUTION) == "implicit-deny"  # not the parent
    assert batch.as_batch_role("states:DeleteStateMachine", STATE_MACHINE_ARN) == "implicit-deny"


def test_batch_role_lists_nothing_and_touches_no_other_bucket_or_service(batch: BatchDeployed) -> None:
    for action, resource in [
        ("s3:ListBucket", batch.bucket_arn),
        ("s3:GetObject", "arn:aws:s3:::another-bucket/datasets/1.jpg"),
        ("s3:PutObject", "arn:aws:s3:::another-bucket/cache/batch/results/x"),
        ("iam:PassRole", "*"),
        ("kms:Decrypt", KEY_ARN),
        ("lambda:InvokeFunction", "*"),
    ]:
        assert batch.as_batch_role(action, resource) == "implicit-deny", action


def test_with_a_kms_key_the_batch_role_uses_it_through_s3_only() -> None:
    run = run_program({"batch": True, "kmsKeyArn": KEY_ARN})
    statements = {s["Sid"]: s for s in deployed(run).role_policy["Statement"]}

    assert statements["UseBucketKeyThroughS3"] == {
        "Sid": "UseBucketKeyThroughS3",
        "Effect": "Allow",
        "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
        "Resource": [KEY_ARN],
        "Condition": {"StringEquals": {"kms:ViaService": f"s3.{REGION}.amazonaws.com"}},
    }


def test_the_evaluation_role_may_start_and_watch_this_state_machine_only(batch: BatchDeployed) -> None:
    statements = {s["Sid"]: s for s in batch.evaluation_policy["Statement"]}
    assert statements["StartBatchEvaluations"]["Resource"] == [STATE_MACHINE_ARN]

    assert batch.as_evaluation_role("states:StartExecution", STATE_MACHINE_ARN) == "allow"
    assert batch.as_evaluation_role("states:StartExecution", OTHER_STATE_MACHINE) == "implicit-deny"
    assert batch.as_evaluation_role("states:DescribeExecution", EXECUTION) == "allow"
    assert batch.as_evaluation_role("states:ListMapRuns", EXECUTION) == "allow"
    assert batch.as_evaluation_role("states:DescribeMapRun", MAP_RUN) == "allow"
    other_execution = EXECUTION.replace("rekognition-eval-dev-batch", "someone-elses")
    assert batch.as_evaluation_role("states:DescribeExecution", other_execution) == "implicit-deny"
    assert batch.as_evaluation_role("states:DescribeExecution", CHILD_EXECUTION) == "implicit-deny"
    for action in ("states:StopExecution", "states:RedriveExecution", "states:UpdateStateMachine"):
        assert batch.as_evaluation_role(action, STATE_MACHINE_ARN) == "implicit-deny", action
        assert batch.as_evaluation_role(action, EXECUTION) == "implicit-deny", action
    # `batch submit` uploads item lists, `batch ingest` reads results: the role's cache/ access covers both.
    assert (
        batch.as_evaluation_role("s3:PutObject", f"{batch.bucket_arn}/cache/batch/items/0a1b.json") == "allow"
    )
    assert (
        batch.as_evaluation_role("s3:GetObject", f"{batch.bucket_arn}/cache/batch/results/r/x.json")
        == "allow"
    )


@pytest.mark.parametrize(
    ("config", "key", "message"),
    [
        (
            {"batch": True, "batchMaxConcurrency": 0},
            "rekognition-eval:batchMaxConcurrency",
            r"between 1 and 10000",
        ),
        (
            {"batch": True, "batchMaxConcurrency": 10_001},
            "rekognition-eval:batchMaxConcurrency",
            r"Distributed Map's limit.*got 10001",
        ),
        ({"batchMaxConcurrency": "many"}, "rekognition-eval:batchMaxConcurrency", r"whole number"),
        ({"batch": "yes"}, "rekognition-eval:batch", r"true or false"),
        (
            {"batch": True, "batchLogLevel": "DEBUG"},
            "rekognition-eval:batchLogLevel",
            r"ALL, ERROR, FATAL, OFF",
        ),
        ({"batchLogExecutionData": "no"}, "rekognition-eval:batchLogExecutionData", r"true or false"),
    ],
)
def test_bad_batch_settings_fail_naming_the_key_before_anything_is_declared(
    config: dict, key: str, message: str
) -> None:
    failure = program_error(config)

    assert isinstance(failure.error, ConfigError), repr(failure.error)
    assert failure.error.key == key
    assert re.search(message, str(failure.error)), str(failure.error)
    assert failure.declared == []


def test_the_batch_uses_no_deprecated_resource_or_property(batch_on: ProgramRun) -> None:
    assert batch_on.warnings == []


# --- the batch role's policy in moto ------------------------------------------------------------------------

TESTER = f"arn:aws:iam::{ACCOUNT_ID}:user/tester"


@dataclass
class MotoAccount:
    bucket: str
    as_batch_role: boto3.Session
    role_policy: dict


@pytest.fixture
def moto_account(batch: BatchDeployed, monkeypatch: pytest.MonkeyPatch) -> Iterator[MotoAccount]:
    """The batch role, with the program's access policy, assumed through STS with IAM enforcement on.

    moto cannot act as Step Functions, so the role is created trusting one test user instead of
    states.amazonaws.com (the real trust policy is judged by the evaluator above); what moto enforces is
    the access policy, exactly as the program emitted it.
    """
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    role_name = batch.role.state["name"]
    with mock_aws():
        with disable_iam_authentication():
            s3 = boto3.client("s3", region_name=REGION)
            for name in (batch.bucket, "another-bucket"):
                s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
            for key in (
                "datasets/birds/1.jpg",
                "cache/batch/items/0a1b.json",
                "cache/ab/cd.json",
                "reports/r",
            ):
                s3.put_object(Bucket=batch.bucket, Key=key, Body=b"data")
            s3.put_object(Bucket="another-bucket", Key="datasets/birds/1.jpg", Body=b"data")
            iam = boto3.client("iam", region_name=REGION)
            trust = {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Principal": {"AWS": TESTER}, "Action": "sts:AssumeRole"}],
            }
            role_arn = iam.create_role(RoleName=role_name, AssumeRolePolicyDocument=json.dumps(trust))[
                "Role"
            ]["Arn"]
            iam.put_role_policy(
                RoleName=role_name, PolicyName="access", PolicyDocument=json.dumps(batch.role_policy)
            )
            iam.create_user(UserName="tester")
            iam.put_user_policy(
                UserName="tester",
                PolicyName="assume",
                PolicyDocument=json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": role_arn}],
                    }
                ),
            )
            key = iam.create_access_key(UserName="tester")["AccessKey"]
        with enable_iam_authentication():
            tester = boto3.Session(
                aws_access_key_id=key["AccessKeyId"],
                aws_secret_access_key=key["SecretAccessKey"],
                region_name=REGION,
            )
            credentials = tester.client("sts").assume_role(RoleArn=role_arn, RoleSessionName="batch")[
                "Credentials"
            ]
            session = boto3.Session(
                aws_access_key_id=credentials["AccessKeyId"],
                aws_secret_access_key=credentials["SecretAccessKey"],
                aws_session_token=credentials["SessionToken"],
                region_name=REGION,
            )
            yield MotoAccount(batch.bucket, session, batch.role_policy)


def test_in_moto_the_batch_role_reads_images_and_items_and_writes_results_only(
    moto_account: MotoAccount,
) -> None:
    s3 = moto_account.as_batch_role.client("s3")
    bucket = moto_account.bucket

    assert s3.get_object(Bucket=bucket, Key="datasets/birds/1.jpg")["Body"].read() == b"data"
    assert s3.get_object(Bucket=bucket, Key="cache/batch/items/0a1b.json")["Body"].read() == b"data"
    s3.put_object(Bucket=bucket, Key="cache/batch/results/run/SUCCEEDED_0.json", Body=b"[]")
    assert denied(lambda: s3.put_object(Bucket=bucket, Key="datasets/birds/2.jpg", Body=b"x"))
    assert denied(lambda: s3.put_object(Bucket=bucket, Key="cache/ab/cd.json", Body=b"x"))
    assert denied(lambda: s3.get_object(Bucket=bucket, Key="cache/ab/cd.json"))
    assert denied(lambda: s3.get_object(Bucket=bucket, Key="reports/r"))
    assert denied(lambda: s3.get_object(Bucket="another-bucket", Key="datasets/birds/1.jpg"))
    assert denied(lambda: s3.delete_object(Bucket=bucket, Key="cache/batch/results/run/SUCCEEDED_0.json"))


def test_in_moto_the_batch_role_calls_detect_labels_and_nothing_else(moto_account: MotoAccount) -> None:
    rekognition = moto_account.as_batch_role.client("rekognition")
    image = {"S3Object": {"Bucket": moto_account.bucket, "Name": "datasets/birds/1.jpg"}}

    assert "Labels" in rekognition.detect_labels(Image=image, MinConfidence=0, MaxLabels=1000)
    assert denied(lambda: rekognition.detect_text(Image=image))
    assert denied(lambda: moto_account.as_batch_role.client("sqs").list_queues())


def test_the_evaluator_agrees_with_moto_on_the_batch_role(moto_account: MotoAccount) -> None:
    s3 = moto_account.as_batch_role.client("s3")
    bucket = moto_account.bucket
    for key in ("datasets/birds/1.jpg", "cache/batch/items/0a1b.json", "cache/ab/cd.json", "reports/r"):
        evaluator = decide(
            Request("s3:GetObject", f"arn:aws:s3:::{bucket}/{key}"), [moto_account.role_policy]
        )
        assert (evaluator == "allow") == (not denied(lambda k=key: s3.get_object(Bucket=bucket, Key=k))), key
    for key in ("cache/batch/results/a.json", "cache/batch/items/new.json", "datasets/x.jpg"):
        evaluator = decide(
            Request("s3:PutObject", f"arn:aws:s3:::{bucket}/{key}"), [moto_account.role_policy]
        )
        allowed = not denied(lambda k=key: s3.put_object(Bucket=bucket, Key=k, Body=b"x"))
        assert (evaluator == "allow") == allowed, key
