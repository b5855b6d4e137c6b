"""Batch evaluations inside AWS: a Step Functions state machine that calls DetectLabels on every image.

For millions of images the calls run next to the data, in a managed engine that bounds the concurrency,
retries throttling and records every answer in the bucket; the harness only submits item lists and
ingests the results (`rekognition-eval batch`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.batch_definition import (
    BATCH_ITEMS_PREFIX,
    BATCH_MAX_LABELS,
    BATCH_MIN_CONFIDENCE,
    BATCH_RESULTS_PREFIX,
    batch_definition,
    state_machine_arn,
)
from infra.policies import batch_log_delivery_policy, batch_role_policy, batch_trust_policy

# The prefix AWS recommends for log groups that receive vended logs: CloudWatch Logs then needs no
# resource policy entry per log group (whose size is limited).
VENDED_LOGS_PREFIX = "/aws/vendedlogs/states/"


def log_group_name_for(state_machine_name: str) -> str:
    return f"{VENDED_LOGS_PREFIX}{state_machine_name}"


@dataclass
class BatchEvaluationArgs:
    """Where the batch reads and writes, how hard it may call Rekognition, and the account it lives in."""

    bucket_name: pulumi.Input[str]
    bucket_arn: pulumi.Input[str]
    state_machine_name: str
    account_id: str
    partition: str
    region: str
    dns_suffix: str = "amazonaws.com"
    kms_key_arn: str | None = None
    max_concurrency: int = 5
    min_confidence: float = BATCH_MIN_CONFIDENCE
    max_labels: int = BATCH_MAX_LABELS
    # CloudWatch Logs: ERROR logs failed executions and errors only; execution data (image keys and
    # Rekognition answers) stays out of the logs unless asked for. OFF creates no log group.
    log_level: str = "ERROR"
    log_execution_data: bool = False
    log_retention_days: int = 30


class BatchEvaluation(pulumi.ComponentResource):
    """A Standard state machine with one Distributed Map, and the role its executions run as.

    The state machine is named, not auto-named, so its ARN is known up front: the role's policy allows
    StartExecution on exactly that ARN (Distributed Map's child executions), the trust policy admits
    Step Functions only for it, and the evaluation role may start it and nothing else.
    """

    arn: pulumi.Output[str]
    name: pulumi.Output[str]
    role_arn: pulumi.Output[str]
    log_group_name: pulumi.Output[str] | None

    def __init__(
        self, name: str, args: BatchEvaluationArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("rekognition-eval:infra:BatchEvaluation", name, None, opts)

        expected_arn = state_machine_arn(
            partition=args.partition,
            region=args.region,
            account_id=args.account_id,
            name=args.state_machine_name,
        )
        role = aws.iam.Role(
            f"{name}-batch",
            description="rekognition-eval batch executions: DetectLabels, datasets/ and cache/batch/ only.",
            assume_role_policy=json.dumps(batch_trust_policy(expected_arn, account_id=args.account_id)),
            opts=pulumi.ResourceOptions(parent=self),
        )
        access = aws.iam.RolePolicy(
            f"{name}-batch-access",
            role=role.id,
            policy=pulumi.Output.from_input(args.bucket_arn).apply(
                lambda bucket_arn: json.dumps(
                    batch_role_policy(
                        bucket_arn,
                        state_machine_arn=expected_arn,
                        items_prefix=BATCH_ITEMS_PREFIX,
                        results_prefix=BATCH_RESULTS_PREFIX,
                        region=args.region,
                        dns_suffix=args.dns_suffix,
                        kms_key_arn=args.kms_key_arn,
                    )
                )
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        permissions: list[pulumi.Resource] = [access]
        logging: dict[str, object] = {"level": "OFF"}
        self.log_group_name = None
        if args.log_level != "OFF":
            log_group = aws.cloudwatch.LogGroup(
                f"{name}-batch",
                name=log_group_name_for(args.state_machine_name),
                retention_in_days=args.log_retention_days,
                opts=pulumi.ResourceOptions(parent=self),
            )
            permissions.append(
                aws.iam.RolePolicy(
                    f"{name}-batch-logs",
                    role=role.id,
                    policy=json.dumps(batch_log_delivery_policy()),
                    opts=pulumi.ResourceOptions(parent=self),
                )
            )
            logging = {
                "level": args.log_level,
                "include_execution_data": args.log_execution_data,
                # Step Functions takes the log group's ARN with its `:*` suffix.
                "log_destination": log_group.arn.apply(lambda arn: f"{arn}:*"),
            }
            self.log_group_name = log_group.name
        definition = pulumi.Output.from_input(args.bucket_name).apply(
            lambda bucket: json.dumps(
                batch_definition(
                    bucket=bucket,
                    max_concurrency=args.max_concurrency,
                    min_confidence=args.min_confidence,
                    max_labels=args.max_labels,
                    results_prefix=BATCH_RESULTS_PREFIX,
                    partition=args.partition,
                ),
                indent=2,
            )
        )
        machine = aws.sfn.StateMachine(
            f"{name}-batch",
            name=args.state_machine_name,
            type="STANDARD",
            role_arn=role.arn,
            definition=definition,
            logging_configuration=logging,
            opts=pulumi.ResourceOptions(
                parent=self,
                # An execution started right after `pulumi up` must already have its permissions, and
                # Step Functions checks the role's log delivery permissions when logging is set.
                depends_on=permissions,
                # A fixed name cannot be created before the old one is gone.
                delete_before_replace=True,
            ),
        )

        self.arn = machine.arn
        self.name = machine.name
        self.role_arn = role.arn
        outputs: dict[str, pulumi.Output[str]] = {
            "arn": self.arn,
            "name": self.name,
            "roleArn": self.role_arn,
        }
        if self.log_group_name is not None:
            outputs["logGroupName"] = self.log_group_name
        self.register_outputs(outputs)
