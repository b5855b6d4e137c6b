"""What Rekognition Video's asynchronous jobs need to tell the harness they are done (issue 16).

StartLabelDetection and StartContentModeration take a NotificationChannel: an SNS topic and a role that
Rekognition assumes to publish to it. The topic delivers to an SQS queue the harness reads, so a run waits
on messages instead of polling every job. Everything is encrypted; the queue accepts messages from this
topic only; the role may publish to this topic only and only Rekognition, for this account, may assume it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.policies import (
    VIDEO_TOPIC_PREFIX,
    video_notification_role_policy,
    video_notification_trust_policy,
    video_queue_policy,
)

# SNS's AWS managed key: usable by every principal of the account through SNS, so Rekognition's publishing
# role needs no KMS grant of its own.
SNS_MANAGED_KEY = "alias/aws/sns"
_NOT_ALLOWED_IN_TOPIC_NAME = re.compile(r"[^A-Za-z0-9_-]+")


def topic_name_for(project: str, stack: str) -> str:
    """`AmazonRekognition-<project>-<stack>`: SNS accepts [A-Za-z0-9_-]{1,256}, and Rekognition Video's
    guide names topics `AmazonRekognition...` (what AmazonRekognitionServiceRole's policy allows)."""
    name = _NOT_ALLOWED_IN_TOPIC_NAME.sub("-", f"{VIDEO_TOPIC_PREFIX}-{project}-{stack}").strip("-")
    return name[:256]


@dataclass
class VideoNotificationsArgs:
    """The account the role is confined to, and the key for the topic (the stack's key, or SNS's own)."""

    topic_name: str
    account_id: str
    region: str
    dns_suffix: str = "amazonaws.com"
    kms_key_arn: str | None = None
    # How long an unread notification waits in the queue. A job's results are kept 7 days, so a
    # notification older than that is useless anyway.
    message_retention_seconds: int = 4 * 24 * 3600


class VideoNotifications(pulumi.ComponentResource):
    """The topic, the queue subscribed to it, the queue's policy, and the role Rekognition publishes with."""

    topic_arn: pulumi.Output[str]
    queue_url: pulumi.Output[str]
    queue_arn: pulumi.Output[str]
    role_arn: pulumi.Output[str]

    def __init__(
        self, name: str, args: VideoNotificationsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("rekognition-eval:infra:VideoNotifications", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        topic = aws.sns.Topic(
            f"{name}-video",
            name=args.topic_name,
            kms_master_key_id=args.kms_key_arn or SNS_MANAGED_KEY,
            # A fixed name cannot be created before the old one is gone.
            opts=pulumi.ResourceOptions(parent=self, delete_before_replace=True),
        )
        # SSE-SQS: encrypted at rest with keys SQS manages, which SNS can deliver to without a key grant
        # (an SQS queue under the AWS managed KMS key would refuse SNS's messages).
        queue = aws.sqs.Queue(
            f"{name}-video",
            sqs_managed_sse_enabled=True,
            message_retention_seconds=args.message_retention_seconds,
            opts=child,
        )
        queue_policy = aws.sqs.QueuePolicy(
            f"{name}-video",
            queue_url=queue.url,
            policy=pulumi.Output.all(queue.arn, topic.arn).apply(
                lambda arns: json.dumps(video_queue_policy(arns[0], topic_arn=arns[1]))
            ),
            opts=child,
        )
        aws.sns.TopicSubscription(
            f"{name}-video",
            topic=topic.arn,
            protocol="sqs",
            endpoint=queue.arn,
            # Messages published before the queue accepts them would be lost.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[queue_policy]),
        )
        role = aws.iam.Role(
            f"{name}-video-notifications",
            description="Rekognition Video publishes job notifications to rekognition-eval's topic with it.",
            assume_role_policy=json.dumps(video_notification_trust_policy(account_id=args.account_id)),
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{name}-video-notifications",
            role=role.id,
            policy=topic.arn.apply(
                lambda topic_arn: json.dumps(
                    video_notification_role_policy(
                        topic_arn,
                        region=args.region,
                        dns_suffix=args.dns_suffix,
                        kms_key_arn=args.kms_key_arn,
                    )
                )
            ),
            opts=child,
        )

        self.topic_arn = topic.arn
        self.queue_url = queue.url
        self.queue_arn = queue.arn
        self.role_arn = role.arn
        self.register_outputs(
            {"topicArn": self.topic_arn, "queueUrl": self.queue_url, "roleArn": self.role_arn}
        )
