"""The role an evaluation runs as: Detect operations, its own prefixes of the bucket, nothing else."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.policies import evaluation_role_policy, trust_policy


@dataclass
class EvaluationRoleArgs:
    """The ARNs the role's policies are written against."""

    bucket_arn: pulumi.Input[str]
    trusted_principals: Sequence[str]
    region: str
    dns_suffix: str = "amazonaws.com"
    kms_key_arn: str | None = None
    project_arn: pulumi.Input[str] | None = None
    # The batch state machine (config `batch`), which the role may start and watch.
    batch_state_machine_arn: pulumi.Input[str] | None = None
    # An sts:ExternalId every caller must present (config `externalId`).
    external_id: str | None = None
    # The ARN pattern of the harness's face collections (config `faces`).
    collections_arn: str | None = None
    # The role Rekognition Video publishes with, and the queue its notifications land in (config `video`).
    video_notification_role_arn: pulumi.Input[str] | None = None
    video_queue_arn: pulumi.Input[str] | None = None
    # One hour: long enough for a batch of calls, short enough that leaked credentials expire soon. The
    # harness refreshes its credentials, so long runs do not need more.
    max_session_duration: int = 3600


class EvaluationRole(pulumi.ComponentResource):
    """An IAM role with one inline policy, so the policy lives and dies with the role."""

    arn: pulumi.Output[str]
    name: pulumi.Output[str]

    def __init__(
        self, name: str, args: EvaluationRoleArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("rekognition-eval:infra:EvaluationRole", name, None, opts)

        role = aws.iam.Role(
            name,
            description="rekognition-eval evaluations: Rekognition Detect calls, its bucket prefixes only.",
            assume_role_policy=json.dumps(
                trust_policy(args.trusted_principals, external_id=args.external_id)
            ),
            max_session_duration=args.max_session_duration,
            opts=pulumi.ResourceOptions(parent=self),
        )
        policy = pulumi.Output.all(
            args.bucket_arn,
            args.project_arn,
            args.batch_state_machine_arn,
            args.video_notification_role_arn,
            args.video_queue_arn,
        ).apply(
            lambda arns: json.dumps(
                evaluation_role_policy(
                    arns[0],
                    region=args.region,
                    dns_suffix=args.dns_suffix,
                    kms_key_arn=args.kms_key_arn,
                    project_arn=arns[1],
                    batch_state_machine_arn=arns[2],
                    collections_arn=args.collections_arn,
                    video_notification_role_arn=arns[3],
                    video_queue_arn=arns[4],
                )
            )
        )
        aws.iam.RolePolicy(
            f"{name}-access",
            role=role.id,
            policy=policy,
            opts=pulumi.ResourceOptions(parent=self),
        )

        self.arn = role.arn
        self.name = role.name
        self.register_outputs({"arn": self.arn, "name": self.name})
