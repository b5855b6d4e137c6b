"""Every policy document the program attaches, as pure functions of ARNs.

Keeping them free of Pulumi means the same function that feeds `pulumi up` is what the tests load into
moto and into the policy evaluator: what is tested is what is deployed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

PolicyDocument = dict[str, Any]
Statement = dict[str, Any]

POLICY_VERSION = "2012-10-17"

# The bucket's prefix layout. evaluation/stack_outputs.py repeats these (the harness never imports this
# package); a test keeps the two in step.
DATASETS_PREFIX = "datasets/"
CACHE_PREFIX = "cache/"
REPORTS_PREFIX = "reports/"
ACCESS_LOGS_PREFIX = "s3-access-logs/"

# The operations the harness calls (issues 2 and 8). They have no resource-level permissions in the
# service authorization reference, so IAM only accepts Resource "*" for them.
DETECT_ACTIONS: tuple[str, ...] = (
    "rekognition:DetectFaces",
    "rekognition:DetectLabels",
    "rekognition:DetectModerationLabels",
    "rekognition:DetectText",
)
# Custom Labels actions and the resource type each one is authorized against.
PROJECT_ACTIONS: tuple[str, ...] = ("rekognition:DescribeProjectVersions",)
# DescribeProjects has no resource type in the service authorization reference, so only "*" is accepted.
# The harness needs it to find a model version's project ARN (DescribeProjectVersions and its waiter take
# the project's ARN, whose timestamp is not the version's); it reveals project names and status only.
LIST_PROJECTS_ACTIONS: tuple[str, ...] = ("rekognition:DescribeProjects",)
PROJECT_VERSION_ACTIONS: tuple[str, ...] = (
    "rekognition:DetectCustomLabels",
    "rekognition:StartProjectVersion",
    "rekognition:StopProjectVersion",
)
KMS_ACTIONS: tuple[str, ...] = ("kms:Decrypt", "kms:GenerateDataKey")

# --- faces (issue 15) ----------------------------------------------------------------------------------
# Every face collection the harness creates is named with this prefix; the role may only use collections
# whose names start with it. Exported as the stack output `collectionPrefix`.
COLLECTION_PREFIX = "rekognition-eval-"
# Actions whose resource type is `collection` (required, or optional for the two tagging actions) in the
# service authorization reference (Amazon Rekognition, "Actions defined by"): scoped to the prefix.
# TagResource lets CreateCollection attach tags (its API reference requires it for Tags) and
# ListTagsForResource lets `faces cleanup` recognise the collections it created.
COLLECTION_ACTIONS: tuple[str, ...] = (
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
)
# CreateCollection has no resource type in the reference (only aws:RequestTag / aws:TagKeys condition
# keys), so IAM only accepts Resource "*" for it: the role can create a collection of any name, but can
# index into, search, describe or delete only prefixed ones.
CREATE_COLLECTION_ACTIONS: tuple[str, ...] = ("rekognition:CreateCollection",)
# No resource type either: CompareFaces (two images, no collection), ListCollections (the account's list)
# and GetFaceLivenessSessionResults (a session id, not an ARN).
FACE_ACTIONS_WITHOUT_RESOURCE: tuple[str, ...] = (
    "rekognition:CompareFaces",
    "rekognition:GetFaceLivenessSessionResults",
    "rekognition:ListCollections",
)

# --- stored video (issue 16) ---------------------------------------------------------------------------
REKOGNITION_SERVICE = "rekognition.amazonaws.com"
SNS_SERVICE = "sns.amazonaws.com"
# Rekognition Video's documented convention (and what AWS's AmazonRekognitionServiceRole policy allows).
VIDEO_TOPIC_PREFIX = "AmazonRekognition"
# No resource type in the reference for any of these: Resource "*".
VIDEO_ACTIONS: tuple[str, ...] = (
    "rekognition:GetContentModeration",
    "rekognition:GetLabelDetection",
    "rekognition:StartContentModeration",
    "rekognition:StartLabelDetection",
)
VIDEO_QUEUE_ACTIONS: tuple[str, ...] = ("sqs:DeleteMessage", "sqs:ReceiveMessage")

_PROJECT_ARN = re.compile(
    r"^(?P<head>arn:aws[a-z-]*:rekognition:[a-z0-9-]+:\d{12}:project/[a-zA-Z0-9_.\-]{1,255})/\d+$"
)


def document(statements: Sequence[Statement]) -> PolicyDocument:
    """A policy document around the given statements."""
    return {"Version": POLICY_VERSION, "Statement": list(statements)}


def objects_under(bucket_arn: str, prefix: str) -> str:
    """The ARN pattern of every object under one prefix of the bucket."""
    return f"{bucket_arn}/{prefix}*"


def project_version_arns(project_arn: str) -> str:
    """The ARN pattern of every model version of one Custom Labels project.

    A project ARN ends in `project/<name>/<creation timestamp>`; its versions live under
    `project/<name>/version/<version name>/<timestamp>`, so the name is what ties them together.
    """
    match = _PROJECT_ARN.match(project_arn)
    if match is None:
        raise ValueError(f"not a Rekognition project ARN (...:project/<name>/<timestamp>): {project_arn!r}")
    return f"{match['head']}/version/*"


def trust_policy(principals: Sequence[str], *, external_id: str | None = None) -> PolicyDocument:
    """Who may assume the evaluation role: exactly the configured principals, nobody else.

    With an external ID, only callers that present it (sts:AssumeRole's ExternalId) may; the settings
    require one whenever a whole account is trusted, so no default trusts an account without a condition.
    """
    if not principals:
        raise ValueError("a trust policy needs at least one principal")
    statement: Statement = {
        "Sid": "AssumeForEvaluations",
        "Effect": "Allow",
        "Principal": {"AWS": sorted(set(principals))},
        "Action": "sts:AssumeRole",
    }
    if external_id:
        statement["Condition"] = {"StringEquals": {"sts:ExternalId": external_id}}
    return document([statement])


def collection_arns(*, partition: str, region: str, account_id: str) -> str:
    """The ARN pattern of every face collection the harness may create and use: `collection/<prefix>*`."""
    return f"arn:{partition}:rekognition:{region}:{account_id}:collection/{COLLECTION_PREFIX}*"


def face_statements(collections_arn: str) -> list[Statement]:
    """What face verification, face search and liveness evaluations need (issue 15), and no more."""
    if not collections_arn.endswith(f":collection/{COLLECTION_PREFIX}*"):
        raise ValueError(
            f"face permissions are scoped to collection/{COLLECTION_PREFIX}*: {collections_arn!r}"
        )
    return [
        {
            "Sid": "UseEvaluationCollections",
            "Effect": "Allow",
            "Action": list(COLLECTION_ACTIONS),
            "Resource": [collections_arn],
        },
        {
            "Sid": "CreateCollections",
            "Effect": "Allow",
            "Action": list(CREATE_COLLECTION_ACTIONS),
            "Resource": "*",
        },
        {
            "Sid": "FaceOperationsWithoutResourceType",
            "Effect": "Allow",
            "Action": list(FACE_ACTIONS_WITHOUT_RESOURCE),
            "Resource": "*",
        },
    ]


def video_statements(*, notification_role_arn: str, queue_arn: str) -> list[Statement]:
    """What video evaluations need (issue 16): start and read jobs, hand Rekognition its publishing role
    (to Rekognition only), and read the job notifications from the queue."""
    return [
        {
            "Sid": "VideoJobs",
            "Effect": "Allow",
            "Action": list(VIDEO_ACTIONS),
            "Resource": "*",
        },
        {
            "Sid": "PassNotificationRoleToRekognition",
            "Effect": "Allow",
            "Action": ["iam:PassRole"],
            "Resource": [notification_role_arn],
            "Condition": {"StringEquals": {"iam:PassedToService": REKOGNITION_SERVICE}},
        },
        {
            "Sid": "ReadVideoNotifications",
            "Effect": "Allow",
            "Action": list(VIDEO_QUEUE_ACTIONS),
            "Resource": [queue_arn],
        },
    ]


def video_notification_trust_policy(*, account_id: str) -> PolicyDocument:
    """Only Rekognition, acting for this account, may assume the role it publishes job notifications with.

    aws:SourceAccount guards against the confused deputy: another account's Rekognition jobs cannot name
    this role in their NotificationChannel.
    """
    return document(
        [
            {
                "Sid": "AssumeForVideoNotifications",
                "Effect": "Allow",
                "Principal": {"Service": REKOGNITION_SERVICE},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
            }
        ]
    )


def video_notification_role_policy(
    topic_arn: str, *, region: str, dns_suffix: str = "amazonaws.com", kms_key_arn: str | None = None
) -> PolicyDocument:
    """Publish to the one topic; with a customer key on the topic, use that key through SNS only."""
    statements: list[Statement] = [
        {
            "Sid": "PublishJobNotifications",
            "Effect": "Allow",
            "Action": ["sns:Publish"],
            "Resource": [topic_arn],
        }
    ]
    if kms_key_arn:
        statements.append(
            {
                "Sid": "UseTopicKeyThroughSns",
                "Effect": "Allow",
                "Action": list(KMS_ACTIONS),
                "Resource": [kms_key_arn],
                "Condition": {"StringEquals": {"kms:ViaService": f"sns.{region}.{dns_suffix}"}},
            }
        )
    return document(statements)


def video_queue_policy(queue_arn: str, *, topic_arn: str) -> PolicyDocument:
    """The queue's policy: TLS only, and SNS may deliver messages from the stack's topic and no other."""
    return document(
        [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "sqs:*",
                "Resource": queue_arn,
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
            {
                "Sid": "DeliverFromTheVideoTopic",
                "Effect": "Allow",
                "Principal": {"Service": SNS_SERVICE},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}},
            },
        ]
    )


def evaluation_role_policy(
    bucket_arn: str,
    *,
    region: str,
    dns_suffix: str = "amazonaws.com",
    kms_key_arn: str | None = None,
    project_arn: str | None = None,
    batch_state_machine_arn: str | None = None,
    collections_arn: str | None = None,
    video_notification_role_arn: str | None = None,
    video_queue_arn: str | None = None,
) -> PolicyDocument:
    """What an evaluation may do, and nothing more.

    Read datasets; read and write the cache and reports; list only those prefixes; call the Detect
    operations; use the bucket's KMS key only through S3; with a Custom Labels project, run and query
    that project's models only; with the batch state machine, start and watch its executions only; with
    faces, use the harness's own collections only; with video, run video jobs, pass only the notification
    role and only to Rekognition, and read only the stack's queue. No wildcard S3 action, nothing on any
    other bucket.
    """
    statements: list[Statement] = [
        {
            "Sid": "DetectOperations",
            "Effect": "Allow",
            "Action": list(DETECT_ACTIONS),
            "Resource": "*",
        },
        {
            "Sid": "ReadDatasets",
            "Effect": "Allow",
            "Action": ["s3:GetObject"],
            "Resource": [objects_under(bucket_arn, DATASETS_PREFIX)],
        },
        {
            "Sid": "ReadWriteCacheAndReports",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:PutObject"],
            "Resource": [objects_under(bucket_arn, CACHE_PREFIX), objects_under(bucket_arn, REPORTS_PREFIX)],
        },
        {
            "Sid": "ListEvaluationPrefixes",
            "Effect": "Allow",
            "Action": ["s3:ListBucket"],
            "Resource": [bucket_arn],
            "Condition": {
                "StringLike": {
                    "s3:prefix": [f"{p}*" for p in (DATASETS_PREFIX, CACHE_PREFIX, REPORTS_PREFIX)]
                }
            },
        },
    ]
    if kms_key_arn:
        statements.append(
            {
                "Sid": "UseBucketKeyThroughS3",
                "Effect": "Allow",
                "Action": list(KMS_ACTIONS),
                "Resource": [kms_key_arn],
                # S3 calls KMS on the role's behalf (also when Rekognition reads an S3Object for it); the
                # role has no reason to use the key directly.
                "Condition": {"StringEquals": {"kms:ViaService": f"s3.{region}.{dns_suffix}"}},
            }
        )
    if project_arn:
        statements += [
            {
                "Sid": "DescribeCustomLabelsProject",
                "Effect": "Allow",
                "Action": list(PROJECT_ACTIONS),
                "Resource": [project_arn],
            },
            {
                "Sid": "RunCustomLabelsModels",
                "Effect": "Allow",
                "Action": list(PROJECT_VERSION_ACTIONS),
                "Resource": [project_version_arns(project_arn)],
            },
            {
                "Sid": "FindCustomLabelsProjects",
                "Effect": "Allow",
                "Action": list(LIST_PROJECTS_ACTIONS),
                "Resource": "*",
            },
        ]
    if batch_state_machine_arn:
        statements += batch_submitter_statements(batch_state_machine_arn)
    if collections_arn:
        statements += face_statements(collections_arn)
    if video_notification_role_arn or video_queue_arn:
        if not (video_notification_role_arn and video_queue_arn):
            raise ValueError("video permissions need both the notification role and the queue")
        statements += video_statements(
            notification_role_arn=video_notification_role_arn, queue_arn=video_queue_arn
        )
    return document(statements)


def deny_insecure_transport(bucket_arn: str) -> Statement:
    """Refuses every request to the bucket or its objects that does not come over TLS.

    `s3:*` in a Deny is the one wildcard allowed here: it closes plain HTTP for every action, including
    ones added to S3 later.
    """
    return {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [bucket_arn, f"{bucket_arn}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


def evaluation_bucket_policy(bucket_arn: str) -> PolicyDocument:
    """The data bucket's policy: TLS only.

    Nothing is granted to rekognition.amazonaws.com. AWS's Custom Labels guide ("Set up SDK permissions",
    "Policy updates for using the AWS SDK") says projects used through the SDK no longer need the service
    to be granted access to the bucket: Rekognition reads training and test images, and writes training
    output, with the permissions of the identity that calls it. A grant to the service would be access
    nobody uses.
    """
    return document([deny_insecure_transport(bucket_arn)])


def access_log_bucket_policy(
    log_bucket_arn: str, *, source_bucket_arn: str, account_id: str
) -> PolicyDocument:
    """The log bucket's policy: TLS only, and S3's log delivery may write logs of our data bucket only.

    With BucketOwnerEnforced, ACLs are off, so the delivery service is granted through the policy, limited
    by aws:SourceArn and aws:SourceAccount so no other bucket can deliver its logs here.
    """
    return document(
        [
            deny_insecure_transport(log_bucket_arn),
            {
                "Sid": "S3ServerAccessLogDelivery",
                "Effect": "Allow",
                "Principal": {"Service": "logging.s3.amazonaws.com"},
                "Action": "s3:PutObject",
                "Resource": objects_under(log_bucket_arn, ACCESS_LOGS_PREFIX),
                "Condition": {
                    "ArnLike": {"aws:SourceArn": source_bucket_arn},
                    "StringEquals": {"aws:SourceAccount": account_id},
                },
            },
        ]
    )


# --- the batch state machine (issue 9) ---------------------------------------------------------------------

STATES_SERVICE = "states.amazonaws.com"
_STATE_MACHINE_ARN = re.compile(
    r"^(?P<head>arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}):stateMachine:(?P<name>[a-zA-Z0-9_-]{1,80})$"
)


def _state_machine_parts(state_machine_arn: str) -> tuple[str, str]:
    match = _STATE_MACHINE_ARN.match(state_machine_arn)
    if match is None:
        raise ValueError(
            f"not a Step Functions state machine ARN (...:states:<region>:<account>:stateMachine:<name>): "
            f"{state_machine_arn!r}"
        )
    return match["head"], match["name"]


def executions_of(state_machine_arn: str) -> str:
    """The ARN pattern of the state machine's own executions (`execution:<name>:<execution>`)."""
    head, name = _state_machine_parts(state_machine_arn)
    return f"{head}:execution:{name}:*"


def child_executions_of(state_machine_arn: str) -> str:
    """The ARN pattern of the child executions its Distributed Map starts (`execution:<name>/<label>:...`)."""
    head, name = _state_machine_parts(state_machine_arn)
    return f"{head}:execution:{name}/*"


def map_runs_of(state_machine_arn: str) -> str:
    """The ARN pattern of its Map Runs (`mapRun:<name>/<label>:<id>`)."""
    head, name = _state_machine_parts(state_machine_arn)
    return f"{head}:mapRun:{name}/*"


def batch_submitter_statements(state_machine_arn: str) -> list[Statement]:
    """What `rekognition-eval batch submit|status|ingest` needs beyond the evaluation role's S3 access.

    Start the batch state machine; read its executions and their Map Runs (progress, and where the
    results are). Not stop, not redrive, and nothing on any other state machine.
    """
    return [
        {
            "Sid": "StartBatchEvaluations",
            "Effect": "Allow",
            "Action": ["states:StartExecution"],
            "Resource": [state_machine_arn],
        },
        {
            "Sid": "WatchBatchEvaluations",
            "Effect": "Allow",
            "Action": ["states:DescribeExecution", "states:ListMapRuns"],
            "Resource": [executions_of(state_machine_arn)],
        },
        {
            "Sid": "WatchBatchMapRuns",
            "Effect": "Allow",
            "Action": ["states:DescribeMapRun"],
            "Resource": [map_runs_of(state_machine_arn)],
        },
    ]


def batch_trust_policy(state_machine_arn: str, *, account_id: str) -> PolicyDocument:
    """Only Step Functions, acting for this account's batch state machine, may assume the batch role.

    aws:SourceAccount and aws:SourceArn guard against the confused deputy: no other account's (or other
    state machine's) executions can borrow the role. The ARN's sub-ARNs (`<name>/*`) are admitted for the
    Distributed Map's child executions, which run as `stateMachine:<name>/<label>`.
    """
    _state_machine_parts(state_machine_arn)
    return document(
        [
            {
                "Sid": "AssumeForBatchExecutions",
                "Effect": "Allow",
                "Principal": {"Service": STATES_SERVICE},
                "Action": "sts:AssumeRole",
                "Condition": {
                    "StringEquals": {"aws:SourceAccount": account_id},
                    "ArnLike": {"aws:SourceArn": [state_machine_arn, f"{state_machine_arn}/*"]},
                },
            }
        ]
    )


# Step Functions' "IAM policies for logging to CloudWatch Logs": delivery to a log group goes through
# CloudWatch Logs' vended-log delivery, whose actions IAM authorizes on Resource "*" only.
LOG_DELIVERY_ACTIONS: tuple[str, ...] = (
    "logs:CreateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:DescribeLogGroups",
    "logs:DescribeResourcePolicies",
    "logs:GetLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:UpdateLogDelivery",
)


def batch_log_delivery_policy() -> PolicyDocument:
    """What the batch state machine's role needs so Step Functions can deliver its logs, and no more.

    No logs:PutLogEvents or CreateLogStream: Step Functions writes through a log delivery, not as the role.
    """
    return document(
        [
            {
                "Sid": "DeliverStateMachineLogs",
                "Effect": "Allow",
                "Action": list(LOG_DELIVERY_ACTIONS),
                "Resource": "*",
            }
        ]
    )


def batch_role_policy(
    bucket_arn: str,
    *,
    state_machine_arn: str,
    items_prefix: str,
    results_prefix: str,
    region: str,
    dns_suffix: str = "amazonaws.com",
    kms_key_arn: str | None = None,
) -> PolicyDocument:
    """What the batch state machine's executions may do, and nothing more.

    Call DetectLabels; read images under datasets/ (Rekognition reads an S3Object with the caller's
    permissions) and the batch's item lists (ItemReader); write its results (ResultWriter, which uploads
    in parts); start, watch and stop its own child executions (Distributed Map, per AWS's "IAM policies
    for using Distributed Map states"); use the bucket's KMS key only through S3. It cannot write
    datasets/, touch the local cache's other objects or reports/, or list anything.
    """
    for prefix in (items_prefix, results_prefix):
        if not prefix.startswith(CACHE_PREFIX) or not prefix.endswith("/"):
            raise ValueError(f"batch prefixes live under {CACHE_PREFIX} and end in '/': {prefix!r}")
    statements: list[Statement] = [
        {
            "Sid": "DetectLabels",
            "Effect": "Allow",
            "Action": ["rekognition:DetectLabels"],
            "Resource": "*",
        },
        {
            "Sid": "ReadImages",
            "Effect": "Allow",
            "Action": ["s3:GetObject"],
            "Resource": [objects_under(bucket_arn, DATASETS_PREFIX)],
        },
        {
            "Sid": "ReadItemLists",
            "Effect": "Allow",
            "Action": ["s3:GetObject"],
            "Resource": [objects_under(bucket_arn, items_prefix)],
        },
        {
            "Sid": "WriteResults",
            "Effect": "Allow",
            "Action": [
                "s3:AbortMultipartUpload",
                "s3:GetObject",
                "s3:ListMultipartUploadParts",
                "s3:PutObject",
            ],
            "Resource": [objects_under(bucket_arn, results_prefix)],
        },
        {
            "Sid": "StartChildExecutions",
            "Effect": "Allow",
            "Action": ["states:StartExecution"],
            "Resource": [state_machine_arn],
        },
        {
            "Sid": "ManageChildExecutions",
            "Effect": "Allow",
            "Action": ["states:DescribeExecution", "states:StopExecution"],
            "Resource": [child_executions_of(state_machine_arn)],
        },
    ]
    if kms_key_arn:
        statements.append(
            {
                "Sid": "UseBucketKeyThroughS3",
                "Effect": "Allow",
                "Action": list(KMS_ACTIONS),
                "Resource": [kms_key_arn],
                "Condition": {"StringEquals": {"kms:ViaService": f"s3.{region}.{dns_suffix}"}},
            }
        )
    return document(statements)
