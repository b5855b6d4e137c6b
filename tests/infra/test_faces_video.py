"""`faces: true` and `video: true` (issues 15 and 16) under Pulumi's mocks, the evaluator and moto.

Under the mocks: exactly which resources, statements and outputs each flag adds, and that nothing of it
exists when the flag is off. The evaluator (tests/infra/iam_eval.py) judges what moto cannot: Rekognition
collection ARNs in Resource, iam:PassedToService, the queue policy and the notification role's trust.

moto enforces the rest with the program's exact policies: the queue actions (moto authorizes SQS against
the queue's ARN), CompareFaces (Resource "*"), the trust policy's sts:ExternalId condition. moto authorizes
every Rekognition call against Resource "*" and implements no collection operation, so the `collections`
fixture gives moto's RekognitionResponse what AWS does: the collection's ARN as the resource (through
moto's own `_determine_resource` hook, the one its SQS and IAM responses use) and an empty answer for the
collection operations. moto's IAM enforcement then judges the role's real policy against that ARN: the
answer is not the point, the authorization is.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.core import disable_iam_authentication, enable_iam_authentication
from moto.iam.access_control import IAMPolicy, PermissionResult
from moto.rekognition.responses import RekognitionResponse

from infra.policies import COLLECTION_PREFIX
from tests.infra.program import ACCOUNT_ID, KEY_ARN, REGION, ProgramRun, run_program
from tests.support.iam_eval import Request, decide
from tests.support.moto_iam import EVALUATOR, allow_assume, denied

ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
TOPIC = "aws:sns/topic:Topic"
QUEUE = "aws:sqs/queue:Queue"
QUEUE_POLICY = "aws:sqs/queuePolicy:QueuePolicy"
SUBSCRIPTION = "aws:sns/topicSubscription:TopicSubscription"
VIDEO_COMPONENT = "rekognition-eval:infra:VideoNotifications"
COLLECTIONS = f"arn:aws:rekognition:{REGION}:{ACCOUNT_ID}:collection/"
OURS = f"{COLLECTIONS}rekognition-eval-run-20260101"
THEIRS = f"{COLLECTIONS}customers-production"
TOPIC_NAME = "AmazonRekognition-rekognition-eval-dev"
TOPIC_ARN = f"arn:aws:sns:{REGION}:{ACCOUNT_ID}:{TOPIC_NAME}"
OTHER_TOPIC = f"arn:aws:sns:{REGION}:{ACCOUNT_ID}:AmazonRekognition-someone-else"
OTHER_ROLE = f"arn:aws:iam::{ACCOUNT_ID}:role/admin"

# From the service authorization reference (Amazon Rekognition, "Actions defined by"), written out here
# independently of infra/policies.py: the face actions whose resource type is `collection`.
COLLECTION_RESOURCE_ACTIONS = {
    "AssociateFaces",
    "CreateUser",
    "DeleteCollection",
    "DeleteFaces",
    "DeleteUser",
    "DescribeCollection",
    "DisassociateFaces",
    "IndexFaces",
    "ListFaces",
    "ListTagsForResource",
    "ListUsers",
    "SearchFaces",
    "SearchFacesByImage",
    "SearchUsers",
    "SearchUsersByImage",
    "TagResource",
}


@pytest.fixture(scope="module")
def default() -> ProgramRun:
    return run_program()


@pytest.fixture(scope="module")
def faces_on() -> ProgramRun:
    return run_program({"faces": True})


@pytest.fixture(scope="module")
def video_on() -> ProgramRun:
    return run_program({"video": True})


def policy_of(run: ProgramRun) -> dict[str, Any]:
    return run.one(ROLE_POLICY, "rekognition-eval-access").json_input("policy")


def statements_of(run: ProgramRun) -> dict[str, dict[str, Any]]:
    return {s["Sid"]: s for s in policy_of(run)["Statement"]}


def as_role(run: ProgramRun, action: str, resource: str, **context: str) -> str:
    return decide(Request(action=action, resource=resource, context=context), [policy_of(run)])


# --- faces ------------------------------------------------------------------------------------------------


def test_without_faces_the_role_has_no_face_permission(default: ProgramRun) -> None:
    assert "collectionPrefix" not in default.outputs
    for action in ("IndexFaces", "CreateCollection", "CompareFaces", "GetFaceLivenessSessionResults"):
        assert as_role(default, f"rekognition:{action}", OURS) == "implicit-deny", action
        assert as_role(default, f"rekognition:{action}", "*") == "implicit-deny", action


def test_faces_adds_statements_only_and_exports_the_prefix(default: ProgramRun, faces_on: ProgramRun) -> None:
    assert Counter(r.type for r in faces_on.resources) == Counter(r.type for r in default.resources)
    assert faces_on.outputs["collectionPrefix"] == COLLECTION_PREFIX == "rekognition-eval-"


def test_faces_statements_are_exactly_these(faces_on: ProgramRun) -> None:
    statements = statements_of(faces_on)

    assert statements["UseEvaluationCollections"] == {
        "Sid": "UseEvaluationCollections",
        "Effect": "Allow",
        "Action": [
            "rekognition:AssociateFaces",
            "rekognition:CreateUser",
            "rekognition:DeleteCollection",
            "rekognition:DeleteFaces",
            "rekognition:DeleteUser",
            "rekognition:DescribeCollection",
            "rekognition:IndexFaces",
            "rekognition:ListFaces",
            "rekognition:ListTagsForResource",
            "rekognition:SearchFaces",
            "rekognition:SearchFacesByImage",
            "rekognition:SearchUsersByImage",
            "rekognition:TagResource",
        ],
        "Resource": [f"{COLLECTIONS}rekognition-eval-*"],
    }
    # No resource type in the reference: IAM accepts only "*" for these.
    assert statements["CreateCollections"]["Action"] == ["rekognition:CreateCollection"]
    assert statements["CreateCollections"]["Resource"] == "*"
    assert statements["FaceOperationsWithoutResourceType"]["Action"] == [
        "rekognition:CompareFaces",
        "rekognition:GetFaceLivenessSessionResults",
        "rekognition:ListCollections",
    ]
    assert statements["FaceOperationsWithoutResourceType"]["Resource"] == "*"
    for sid in ("UseEvaluationCollections",):
        actions = {a.split(":", 1)[1] for a in statements[sid]["Action"]}
        assert actions <= COLLECTION_RESOURCE_ACTIONS, "a '*'-only action scoped to collections never matches"


@pytest.mark.parametrize(
    "action",
    [
        "IndexFaces",
        "SearchFaces",
        "SearchFacesByImage",
        "DeleteCollection",
        "DescribeCollection",
        "ListFaces",
        "DeleteFaces",
        "AssociateFaces",
        "CreateUser",
        "DeleteUser",
        "SearchUsersByImage",
        "TagResource",
        "ListTagsForResource",
    ],
)
def test_collection_actions_reach_prefixed_collections_only(faces_on: ProgramRun, action: str) -> None:
    assert as_role(faces_on, f"rekognition:{action}", OURS) == "allow"
    assert as_role(faces_on, f"rekognition:{action}", THEIRS) == "implicit-deny"
    # The prefix is a prefix of the collection id, not anywhere in it.
    assert as_role(faces_on, f"rekognition:{action}", f"{COLLECTIONS}x-rekognition-eval-1") == "implicit-deny"
    other_region = OURS.replace(REGION, "us-east-1")
    assert as_role(faces_on, f"rekognition:{action}", other_region) == "implicit-deny"


def test_faces_grants_no_collection_action_it_does_not_need(faces_on: ProgramRun) -> None:
    for action in ("DisassociateFaces", "ListUsers", "SearchUsers", "UntagResource", "StartFaceSearch"):
        assert as_role(faces_on, f"rekognition:{action}", OURS) == "implicit-deny", action
    for action in ("CreateFaceLivenessSession", "CreateStreamProcessor", "RecognizeCelebrities"):
        assert as_role(faces_on, f"rekognition:{action}", "*") == "implicit-deny", action


# --- video: resources ---------------------------------------------------------------------------------------


def test_without_video_nothing_of_it_exists(default: ProgramRun) -> None:
    assert default.of_type(VIDEO_COMPONENT) == []
    assert default.of_type(TOPIC) == default.of_type(QUEUE) == []
    assert not {"videoTopicArn", "videoNotificationRoleArn", "videoQueueUrl"} & set(default.outputs)
    policy = json.dumps(policy_of(default))
    assert "iam:PassRole" not in policy and "sqs:" not in policy and "LabelDetection" not in policy


def test_video_adds_exactly_its_component(default: ProgramRun, video_on: ProgramRun) -> None:
    extra = Counter(r.type for r in video_on.resources) - Counter(r.type for r in default.resources)

    assert extra == Counter(
        {VIDEO_COMPONENT: 1, TOPIC: 1, QUEUE: 1, QUEUE_POLICY: 1, SUBSCRIPTION: 1, ROLE: 1, ROLE_POLICY: 1}
    )
    for resource in video_on.resources:
        if resource.name.startswith("rekognition-eval-video"):
            assert resource.parent_type == VIDEO_COMPONENT, resource.name


def test_the_topic_is_named_for_rekognition_and_encrypted(video_on: ProgramRun) -> None:
    topic = video_on.one(TOPIC)

    assert topic.inputs["name"] == TOPIC_NAME
    assert topic.inputs["name"].startswith("AmazonRekognition")
    assert topic.inputs["kmsMasterKeyId"] == "alias/aws/sns"


def test_the_queue_is_encrypted_subscribed_and_accepts_the_topic_only(video_on: ProgramRun) -> None:
    queue = video_on.one(QUEUE)
    queue_arn = queue.state["arn"]

    assert queue.inputs["sqsManagedSseEnabled"] is True
    subscription = video_on.one(SUBSCRIPTION)
    assert (subscription.inputs["topic"], subscription.inputs["protocol"]) == (TOPIC_ARN, "sqs")
    assert subscription.inputs["endpoint"] == queue_arn
    queue_policy = video_on.one(QUEUE_POLICY)
    assert queue_policy.urn in subscription.dependencies  # no message arrives before SNS may deliver it
    assert queue_policy.inputs["queueUrl"] == queue.state["url"]
    policy = queue_policy.json_input("policy")

    def deliver(principal_service: str, source_arn: str, secure: str = "true") -> str:
        request = Request(
            action="sqs:SendMessage",
            resource=queue_arn,
            principal=principal_service,
            context={"aws:SourceArn": source_arn, "aws:SecureTransport": secure},
        )
        return decide(request, resource_policies=[policy])

    assert deliver("sns.amazonaws.com", TOPIC_ARN) == "allow"
    assert deliver("sns.amazonaws.com", OTHER_TOPIC) == "implicit-deny"
    assert deliver("sns.amazonaws.com", TOPIC_ARN, secure="false") == "explicit-deny"
    assert deliver("events.amazonaws.com", TOPIC_ARN) == "implicit-deny"
    assert deliver(f"arn:aws:iam::{ACCOUNT_ID}:user/ana", TOPIC_ARN) == "implicit-deny"


def test_only_rekognition_for_this_account_may_assume_the_notification_role(video_on: ProgramRun) -> None:
    role = video_on.one(ROLE, "rekognition-eval-video-notifications")
    trust = role.json_input("assumeRolePolicy")
    statements = [{**s, "Resource": "*"} for s in trust["Statement"]]

    def assume(principal: str, source_account: str = ACCOUNT_ID) -> str:
        request = Request(
            "sts:AssumeRole", "*", principal=principal, context={"aws:SourceAccount": source_account}
        )
        return decide(request, resource_policies=[{"Statement": statements}])

    assert trust["Statement"][0]["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT_ID}}
    assert assume("rekognition.amazonaws.com") == "allow"
    assert assume("rekognition.amazonaws.com", "111122223333") == "implicit-deny"
    assert assume("sns.amazonaws.com") == "implicit-deny"
    assert assume(EVALUATOR) == "implicit-deny"


def test_the_notification_role_publishes_to_its_topic_only(video_on: ProgramRun) -> None:
    policy = video_on.one(ROLE_POLICY, "rekognition-eval-video-notifications").json_input("policy")

    assert policy["Statement"] == [
        {
            "Sid": "PublishJobNotifications",
            "Effect": "Allow",
            "Action": ["sns:Publish"],
            "Resource": [TOPIC_ARN],
        }
    ]
    assert decide(Request("sns:Publish", OTHER_TOPIC), [policy]) == "implicit-deny"


def test_with_the_stack_key_the_topic_uses_it_and_the_publisher_may_use_it_through_sns_only() -> None:
    run = run_program({"video": True, "kmsKeyArn": KEY_ARN})
    policy = run.one(ROLE_POLICY, "rekognition-eval-video-notifications").json_input("policy")

    assert run.one(TOPIC).inputs["kmsMasterKeyId"] == KEY_ARN
    assert policy["Statement"][1] == {
        "Sid": "UseTopicKeyThroughSns",
        "Effect": "Allow",
        "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
        "Resource": [KEY_ARN],
        "Condition": {"StringEquals": {"kms:ViaService": f"sns.{REGION}.amazonaws.com"}},
    }


def test_video_outputs_name_the_topic_role_and_queue(video_on: ProgramRun) -> None:
    assert video_on.outputs["videoTopicArn"] == TOPIC_ARN
    assert (
        video_on.outputs["videoNotificationRoleArn"]
        == video_on.one(ROLE, "rekognition-eval-video-notifications").state["arn"]
    )
    assert video_on.outputs["videoQueueUrl"] == video_on.one(QUEUE).state["url"]


# --- video: the evaluation role -----------------------------------------------------------------------------


def test_the_evaluation_role_passes_the_notification_role_to_rekognition_only(video_on: ProgramRun) -> None:
    notification_role = video_on.one(ROLE, "rekognition-eval-video-notifications").state["arn"]

    def pass_role(role_arn: str, service: str) -> str:
        return as_role(video_on, "iam:PassRole", role_arn, **{"iam:PassedToService": service})

    assert pass_role(notification_role, "rekognition.amazonaws.com") == "allow"
    assert pass_role(notification_role, "lambda.amazonaws.com") == "implicit-deny"
    assert pass_role(notification_role, "states.amazonaws.com") == "implicit-deny"
    assert pass_role(OTHER_ROLE, "rekognition.amazonaws.com") == "implicit-deny"
    assert pass_role(video_on.outputs["roleArn"], "rekognition.amazonaws.com") == "implicit-deny"
    # moto's own policy engine agrees: permitted for Rekognition, not for another service.
    engine = IAMPolicy(json.dumps(policy_of(video_on)))
    permitted = engine.is_action_permitted(
        "iam:PassRole", notification_role, None, {"iam:PassedToService": "rekognition.amazonaws.com"}
    )
    other = engine.is_action_permitted(
        "iam:PassRole", notification_role, None, {"iam:PassedToService": "lambda.amazonaws.com"}
    )
    assert permitted == PermissionResult.PERMITTED
    assert other != PermissionResult.PERMITTED


def test_the_evaluation_role_runs_label_and_moderation_jobs_only(video_on: ProgramRun) -> None:
    jobs = ("StartLabelDetection", "GetLabelDetection", "StartContentModeration", "GetContentModeration")
    for action in jobs:
        assert as_role(video_on, f"rekognition:{action}", "*") == "allow", action
    for action in ("StartFaceSearch", "StartCelebrityRecognition", "StartPersonTracking", "GetFaceSearch"):
        assert as_role(video_on, f"rekognition:{action}", "*") == "implicit-deny", action


def test_the_evaluation_role_reads_and_deletes_notifications_of_its_queue_only(video_on: ProgramRun) -> None:
    queue_arn = video_on.one(QUEUE).state["arn"]
    other_queue = f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:another-queue"

    assert as_role(video_on, "sqs:ReceiveMessage", queue_arn) == "allow"
    assert as_role(video_on, "sqs:DeleteMessage", queue_arn) == "allow"
    assert as_role(video_on, "sqs:ReceiveMessage", other_queue) == "implicit-deny"
    for action in ("sqs:SendMessage", "sqs:PurgeQueue", "sqs:SetQueueAttributes", "sqs:DeleteQueue"):
        assert as_role(video_on, action, queue_arn) == "implicit-deny", action
    assert as_role(video_on, "sns:Publish", TOPIC_ARN) == "implicit-deny"


# --- moto ---------------------------------------------------------------------------------------------------


def _collection_resource(self: RekognitionResponse) -> str:
    """What AWS authorizes a Rekognition face call against: the collection's ARN, or "*" without one."""
    action = self._get_action()
    collection_id = self._get_param("CollectionId")
    if action in COLLECTION_RESOURCE_ACTIONS and collection_id:
        return f"arn:aws:rekognition:{self.region}:{self.current_account}:collection/{collection_id}"
    if action in COLLECTION_RESOURCE_ACTIONS and self._get_param("ResourceArn"):
        return self._get_param("ResourceArn")
    return "*"


@pytest.fixture
def collections(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto's Rekognition, authorizing face calls on the collection's ARN and answering `{}` to them."""
    monkeypatch.setattr(RekognitionResponse, "_determine_resource", _collection_resource, raising=False)
    for action in (
        "create_collection",
        "index_faces",
        "delete_collection",
        "search_faces_by_image",
        "list_collections",
        "get_face_liveness_session_results",
    ):
        monkeypatch.setattr(RekognitionResponse, action, lambda self: "{}", raising=False)


@dataclass
class Deployed:
    """The stack's evaluation role (and, with video, its topic and queue) in moto, with sessions."""

    run: ProgramRun
    iam: Any
    role_arn: str
    users: dict[str, boto3.Session]
    queue_url: str | None = None

    def assume(self, user: str = "evaluator", **extra: str) -> boto3.Session:
        credentials = (
            self.users[user]
            .client("sts")
            .assume_role(RoleArn=self.role_arn, RoleSessionName="evaluation", **extra)["Credentials"]
        )
        return boto3.Session(
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
            region_name=REGION,
        )


@pytest.fixture(scope="module")
def everything() -> ProgramRun:
    """Faces, video and an external ID, trusting one IAM user (moto compares principal ARNs literally)."""
    return run_program(
        {"trustedPrincipals": [EVALUATOR], "externalId": "eval-7f3a", "faces": True, "video": True}
    )


@pytest.fixture
def moto_account(everything: ProgramRun, monkeypatch: pytest.MonkeyPatch) -> Iterator[Deployed]:
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    role = everything.one(ROLE, "rekognition-eval")
    with mock_aws():
        with disable_iam_authentication():
            iam = boto3.client("iam", region_name=REGION)
            iam.create_role(
                RoleName=role.state["name"], AssumeRolePolicyDocument=role.inputs["assumeRolePolicy"]
            )
            iam.put_role_policy(
                RoleName=role.state["name"],
                PolicyName="access",
                PolicyDocument=json.dumps(policy_of(everything)),
            )
            role_arn = everything.outputs["roleArn"]
            users = {name: allow_assume(iam, name, role_arn) for name in ("evaluator", "outsider")}
            sns = boto3.client("sns", region_name=REGION)
            sqs = boto3.client("sqs", region_name=REGION)
            topic_arn = sns.create_topic(Name=TOPIC_NAME)["TopicArn"]
            queue = everything.one(QUEUE)
            queue_url = sqs.create_queue(QueueName=queue.state["name"])["QueueUrl"]
            sqs.create_queue(QueueName="another-queue")
            sns.subscribe(
                TopicArn=topic_arn,
                Protocol="sqs",
                Endpoint=queue.state["arn"],
                Attributes={"RawMessageDelivery": "true"},
            )
            sns.publish(TopicArn=topic_arn, Message=json.dumps({"JobId": "1a2b", "Status": "SUCCEEDED"}))
            other_url = sqs.get_queue_url(QueueName="another-queue")["QueueUrl"]
            sqs.send_message(QueueUrl=other_url, MessageBody="x")
        with enable_iam_authentication():
            yield Deployed(everything, iam, role_arn, users, queue_url)


def test_in_moto_the_role_is_assumed_only_with_the_external_id(moto_account: Deployed) -> None:
    """moto checks a StringEquals condition on sts:ExternalId when the request carries one, but lets a
    request without it through (AWS refuses it: a missing key fails StringEquals). That case is judged
    by the evaluator in test_policies.py (test_a_trusted_account_must_present_the_external_id)."""
    evaluator = moto_account.users["evaluator"].client("sts")

    assert denied(
        lambda: evaluator.assume_role(
            RoleArn=moto_account.role_arn, RoleSessionName="session", ExternalId="guess"
        )
    )
    assert denied(lambda: moto_account.assume("outsider", ExternalId="eval-7f3a"))
    identity = moto_account.assume(ExternalId="eval-7f3a").client("sts").get_caller_identity()
    assert identity["Arn"].startswith(f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/")


def test_in_moto_the_role_uses_prefixed_collections_only(moto_account: Deployed, collections: None) -> None:
    rekognition = moto_account.assume(ExternalId="eval-7f3a").client("rekognition")
    image = {"Bytes": b"\xff\xd8\xff"}

    rekognition.create_collection(CollectionId="rekognition-eval-run-1")
    rekognition.index_faces(CollectionId="rekognition-eval-run-1", Image=image, MaxFaces=1)
    rekognition.search_faces_by_image(
        CollectionId="rekognition-eval-run-1", Image=image, FaceMatchThreshold=0
    )
    rekognition.delete_collection(CollectionId="rekognition-eval-run-1")
    rekognition.list_collections()
    rekognition.get_face_liveness_session_results(SessionId="0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0")
    assert denied(lambda: rekognition.index_faces(CollectionId="customers-production", Image=image))
    assert denied(lambda: rekognition.search_faces_by_image(CollectionId="customers-production", Image=image))
    assert denied(lambda: rekognition.delete_collection(CollectionId="customers-production"))
    assert denied(lambda: rekognition.index_faces(CollectionId="x-rekognition-eval-1", Image=image))


def test_in_moto_compare_faces_is_allowed_with_faces(moto_account: Deployed) -> None:
    """CompareFaces has no resource type; moto implements it and authorizes it on "*"."""
    rekognition = moto_account.assume(ExternalId="eval-7f3a").client("rekognition")
    image = {"Bytes": b"\xff\xd8\xff"}

    assert "FaceMatches" in rekognition.compare_faces(SourceImage=image, TargetImage=image)


def test_in_moto_the_role_reads_and_deletes_its_queue_s_notifications_only(moto_account: Deployed) -> None:
    sqs = moto_account.assume(ExternalId="eval-7f3a").client("sqs")
    other = moto_account.queue_url.rsplit("/", 1)[0] + "/another-queue"

    messages = sqs.receive_message(QueueUrl=moto_account.queue_url, WaitTimeSeconds=0)["Messages"]
    assert json.loads(messages[0]["Body"]) == {"JobId": "1a2b", "Status": "SUCCEEDED"}
    sqs.delete_message(QueueUrl=moto_account.queue_url, ReceiptHandle=messages[0]["ReceiptHandle"])
    assert denied(lambda: sqs.receive_message(QueueUrl=other))
    assert denied(lambda: sqs.send_message(QueueUrl=moto_account.queue_url, MessageBody="forged"))
    assert denied(lambda: sqs.purge_queue(QueueUrl=moto_account.queue_url))


# --- the harness reads these outputs (evaluation/aws/stack_outputs.py) ----------------------------------


def test_every_output_the_program_exports_has_the_harness_s_name(everything: ProgramRun) -> None:
    from evaluation.aws import stack_outputs

    names = {
        value
        for key, value in vars(stack_outputs).items()
        if key.isupper() and isinstance(value, str) and not value.endswith("/")
    }
    batch_and_project = run_program({"batch": True, "customLabels": True}).outputs

    assert set(everything.outputs) | set(batch_and_project) <= names
    assert everything.outputs[stack_outputs.COLLECTION_PREFIX] == "rekognition-eval-"
    assert everything.outputs[stack_outputs.ROLE_EXTERNAL_ID] == "eval-7f3a"
    assert everything.outputs[stack_outputs.VIDEO_TOPIC_ARN] == TOPIC_ARN


def test_the_harness_assumes_the_role_with_the_external_id_from_the_outputs(
    moto_account: Deployed, everything: ProgramRun
) -> None:
    from evaluation.aws.stack_outputs import assume_role_session, parse_stack_outputs
    from evaluation.errors import UserError

    outputs = parse_stack_outputs(json.loads(json.dumps(everything.outputs)))
    assert outputs.role_external_id == "eval-7f3a"

    session = assume_role_session(outputs, base_session=moto_account.users["evaluator"])
    assert ":assumed-role/" in session.client("sts").get_caller_identity()["Arn"]
    wrong = parse_stack_outputs({**everything.outputs, "roleExternalId": "guess"})
    with pytest.raises(UserError, match="cannot assume role"):
        assume_role_session(wrong, base_session=moto_account.users["evaluator"])
