"""The evaluation bucket: datasets/, cache/ and reports/ in one private, encrypted, versioned bucket."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.policies import (
    ACCESS_LOGS_PREFIX,
    CACHE_PREFIX,
    REPORTS_PREFIX,
    access_log_bucket_policy,
    evaluation_bucket_policy,
)


@dataclass
class EvaluationBucketArgs:
    """What the bucket needs to know; the defaults are the safe choice for every option."""

    account_id: str
    kms_key_arn: str | None = None
    cache_expiry_days: int | None = None
    reports_expiry_days: int | None = None
    noncurrent_version_expiry_days: int = 30
    abort_incomplete_upload_days: int = 7
    # On by default (issue 18): who read or wrote what, in a bucket of its own.
    access_logs: bool = True
    force_destroy: bool = False


class EvaluationBucket(pulumi.ComponentResource):
    """The data bucket (and, with access logs, its log bucket), each with every protection attached.

    Unless `force_destroy` is set, the buckets *and the resources that protect them* (public access block,
    ownership, encryption, TLS-only policy, versioning, lifecycle) are retained on `pulumi destroy`: a
    kept bucket should not lose its guards while it keeps its data.
    """

    name: pulumi.Output[str]
    arn: pulumi.Output[str]
    log_bucket_name: pulumi.Output[str] | None

    def __init__(
        self, name: str, args: EvaluationBucketArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("rekognition-eval:infra:EvaluationBucket", name, None, opts)
        self._keep = not args.force_destroy

        bucket, public_access_block = self._private_bucket(
            f"{name}-data", args.kms_key_arn, args.force_destroy
        )

        versioning = aws.s3.BucketVersioning(
            f"{name}-data",
            bucket=bucket.id,
            versioning_configuration={"status": "Enabled"},
            opts=self._child(),
        )
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-data",
            bucket=bucket.id,
            rules=lifecycle_rules(args),
            # S3 rejects noncurrent-version rules on a bucket whose versioning it has not seen yet.
            opts=self._child(depends_on=[versioning]),
        )
        bucket_policy = aws.s3.BucketPolicy(
            f"{name}-data",
            bucket=bucket.id,
            policy=bucket.arn.apply(lambda arn: json.dumps(evaluation_bucket_policy(arn))),
            # A policy put while the public access block is being set can fail with a conflicting
            # operation; ordering them avoids it.
            opts=self._child(depends_on=[public_access_block]),
        )

        self.log_bucket_name = None
        if args.access_logs:
            # SSE-S3 (no KMS key): S3 server access logging only delivers to buckets encrypted with SSE-S3.
            log_bucket, log_public_access_block = self._private_bucket(
                f"{name}-access-logs", None, args.force_destroy
            )
            # Versioned, so a log object overwritten or deleted (by mistake or to hide something) can be
            # recovered until the noncurrent-version expiry removes it.
            log_versioning = aws.s3.BucketVersioning(
                f"{name}-access-logs",
                bucket=log_bucket.id,
                versioning_configuration={"status": "Enabled"},
                opts=self._child(),
            )
            aws.s3.BucketLifecycleConfiguration(
                f"{name}-access-logs",
                bucket=log_bucket.id,
                rules=housekeeping_rules(args),
                opts=self._child(depends_on=[log_versioning]),
            )
            log_policy = aws.s3.BucketPolicy(
                f"{name}-access-logs",
                bucket=log_bucket.id,
                policy=pulumi.Output.all(log_bucket.arn, bucket.arn).apply(
                    lambda arns: json.dumps(
                        access_log_bucket_policy(
                            arns[0], source_bucket_arn=arns[1], account_id=args.account_id
                        )
                    )
                ),
                opts=self._child(depends_on=[log_public_access_block]),
            )
            aws.s3.BucketLogging(
                f"{name}-data",
                bucket=bucket.id,
                target_bucket=log_bucket.id,
                target_prefix=ACCESS_LOGS_PREFIX,
                # Delivery is refused until the log bucket's policy lets the logging service write.
                opts=self._child(depends_on=[log_policy, bucket_policy]),
            )
            self.log_bucket_name = log_bucket.bucket

        self.name = bucket.bucket
        self.arn = bucket.arn
        outputs: dict[str, pulumi.Output[str]] = {"name": self.name, "arn": self.arn}
        if self.log_bucket_name is not None:
            outputs["logBucketName"] = self.log_bucket_name
        self.register_outputs(outputs)

    def _child(self, depends_on: list[pulumi.Resource] | None = None) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, retain_on_delete=self._keep, depends_on=depends_on)

    def _private_bucket(
        self, name: str, kms_key_arn: str | None, force_destroy: bool
    ) -> tuple[aws.s3.Bucket, aws.s3.BucketPublicAccessBlock]:
        """A bucket nobody outside the account can reach, with ACLs off and default encryption on."""
        bucket = aws.s3.Bucket(name, force_destroy=force_destroy, opts=self._child())
        public_access_block = aws.s3.BucketPublicAccessBlock(
            name,
            bucket=bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=self._child(),
        )
        aws.s3.BucketOwnershipControls(
            name,
            bucket=bucket.id,
            rule={"object_ownership": "BucketOwnerEnforced"},
            opts=self._child(),
        )
        aws.s3.BucketServerSideEncryptionConfiguration(
            name,
            bucket=bucket.id,
            rules=[encryption_rule(kms_key_arn)],
            opts=self._child(),
        )
        return bucket, public_access_block


def encryption_rule(kms_key_arn: str | None) -> dict[str, object]:
    """SSE-KMS with the bucket key (far fewer KMS calls, so lower cost and less throttling) or SSE-S3."""
    if kms_key_arn:
        return {
            "apply_server_side_encryption_by_default": {
                "sse_algorithm": "aws:kms",
                "kms_master_key_id": kms_key_arn,
            },
            "bucket_key_enabled": True,
        }
    return {"apply_server_side_encryption_by_default": {"sse_algorithm": "AES256"}}


def housekeeping_rules(args: EvaluationBucketArgs) -> list[dict[str, object]]:
    """What keeps a versioned bucket from growing forever: abort stale uploads, expire old versions."""
    return [
        {
            "id": "abort-incomplete-multipart-uploads",
            "status": "Enabled",
            "filter": {},
            "abort_incomplete_multipart_upload": {"days_after_initiation": args.abort_incomplete_upload_days},
        },
        {
            "id": "expire-noncurrent-versions",
            "status": "Enabled",
            "filter": {},
            "noncurrent_version_expiration": {"noncurrent_days": args.noncurrent_version_expiry_days},
            # Once the old versions are gone, the delete markers left on top of them go too.
            "expiration": {"expired_object_delete_marker": True},
        },
    ]


def lifecycle_rules(args: EvaluationBucketArgs) -> list[dict[str, object]]:
    """The data bucket's rules: housekeeping plus the optional expiries of cache/ and reports/."""
    rules = housekeeping_rules(args)
    for prefix, days in ((CACHE_PREFIX, args.cache_expiry_days), (REPORTS_PREFIX, args.reports_expiry_days)):
        if days:
            rules.append(
                {
                    "id": f"expire-{prefix.rstrip('/')}",
                    "status": "Enabled",
                    "filter": {"prefix": prefix},
                    "expiration": {"days": days},
                }
            )
    return rules
