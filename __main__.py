"""rekognition-eval's AWS side: a bucket for datasets, cache and reports, and a role for evaluations.

Reads top to bottom: configuration (validated before anything is declared), resources, exports. The
exports are what `pulumi stack output --json > outputs.json` writes and `rekognition-eval run
--stack-outputs outputs.json` reads. docs/infrastructure.md explains every setting.
"""

import pulumi

from infra.batch import BatchEvaluation, BatchEvaluationArgs
from infra.batch_definition import state_machine_name_for
from infra.bucket import EvaluationBucket, EvaluationBucketArgs
from infra.config import load_settings
from infra.custom_labels import CustomLabelsProject, CustomLabelsProjectArgs, project_name_for
from infra.policies import COLLECTION_PREFIX, collection_arns
from infra.role import EvaluationRole, EvaluationRoleArgs
from infra.video import VideoNotifications, VideoNotificationsArgs, topic_name_for

# Configuration
settings = load_settings()

# Resources
bucket = EvaluationBucket(
    "rekognition-eval",
    EvaluationBucketArgs(
        account_id=settings.account_id,
        kms_key_arn=settings.kms_key_arn,
        cache_expiry_days=settings.cache_expiry_days,
        reports_expiry_days=settings.reports_expiry_days,
        noncurrent_version_expiry_days=settings.noncurrent_version_expiry_days,
        access_logs=settings.access_logs,
        force_destroy=settings.force_destroy,
    ),
)

project = (
    CustomLabelsProject(
        "rekognition-eval",
        CustomLabelsProjectArgs(project_name=project_name_for(pulumi.get_project(), pulumi.get_stack())),
    )
    if settings.custom_labels
    else None
)

batch = (
    BatchEvaluation(
        "rekognition-eval",
        BatchEvaluationArgs(
            bucket_name=bucket.name,
            bucket_arn=bucket.arn,
            state_machine_name=state_machine_name_for(pulumi.get_project(), pulumi.get_stack()),
            account_id=settings.account_id,
            partition=settings.partition,
            region=settings.region,
            dns_suffix=settings.dns_suffix,
            kms_key_arn=settings.kms_key_arn,
            max_concurrency=settings.batch_max_concurrency,
            log_level=settings.batch_log_level,
            log_execution_data=settings.batch_log_execution_data,
        ),
    )
    if settings.batch
    else None
)

video = (
    VideoNotifications(
        "rekognition-eval",
        VideoNotificationsArgs(
            topic_name=topic_name_for(pulumi.get_project(), pulumi.get_stack()),
            account_id=settings.account_id,
            region=settings.region,
            dns_suffix=settings.dns_suffix,
            kms_key_arn=settings.kms_key_arn,
        ),
    )
    if settings.video
    else None
)

role = EvaluationRole(
    "rekognition-eval",
    EvaluationRoleArgs(
        bucket_arn=bucket.arn,
        trusted_principals=settings.trusted_principals,
        region=settings.region,
        dns_suffix=settings.dns_suffix,
        kms_key_arn=settings.kms_key_arn,
        project_arn=project.arn if project is not None else None,
        batch_state_machine_arn=batch.arn if batch is not None else None,
        external_id=settings.external_id,
        collections_arn=(
            collection_arns(
                partition=settings.partition, region=settings.region, account_id=settings.account_id
            )
            if settings.faces
            else None
        ),
        video_notification_role_arn=video.role_arn if video is not None else None,
        video_queue_arn=video.queue_arn if video is not None else None,
    ),
)

# Exports
pulumi.export("bucketName", bucket.name)
pulumi.export("bucketArn", bucket.arn)
pulumi.export("roleArn", role.arn)
pulumi.export("region", settings.region)
if project is not None:
    pulumi.export("projectArn", project.arn)
if batch is not None:
    pulumi.export("stateMachineArn", batch.arn)
if batch is not None and batch.log_group_name is not None:
    pulumi.export("stateMachineLogGroupName", batch.log_group_name)
if bucket.log_bucket_name is not None:
    pulumi.export("accessLogsBucketName", bucket.log_bucket_name)
if settings.external_id is not None:
    # Not a secret (AWS: an external ID guards against the confused deputy, it is not a password); the
    # harness passes it to sts:AssumeRole.
    pulumi.export("roleExternalId", settings.external_id)
if settings.faces:
    pulumi.export("collectionPrefix", COLLECTION_PREFIX)
if video is not None:
    pulumi.export("videoTopicArn", video.topic_arn)
    pulumi.export("videoNotificationRoleArn", video.role_arn)
    pulumi.export("videoQueueUrl", video.queue_url)
