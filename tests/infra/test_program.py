"""`__main__.py` under Pulumi's mocks: exactly the resources issue 3 asks for, for every configuration.

Each configuration runs the real program once (module-scoped fixtures; a run takes a fraction of a
second and shares nothing with the next). The assertions read the inputs the program sent to the engine,
so they check what `pulumi up` would send to AWS.
"""

from __future__ import annotations

import re
from collections import Counter

import pytest

from infra.config import ConfigError
from tests.infra.program import (
    ACCOUNT_ID,
    DEPLOYER,
    KEY_ARN,
    REGION,
    Declared,
    ProgramRun,
    program_error,
    run_program,
)

BUCKET = "aws:s3/bucket:Bucket"
PUBLIC_ACCESS_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
OWNERSHIP = "aws:s3/bucketOwnershipControls:BucketOwnershipControls"
ENCRYPTION = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
VERSIONING = "aws:s3/bucketVersioning:BucketVersioning"
LIFECYCLE = "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
LOGGING = "aws:s3/bucketLogging:BucketLogging"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
PROJECT = "aws:rekognition/project:Project"
BUCKET_COMPONENT = "rekognition-eval:infra:EvaluationBucket"
ROLE_COMPONENT = "rekognition-eval:infra:EvaluationRole"
PROJECT_COMPONENT = "rekognition-eval:infra:CustomLabelsProject"

PROTECTIONS = (PUBLIC_ACCESS_BLOCK, OWNERSHIP, ENCRYPTION, BUCKET_POLICY)
# Without access logs: the data bucket, its guards, the role.
BARE_TYPES = Counter(
    {
        BUCKET_COMPONENT: 1,
        ROLE_COMPONENT: 1,
        BUCKET: 1,
        PUBLIC_ACCESS_BLOCK: 1,
        OWNERSHIP: 1,
        ENCRYPTION: 1,
        VERSIONING: 1,
        LIFECYCLE: 1,
        BUCKET_POLICY: 1,
        ROLE: 1,
        ROLE_POLICY: 1,
    }
)
# Access logs are on by default (issue 18): a second bucket with the same guards, and the logging link.
LOG_BUCKET_TYPES = Counter(
    {
        BUCKET: 1,
        PUBLIC_ACCESS_BLOCK: 1,
        OWNERSHIP: 1,
        ENCRYPTION: 1,
        VERSIONING: 1,
        LIFECYCLE: 1,
        BUCKET_POLICY: 1,
        LOGGING: 1,
    }
)
DEFAULT_TYPES = BARE_TYPES + LOG_BUCKET_TYPES


@pytest.fixture(scope="module")
def default() -> ProgramRun:
    return run_program()


@pytest.fixture(scope="module")
def with_kms() -> ProgramRun:
    return run_program({"kmsKeyArn": KEY_ARN})


@pytest.fixture(scope="module")
def with_custom_labels() -> ProgramRun:
    return run_program({"customLabels": True})


@pytest.fixture(scope="module")
def with_access_logs() -> ProgramRun:
    return run_program({"accessLogs": True})


@pytest.fixture(scope="module")
def without_access_logs() -> ProgramRun:
    return run_program({"accessLogs": False})


@pytest.fixture(scope="module")
def with_force_destroy() -> ProgramRun:
    return run_program({"forceDestroy": True, "accessLogs": True})


def data_bucket(run: ProgramRun) -> Declared:
    return run.one(BUCKET, "rekognition-eval-data")


def attached(run: ProgramRun, type_: str, bucket: Declared) -> Declared:
    found = run.attached_to(type_, bucket)
    assert len(found) == 1, f"expected one {type_} on {bucket.name}, found {len(found)}"
    return found[0]


def role_statements(run: ProgramRun) -> dict[str, dict]:
    return {s["Sid"]: s for s in run.one(ROLE_POLICY).json_input("policy")["Statement"]}


# --- default configuration -------------------------------------------------------------------------------


def test_default_declares_exactly_the_buckets_their_guards_and_the_role(default: ProgramRun) -> None:
    assert Counter(r.type for r in default.resources) == DEFAULT_TYPES


def test_access_logs_are_on_by_default(default: ProgramRun) -> None:
    logs = default.one(BUCKET, "rekognition-eval-access-logs")

    assert attached(default, LOGGING, data_bucket(default)).inputs["targetBucket"] == logs.state["bucket"]
    assert default.outputs["accessLogsBucketName"] == logs.state["bucket"]


def test_every_resource_belongs_to_its_component(default: ProgramRun) -> None:
    for resource in default.resources:
        if resource.custom:
            expected = ROLE_COMPONENT if resource.type.startswith("aws:iam/") else BUCKET_COMPONENT
            assert resource.parent_type == expected, resource.name
        else:
            assert resource.parent_type == "pulumi:pulumi:Stack", resource.name


def test_bucket_blocks_all_public_access_and_disables_acls(default: ProgramRun) -> None:
    bucket = data_bucket(default)

    block = attached(default, PUBLIC_ACCESS_BLOCK, bucket).inputs
    assert (block["blockPublicAcls"], block["blockPublicPolicy"]) == (True, True)
    assert (block["ignorePublicAcls"], block["restrictPublicBuckets"]) == (True, True)
    assert attached(default, OWNERSHIP, bucket).inputs["rule"] == {"objectOwnership": "BucketOwnerEnforced"}


def test_default_encryption_is_sse_s3(default: ProgramRun) -> None:
    rules = attached(default, ENCRYPTION, data_bucket(default)).inputs["rules"]

    assert rules == [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}]


def test_versioning_is_on(default: ProgramRun) -> None:
    versioning = attached(default, VERSIONING, data_bucket(default)).inputs

    assert versioning["versioningConfiguration"] == {"status": "Enabled"}


def test_lifecycle_aborts_uploads_expires_old_versions_and_keeps_cache_and_reports(
    default: ProgramRun,
) -> None:
    lifecycle = attached(default, LIFECYCLE, data_bucket(default))
    rules = {rule["id"]: rule for rule in lifecycle.inputs["rules"]}

    assert set(rules) == {"abort-incomplete-multipart-uploads", "expire-noncurrent-versions"}
    abort = rules["abort-incomplete-multipart-uploads"]
    assert abort["status"] == "Enabled"
    assert abort["filter"] == {}
    assert abort["abortIncompleteMultipartUpload"] == {"daysAfterInitiation": 7}
    noncurrent = rules["expire-noncurrent-versions"]
    assert noncurrent["noncurrentVersionExpiration"] == {"noncurrentDays": 30}
    assert noncurrent["expiration"] == {"expiredObjectDeleteMarker": True}
    assert noncurrent["filter"] == {}
    versioning = attached(default, VERSIONING, data_bucket(default))
    assert versioning.urn in lifecycle.dependencies


def test_bucket_policy_denies_every_request_not_over_tls(default: ProgramRun) -> None:
    bucket = data_bucket(default)
    policy = attached(default, BUCKET_POLICY, bucket).json_input("policy")

    assert policy["Statement"] == [
        {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [bucket.state["arn"], f"{bucket.state['arn']}/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
    ]
    block = attached(default, PUBLIC_ACCESS_BLOCK, bucket)
    assert block.urn in attached(default, BUCKET_POLICY, bucket).dependencies


def test_bucket_and_its_guards_survive_destroy_by_default(default: ProgramRun) -> None:
    bucket = data_bucket(default)

    assert bucket.inputs["forceDestroy"] is False
    assert bucket.retain_on_delete
    for type_ in (*PROTECTIONS, VERSIONING, LIFECYCLE):
        assert attached(default, type_, bucket).retain_on_delete, type_


def test_role_is_trusted_by_the_deploying_principal_only(default: ProgramRun) -> None:
    """Issue 18: no default trusts the whole account; the IAM identity that deployed is the default."""
    role = default.one(ROLE)
    trust = role.json_input("assumeRolePolicy")

    assert trust["Statement"] == [
        {
            "Sid": "AssumeForEvaluations",
            "Effect": "Allow",
            "Principal": {"AWS": [DEPLOYER]},
            "Action": "sts:AssumeRole",
        }
    ]
    assert f"arn:aws:iam::{ACCOUNT_ID}:root" not in str(trust)
    assert "aws:iam/getSessionContext:getSessionContext" in default.invokes
    assert role.inputs["maxSessionDuration"] == 3600


def test_a_deployer_in_an_assumed_role_session_makes_the_role_behind_it_the_default() -> None:
    session = f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/AWSReservedSSO_Admin_0123/ana@example.com"
    run = run_program(deployer=session)
    trust = run.one(ROLE).json_input("assumeRolePolicy")

    assert trust["Statement"][0]["Principal"] == {
        "AWS": [
            f"arn:aws:iam::{ACCOUNT_ID}:role/aws-reserved/sso.amazonaws.com/{REGION}/AWSReservedSSO_Admin_0123"
        ]
    }


def test_deploying_as_the_account_root_without_trusted_principals_fails_before_anything_is_declared() -> None:
    failure = program_error({}, deployer=f"arn:aws:iam::{ACCOUNT_ID}:root")

    assert isinstance(failure.error, ConfigError)
    assert failure.error.key == "rekognition-eval:trustedPrincipals"
    assert failure.declared == []


def test_configured_principals_need_no_session_lookup() -> None:
    run = run_program({"trustedPrincipals": ["arn:aws:iam::111122223333:role/data-science"]})

    assert "aws:iam/getSessionContext:getSessionContext" not in run.invokes


def test_an_external_id_becomes_a_condition_of_the_trust_and_an_output() -> None:
    run = run_program({"trustedPrincipals": ["444455556666"], "externalId": "eval-7f3a"})
    trust = run.one(ROLE).json_input("assumeRolePolicy")

    assert trust["Statement"] == [
        {
            "Sid": "AssumeForEvaluations",
            "Effect": "Allow",
            "Principal": {"AWS": ["arn:aws:iam::444455556666:root"]},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"sts:ExternalId": "eval-7f3a"}},
        }
    ]
    assert run.outputs["roleExternalId"] == "eval-7f3a"


def test_role_policy_grants_exactly_the_evaluation_permissions(default: ProgramRun) -> None:
    arn = data_bucket(default).state["arn"]
    policy = default.one(ROLE_POLICY)
    statements = role_statements(default)

    assert policy.inputs["role"] == default.one(ROLE).state["name"]
    assert statements == {
        "DetectOperations": {
            "Sid": "DetectOperations",
            "Effect": "Allow",
            "Action": [
                "rekognition:DetectFaces",
                "rekognition:DetectLabels",
                "rekognition:DetectModerationLabels",
                "rekognition:DetectText",
            ],
            "Resource": "*",
        },
        "ReadDatasets": {
            "Sid": "ReadDatasets",
            "Effect": "Allow",
            "Action": ["s3:GetObject"],
            "Resource": [f"{arn}/datasets/*"],
        },
        "ReadWriteCacheAndReports": {
            "Sid": "ReadWriteCacheAndReports",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:PutObject"],
            "Resource": [f"{arn}/cache/*", f"{arn}/reports/*"],
        },
        "ListEvaluationPrefixes": {
            "Sid": "ListEvaluationPrefixes",
            "Effect": "Allow",
            "Action": ["s3:ListBucket"],
            "Resource": [arn],
            "Condition": {"StringLike": {"s3:prefix": ["datasets/*", "cache/*", "reports/*"]}},
        },
    }


def test_no_allow_has_a_wildcard_action_or_touches_another_bucket(default: ProgramRun) -> None:
    arn = data_bucket(default).state["arn"]
    for statement in role_statements(default).values():
        assert all("*" not in action for action in statement["Action"]), statement["Sid"]
        resources = (
            statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        )
        if statement["Sid"] == "DetectOperations":
            assert resources == ["*"]  # the Detect operations have no resource-level permissions
        else:
            assert all(r == arn or r.startswith(f"{arn}/") for r in resources), statement["Sid"]


def test_exports_name_the_bucket_role_region_and_log_bucket(default: ProgramRun) -> None:
    bucket = data_bucket(default)

    assert default.outputs == {
        "bucketName": bucket.state["bucket"],
        "bucketArn": bucket.state["arn"],
        "roleArn": default.one(ROLE).state["arn"],
        "region": REGION,
        "accessLogsBucketName": default.one(BUCKET, "rekognition-eval-access-logs").state["bucket"],
    }


def test_nothing_of_custom_labels_exists_when_the_flag_is_off(default: ProgramRun) -> None:
    assert default.of_type(PROJECT) == []
    assert default.of_type(PROJECT_COMPONENT) == []
    assert "projectArn" not in default.outputs
    assert not any(
        "rekognition:" in str(s) and "Project" in str(s) for s in role_statements(default).values()
    )
    assert "CustomLabels" not in str(default.one(ROLE_POLICY).inputs["policy"])


# --- options -----------------------------------------------------------------------------------------------


def test_kms_key_gives_sse_kms_with_bucket_key(with_kms: ProgramRun) -> None:
    rules = attached(with_kms, ENCRYPTION, data_bucket(with_kms)).inputs["rules"]

    assert rules == [
        {
            "applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": KEY_ARN},
            "bucketKeyEnabled": True,
        }
    ]
    assert "aws:kms/getKey:getKey" in with_kms.invokes  # the key was looked up before anything was declared


def test_kms_key_is_usable_by_the_role_only_through_s3(with_kms: ProgramRun) -> None:
    statement = role_statements(with_kms)["UseBucketKeyThroughS3"]

    assert statement == {
        "Sid": "UseBucketKeyThroughS3",
        "Effect": "Allow",
        "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
        "Resource": [KEY_ARN],
        "Condition": {"StringEquals": {"kms:ViaService": f"s3.{REGION}.amazonaws.com"}},
    }


def test_without_a_key_the_role_has_no_kms_permission(default: ProgramRun) -> None:
    assert "kms:" not in default.one(ROLE_POLICY).inputs["policy"]


def test_custom_labels_creates_one_project_in_its_component(with_custom_labels: ProgramRun) -> None:
    project = with_custom_labels.one(PROJECT)

    assert project.inputs["feature"] == "CUSTOM_LABELS"
    assert project.inputs["name"] == "rekognition-eval-dev"
    assert project.parent_type == PROJECT_COMPONENT
    assert with_custom_labels.outputs["projectArn"] == project.state["arn"]
    extra = Counter(r.type for r in with_custom_labels.resources) - DEFAULT_TYPES
    assert extra == Counter({PROJECT: 1, PROJECT_COMPONENT: 1})


def test_custom_labels_permissions_are_limited_to_the_project(with_custom_labels: ProgramRun) -> None:
    project_arn = with_custom_labels.one(PROJECT).state["arn"]
    statements = role_statements(with_custom_labels)

    assert statements["DescribeCustomLabelsProject"]["Action"] == ["rekognition:DescribeProjectVersions"]
    assert statements["DescribeCustomLabelsProject"]["Resource"] == [project_arn]
    assert statements["RunCustomLabelsModels"]["Action"] == [
        "rekognition:DetectCustomLabels",
        "rekognition:StartProjectVersion",
        "rekognition:StopProjectVersion",
    ]
    assert statements["RunCustomLabelsModels"]["Resource"] == [
        f"arn:aws:rekognition:{REGION}:{ACCOUNT_ID}:project/rekognition-eval-dev/version/*"
    ]
    # the harness finds a version's project by name (models list/start, run --start-model)
    assert statements["FindCustomLabelsProjects"] == {
        "Sid": "FindCustomLabelsProjects",
        "Effect": "Allow",
        "Action": ["rekognition:DescribeProjects"],
        "Resource": "*",
    }


def test_custom_labels_adds_no_grant_to_the_rekognition_service(
    default: ProgramRun, with_custom_labels: ProgramRun
) -> None:
    """AWS's Custom Labels guide: SDK projects need no bucket grant for the service (infra/policies.py)."""
    with_flag = attached(with_custom_labels, BUCKET_POLICY, data_bucket(with_custom_labels)).inputs["policy"]
    without = attached(default, BUCKET_POLICY, data_bucket(default)).inputs["policy"]

    assert with_flag == without
    assert "rekognition.amazonaws.com" not in with_flag


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"cacheExpiryDays": 14}, {"expire-cache": ("cache/", 14)}),
        ({"reportsExpiryDays": 365}, {"expire-reports": ("reports/", 365)}),
        (
            {"cacheExpiryDays": 7, "reportsExpiryDays": 90, "noncurrentVersionExpiryDays": 3},
            {"expire-cache": ("cache/", 7), "expire-reports": ("reports/", 90)},
        ),
    ],
)
def test_expiry_days_expire_cache_and_reports_only(config: dict, expected: dict) -> None:
    run = run_program(config)
    rules = {rule["id"]: rule for rule in attached(run, LIFECYCLE, data_bucket(run)).inputs["rules"]}

    optional = {
        k: v for k, v in rules.items() if k.startswith("expire-") and k != "expire-noncurrent-versions"
    }
    assert {k: (v["filter"]["prefix"], v["expiration"]["days"]) for k, v in optional.items()} == expected
    noncurrent_days = config.get("noncurrentVersionExpiryDays", 30)
    assert rules["expire-noncurrent-versions"]["noncurrentVersionExpiration"] == {
        "noncurrentDays": noncurrent_days
    }


def test_trusted_principals_replace_the_deployer_default() -> None:
    principals = ["arn:aws:iam::111122223333:role/data-science", "arn:aws:iam::444455556666:user/b"]
    run = run_program({"trustedPrincipals": principals})
    trust = run.one(ROLE).json_input("assumeRolePolicy")

    assert trust["Statement"][0]["Principal"] == {
        "AWS": ["arn:aws:iam::111122223333:role/data-science", "arn:aws:iam::444455556666:user/b"]
    }
    assert "Condition" not in trust["Statement"][0]
    assert DEPLOYER not in str(trust)
    assert f"arn:aws:iam::{ACCOUNT_ID}:root" not in str(trust)


def test_access_logs_go_to_a_private_encrypted_log_bucket(with_access_logs: ProgramRun) -> None:
    bucket = data_bucket(with_access_logs)
    logs = with_access_logs.one(BUCKET, "rekognition-eval-access-logs")

    block = attached(with_access_logs, PUBLIC_ACCESS_BLOCK, logs).inputs
    assert all(
        block[k]
        for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    )
    assert attached(with_access_logs, OWNERSHIP, logs).inputs["rule"] == {
        "objectOwnership": "BucketOwnerEnforced"
    }
    assert attached(with_access_logs, ENCRYPTION, logs).inputs["rules"] == [
        {"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}
    ]
    logging = attached(with_access_logs, LOGGING, bucket).inputs
    assert logging["targetBucket"] == logs.state["bucket"]
    assert logging["targetPrefix"] == "s3-access-logs/"
    assert with_access_logs.outputs["accessLogsBucketName"] == logs.state["bucket"]
    extra = Counter(r.type for r in with_access_logs.resources) - BARE_TYPES
    assert extra == LOG_BUCKET_TYPES


def test_the_log_bucket_is_versioned_and_keeps_no_old_version_forever(with_access_logs: ProgramRun) -> None:
    logs = with_access_logs.one(BUCKET, "rekognition-eval-access-logs")

    versioning = attached(with_access_logs, VERSIONING, logs)
    assert versioning.inputs["versioningConfiguration"] == {"status": "Enabled"}
    lifecycle = attached(with_access_logs, LIFECYCLE, logs)
    rules = {rule["id"]: rule for rule in lifecycle.inputs["rules"]}
    assert set(rules) == {"abort-incomplete-multipart-uploads", "expire-noncurrent-versions"}
    assert rules["expire-noncurrent-versions"]["noncurrentVersionExpiration"] == {"noncurrentDays": 30}
    assert versioning.urn in lifecycle.dependencies
    assert versioning.retain_on_delete and lifecycle.retain_on_delete


def test_log_bucket_policy_admits_log_delivery_for_our_bucket_only(with_access_logs: ProgramRun) -> None:
    bucket = data_bucket(with_access_logs)
    logs = with_access_logs.one(BUCKET, "rekognition-eval-access-logs")
    statements = attached(with_access_logs, BUCKET_POLICY, logs).json_input("policy")["Statement"]

    assert statements[0]["Sid"] == "DenyInsecureTransport"
    assert statements[0]["Resource"] == [logs.state["arn"], f"{logs.state['arn']}/*"]
    assert statements[1] == {
        "Sid": "S3ServerAccessLogDelivery",
        "Effect": "Allow",
        "Principal": {"Service": "logging.s3.amazonaws.com"},
        "Action": "s3:PutObject",
        "Resource": f"{logs.state['arn']}/s3-access-logs/*",
        "Condition": {
            "ArnLike": {"aws:SourceArn": bucket.state["arn"]},
            "StringEquals": {"aws:SourceAccount": ACCOUNT_ID},
        },
    }


def test_without_access_logs_there_is_no_log_bucket(without_access_logs: ProgramRun) -> None:
    assert [b.name for b in without_access_logs.of_type(BUCKET)] == ["rekognition-eval-data"]
    assert without_access_logs.of_type(LOGGING) == []
    assert "accessLogsBucketName" not in without_access_logs.outputs
    assert Counter(r.type for r in without_access_logs.resources) == BARE_TYPES


def test_access_logged_buckets_are_retained_too(with_access_logs: ProgramRun) -> None:
    logs = with_access_logs.one(BUCKET, "rekognition-eval-access-logs")

    assert logs.retain_on_delete
    assert all(attached(with_access_logs, t, logs).retain_on_delete for t in PROTECTIONS)


def test_force_destroy_lets_destroy_delete_the_buckets_and_their_data(with_force_destroy: ProgramRun) -> None:
    buckets = with_force_destroy.of_type(BUCKET)

    assert len(buckets) == 2
    for bucket in buckets:
        assert bucket.inputs["forceDestroy"] is True
    for resource in with_force_destroy.resources:
        assert not resource.retain_on_delete, resource.name


# --- bad configuration -------------------------------------------------------------------------------------

UNKNOWN_KEY = f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/9999abcd-12ab-34cd-56ef-1234567890ab"


@pytest.mark.parametrize(
    ("config", "key", "message"),
    [
        ({"kmsKeyArn": "alias/evaluations"}, "rekognition-eval:kmsKeyArn", r"is not a KMS key ARN"),
        (
            {"kmsKeyArn": f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:alias/evaluations"},
            "rekognition-eval:kmsKeyArn",
            r"not an alias",
        ),
        (
            {"kmsKeyArn": KEY_ARN.replace(REGION, "us-east-1")},
            "rekognition-eval:kmsKeyArn",
            r"us-east-1 but the stack deploys to aws/eu-west-1",
        ),
        (
            {"kmsKeyArn": f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/0000abcd-12ab-34cd-56ef-1234567890ab"},
            "rekognition-eval:kmsKeyArn",
            r"is PendingDeletion",
        ),
        (
            {"kmsKeyArn": f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/1111abcd-12ab-34cd-56ef-1234567890ab"},
            "rekognition-eval:kmsKeyArn",
            r"needs a symmetric encryption key",
        ),
        ({"cacheExpiryDays": -1}, "rekognition-eval:cacheExpiryDays", r">= 0 .*got -1"),
        ({"reportsExpiryDays": -30}, "rekognition-eval:reportsExpiryDays", r">= 0 .*got -30"),
        ({"noncurrentVersionExpiryDays": 0}, "rekognition-eval:noncurrentVersionExpiryDays", r">= 1; got 0"),
        ({"cacheExpiryDays": "ten"}, "rekognition-eval:cacheExpiryDays", r"whole number"),
        ({"customLabels": "yes"}, "rekognition-eval:customLabels", r"true or false"),
        ({"trustedPrincipals": ["*"]}, "rekognition-eval:trustedPrincipals[0]", r"12-digit account ID"),
        (
            {"trustedPrincipals": ["111122223333", "arn:aws:sts::111122223333:assumed-role/x/y"]},
            "rekognition-eval:trustedPrincipals[1]",
            r"IAM user, role or account-root ARN",
        ),
        (
            {"trustedPrincipals": "arn:aws:iam::111122223333:root"},
            "rekognition-eval:trustedPrincipals",
            r"list",
        ),
        ({"kmsKeyARN": KEY_ARN}, "rekognition-eval:kmsKeyARN", r"not a setting of this program"),
    ],
)
def test_bad_config_fails_naming_the_key_before_anything_is_declared(
    config: dict, key: str, message: str
) -> None:
    failure = program_error(config)

    assert isinstance(failure.error, ConfigError), repr(failure.error)
    assert failure.error.key == key
    assert str(failure.error).startswith(f"{key}: ")
    assert re.search(message, str(failure.error)), str(failure.error)
    assert failure.declared == []


def test_unknown_kms_key_fails_before_anything_is_declared_and_the_log_names_the_setting() -> None:
    """A failed provider lookup ends the run with the provider's error (Pulumi treats a failed invoke as
    fatal, with the mocks as with the real engine); the program logs which setting holds the bad ARN."""
    failure = program_error({"kmsKeyArn": UNKNOWN_KEY})

    assert "NotFoundException" in str(failure.error)
    assert failure.declared == []
    assert len(failure.logged_errors) == 1
    assert failure.logged_errors[0].startswith("rekognition-eval:kmsKeyArn: no KMS key ")
    assert UNKNOWN_KEY in failure.logged_errors[0]


def test_the_program_uses_no_deprecated_resource_or_property(
    default: ProgramRun, with_access_logs: ProgramRun
) -> None:
    """pulumi-aws reports deprecated properties through pulumi.log.warn; none may appear."""
    assert default.warnings == []
    assert with_access_logs.warnings == []
