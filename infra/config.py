"""The stack's configuration: declared once, parsed strictly, every error naming its key.

`parse_settings` is pure (strings in, `Settings` out) so every rule is unit-tested without Pulumi's
engine; `load_settings` is the thin part that asks Pulumi and AWS for the inputs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import pulumi

PROJECT = "rekognition-eval"

ConfigType = Literal["string", "boolean", "integer", "array"]


@dataclass(frozen=True)
class ConfigKey:
    """One setting as Pulumi.yaml declares it; a test keeps Pulumi.yaml and this table identical."""

    name: str
    type: ConfigType
    default: str | bool | int | list[str]
    description: str


KMS_KEY_ARN = "kmsKeyArn"
CUSTOM_LABELS = "customLabels"
CACHE_EXPIRY_DAYS = "cacheExpiryDays"
REPORTS_EXPIRY_DAYS = "reportsExpiryDays"
NONCURRENT_VERSION_EXPIRY_DAYS = "noncurrentVersionExpiryDays"
TRUSTED_PRINCIPALS = "trustedPrincipals"
ACCESS_LOGS = "accessLogs"
FORCE_DESTROY = "forceDestroy"
BATCH = "batch"
BATCH_MAX_CONCURRENCY = "batchMaxConcurrency"
BATCH_LOG_LEVEL = "batchLogLevel"
BATCH_LOG_EXECUTION_DATA = "batchLogExecutionData"
EXTERNAL_ID = "externalId"
FACES = "faces"
VIDEO = "video"
# Step Functions' log levels (LoggingConfiguration.Level); OFF turns logging to CloudWatch Logs off.
BATCH_LOG_LEVELS = ("ALL", "ERROR", "FATAL", "OFF")
# Distributed Map's ceiling on child executions at once (infra/batch_definition.py says the same).
BATCH_MAX_CONCURRENCY_LIMIT = 10_000

CONFIG_KEYS: tuple[ConfigKey, ...] = (
    ConfigKey(
        KMS_KEY_ARN,
        "string",
        "",
        "ARN of a symmetric KMS key in the stack's region for the bucket's default encryption (SSE-KMS, "
        "bucket key on). Empty: SSE-S3.",
    ),
    ConfigKey(
        CUSTOM_LABELS,
        "boolean",
        False,
        "Create a Rekognition Custom Labels project and let the role run and query its models.",
    ),
    ConfigKey(
        CACHE_EXPIRY_DAYS,
        "integer",
        0,
        "Delete objects under cache/ this many days after they are written. 0 keeps them.",
    ),
    ConfigKey(
        REPORTS_EXPIRY_DAYS,
        "integer",
        0,
        "Delete objects under reports/ this many days after they are written. 0 keeps them.",
    ),
    ConfigKey(
        NONCURRENT_VERSION_EXPIRY_DAYS,
        "integer",
        30,
        "Delete overwritten or deleted object versions this many days after they stop being current.",
    ),
    ConfigKey(
        TRUSTED_PRINCIPALS,
        "array",
        [],
        "IAM user or role ARNs (or 12-digit account IDs, which need externalId) allowed to assume the "
        "evaluation role. Empty: the IAM user or role that runs `pulumi up`, never the whole account.",
    ),
    ConfigKey(
        EXTERNAL_ID,
        "string",
        "",
        "An sts:ExternalId the trusted principals must present to assume the evaluation role (2 to 1224 "
        "letters, digits and _+=,.@:/-); the harness reads it from the stack outputs. Required when "
        "trustedPrincipals names a whole account. Empty: no ExternalId condition.",
    ),
    ConfigKey(
        ACCESS_LOGS,
        "boolean",
        True,
        "Write S3 server access logs of the bucket to a separate private, encrypted, versioned log bucket.",
    ),
    ConfigKey(
        FORCE_DESTROY,
        "boolean",
        False,
        "Let `pulumi destroy` delete the buckets with everything in them. Off: the buckets and their "
        "data are kept.",
    ),
    ConfigKey(
        BATCH,
        "boolean",
        False,
        "Create a Step Functions state machine that runs DetectLabels on every image of a dataset inside "
        "AWS (Distributed Map), writing the answers under cache/batch/, and let the role start and watch it.",
    ),
    ConfigKey(
        BATCH_MAX_CONCURRENCY,
        "integer",
        5,
        "Most DetectLabels calls a batch makes at once (Distributed Map MaxConcurrency, 1-10000). Keep it "
        "near the account's DetectLabels TPS quota times the seconds one call takes; 5 is the smallest "
        "default quota.",
    ),
    ConfigKey(
        BATCH_LOG_LEVEL,
        "string",
        "ERROR",
        "What the batch state machine logs to CloudWatch Logs: ALL, ERROR, FATAL or OFF.",
    ),
    ConfigKey(
        BATCH_LOG_EXECUTION_DATA,
        "boolean",
        False,
        "Include execution input and output (image keys and Rekognition answers) in the batch state "
        "machine's logs.",
    ),
    ConfigKey(
        FACES,
        "boolean",
        False,
        "Let the evaluation role run face verification, face search and liveness evaluations: face "
        "collections named with the harness's prefix (stack output collectionPrefix), CompareFaces and "
        "GetFaceLivenessSessionResults.",
    ),
    ConfigKey(
        VIDEO,
        "boolean",
        False,
        "Create what Rekognition Video's asynchronous jobs need (an encrypted SNS topic, an encrypted SQS "
        "queue subscribed to it, the role Rekognition publishes with) and let the evaluation role start "
        "and read label detection and content moderation jobs.",
    ),
)

_KNOWN = {key.name: key for key in CONFIG_KEYS}

_KMS_KEY_ARN = re.compile(
    r"^arn:(?P<partition>aws[a-z-]*):kms:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):key/"
    r"(?:mrk-[0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$"
)
_KMS_ALIAS_ARN = re.compile(r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:alias/")
_ACCOUNT_ID = re.compile(r"^\d{12}$")
_ACCOUNT_ROOT = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:root$")
# sts:AssumeRole's ExternalId: 2-1224 characters of [\w+=,.@:/-] (STS API reference).
_EXTERNAL_ID = re.compile(r"^[\w+=,.@:/-]{2,1224}$")
_IAM_PRINCIPAL_ARN = re.compile(
    r"^arn:(?P<partition>aws[a-z-]*):iam::\d{12}:(?:root|(?:user|role)/[\w+=,.@/-]+)$"
)


class ConfigError(pulumi.RunError):
    """A bad setting. A RunError, so `pulumi up` prints the one-line message without a traceback."""

    def __init__(self, key: str, message: str) -> None:
        self.key = key
        super().__init__(f"{key}: {message}")


@dataclass(frozen=True)
class Settings:
    """Validated settings plus the facts about the target account that the policies need."""

    account_id: str
    partition: str
    region: str
    dns_suffix: str
    kms_key_arn: str | None
    custom_labels: bool
    cache_expiry_days: int | None
    reports_expiry_days: int | None
    noncurrent_version_expiry_days: int
    trusted_principals: tuple[str, ...]
    access_logs: bool
    force_destroy: bool
    batch: bool = False
    batch_max_concurrency: int = 5
    batch_log_level: str = "ERROR"
    batch_log_execution_data: bool = False
    external_id: str | None = None
    faces: bool = False
    video: bool = False


def qualified(name: str) -> str:
    """The key as the user types it in `pulumi config set`."""
    return f"{PROJECT}:{name}"


def parse_settings(
    raw: Mapping[str, str],
    *,
    account_id: str,
    partition: str,
    region: str,
    dns_suffix: str = "amazonaws.com",
    deployer_arn: str | None = None,
) -> Settings:
    """Turn the project's config values (as Pulumi hands them over: strings, JSON for arrays) into Settings.

    Unknown keys are refused: a misspelt `kmsKeyARN` would otherwise leave the bucket on SSE-S3 without a
    word. `deployer_arn` is the IAM identity running `pulumi up` (the role behind an assumed-role
    session); without trustedPrincipals the evaluation role trusts it, and nobody else.
    """
    unknown = sorted(set(raw) - set(_KNOWN))
    if unknown:
        known = ", ".join(sorted(_KNOWN))
        raise ConfigError(qualified(unknown[0]), f"is not a setting of this program (known: {known})")

    def value(name: str) -> Any:
        key = _KNOWN[name]
        text = raw.get(name)
        if text is None:
            return key.default
        return _parse_typed(qualified(name), key.type, text)

    cache_days = _days(CACHE_EXPIRY_DAYS, value(CACHE_EXPIRY_DAYS), minimum=0)
    reports_days = _days(REPORTS_EXPIRY_DAYS, value(REPORTS_EXPIRY_DAYS), minimum=0)
    principals = tuple(_principal(i, p, partition) for i, p in enumerate(value(TRUSTED_PRINCIPALS)))
    external_id = _external_id(value(EXTERNAL_ID))
    if not principals:
        principals = (_deploying_principal(deployer_arn, account_id=account_id, partition=partition),)
    whole_accounts = [p for p in principals if _ACCOUNT_ROOT.match(p)]
    if whole_accounts and external_id is None:
        raise ConfigError(
            qualified(TRUSTED_PRINCIPALS),
            f"{whole_accounts[0]} lets every principal of that account assume the role; name IAM users or "
            f"roles instead, or also set {qualified(EXTERNAL_ID)} so only callers that know it can",
        )
    return Settings(
        account_id=account_id,
        partition=partition,
        region=region,
        dns_suffix=dns_suffix,
        kms_key_arn=_kms_key_arn(value(KMS_KEY_ARN), partition=partition, region=region),
        custom_labels=value(CUSTOM_LABELS),
        cache_expiry_days=cache_days or None,
        reports_expiry_days=reports_days or None,
        noncurrent_version_expiry_days=_days(
            NONCURRENT_VERSION_EXPIRY_DAYS, value(NONCURRENT_VERSION_EXPIRY_DAYS), minimum=1
        ),
        trusted_principals=principals,
        access_logs=value(ACCESS_LOGS),
        force_destroy=value(FORCE_DESTROY),
        batch=value(BATCH),
        batch_max_concurrency=_batch_max_concurrency(value(BATCH_MAX_CONCURRENCY)),
        batch_log_level=_batch_log_level(value(BATCH_LOG_LEVEL)),
        batch_log_execution_data=value(BATCH_LOG_EXECUTION_DATA),
        external_id=external_id,
        faces=value(FACES),
        video=value(VIDEO),
    )


def _parse_typed(key: str, type_: ConfigType, text: str) -> Any:
    if type_ == "string":
        return text.strip()
    if type_ == "boolean":
        lowered = text.strip().lower()
        if lowered not in ("true", "false"):
            raise ConfigError(key, f"must be true or false; got {text!r}")
        return lowered == "true"
    if type_ == "integer":
        try:
            return int(text.strip())
        except ValueError:
            raise ConfigError(key, f"must be a whole number; got {text!r}") from None
    try:
        items = json.loads(text)
    except json.JSONDecodeError:
        raise ConfigError(
            key, f"must be a list of strings (set it with --path '{key}[0]'); got {text!r}"
        ) from None
    if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
        raise ConfigError(key, f"must be a list of strings; got {text!r}")
    return items


def _days(name: str, days: int, *, minimum: int) -> int:
    if days < minimum:
        meaning = " (0 keeps objects forever)" if minimum == 0 else ""
        raise ConfigError(qualified(name), f"must be a number of days >= {minimum}{meaning}; got {days}")
    return days


def _batch_max_concurrency(concurrency: int) -> int:
    if not 1 <= concurrency <= BATCH_MAX_CONCURRENCY_LIMIT:
        raise ConfigError(
            qualified(BATCH_MAX_CONCURRENCY),
            f"must be between 1 and {BATCH_MAX_CONCURRENCY_LIMIT} (Distributed Map's limit on child "
            f"executions at once); got {concurrency}",
        )
    return concurrency


def _batch_log_level(level: str) -> str:
    if level.upper() not in BATCH_LOG_LEVELS:
        raise ConfigError(
            qualified(BATCH_LOG_LEVEL), f"must be one of {', '.join(BATCH_LOG_LEVELS)}; got {level!r}"
        )
    return level.upper()


def _external_id(text: str) -> str | None:
    if not text:
        return None
    if not _EXTERNAL_ID.match(text):
        raise ConfigError(
            qualified(EXTERNAL_ID),
            f"must be 2 to 1224 letters, digits or any of _+=,.@:/- (what STS accepts); got {text!r}",
        )
    return text


def _deploying_principal(deployer_arn: str | None, *, account_id: str, partition: str) -> str:
    """The IAM user or role running `pulumi up`: the default, and only, trusted principal."""
    key = qualified(TRUSTED_PRINCIPALS)
    if not deployer_arn:
        raise ConfigError(key, "is empty and the deploying identity is unknown; name the principals to trust")
    if deployer_arn == f"arn:{partition}:iam::{account_id}:root":
        raise ConfigError(
            key,
            "is empty and `pulumi up` runs as the account's root user, which would trust the whole "
            "account; name the IAM users or roles that run evaluations",
        )
    match = _IAM_PRINCIPAL_ARN.match(deployer_arn)
    if match is None or _ACCOUNT_ROOT.match(deployer_arn):
        raise ConfigError(
            key,
            f"is empty and the deploying identity {deployer_arn} cannot be named in a trust policy; name the "
            "IAM users or roles that run evaluations",
        )
    return deployer_arn


def _kms_key_arn(text: str, *, partition: str, region: str) -> str | None:
    if not text:
        return None
    key = qualified(KMS_KEY_ARN)
    if _KMS_ALIAS_ARN.match(text):
        raise ConfigError(
            key, f"give the key's ARN, not an alias ({text}): IAM policies name keys by key ARN"
        )
    match = _KMS_KEY_ARN.match(text)
    if match is None:
        raise ConfigError(
            key, f"is not a KMS key ARN (arn:{partition}:kms:<region>:<account>:key/<key id>): {text!r}"
        )
    if match["partition"] != partition or match["region"] != region:
        raise ConfigError(
            key,
            f"the key is in {match['partition']}/{match['region']} but the stack deploys to "
            f"{partition}/{region}; S3 can only use a key in the bucket's own region",
        )
    return text


def _principal(index: int, text: str, partition: str) -> str:
    key = f"{qualified(TRUSTED_PRINCIPALS)}[{index}]"
    text = text.strip()
    if _ACCOUNT_ID.match(text):
        return f"arn:{partition}:iam::{text}:root"
    match = _IAM_PRINCIPAL_ARN.match(text)
    if match is None:
        raise ConfigError(
            key,
            "must be a 12-digit account ID or an IAM user, role or account-root ARN "
            f"(arn:{partition}:iam::<account>:role/<name>); got {text!r}",
        )
    if match["partition"] != partition:
        raise ConfigError(key, f"is in partition {match['partition']}, the stack deploys to {partition}")
    return text


def check_kms_key(arn: str, describe: Callable[[str], Any]) -> None:
    """Fail early, naming the key, when the configured key does not exist or S3 cannot use it.

    Without this check `pulumi up` would create the bucket and fail later at the encryption step with the
    provider's error, which does not say which setting is wrong.
    """
    key = qualified(KMS_KEY_ARN)
    try:
        found = describe(arn)
    except Exception as error:  # the provider's error type varies; the message is what the user needs
        # A failed invoke also fails the whole run with the provider's own message, which names the key's
        # ARN but not the setting; this logged error, shown beside it, says which setting to fix.
        message = f"no KMS key {arn} can be read with the deploying credentials ({error})"
        pulumi.log.error(f"{key}: {message}")
        raise ConfigError(key, message) from None
    state = getattr(found, "key_state", None)
    if state != "Enabled":
        raise ConfigError(key, f"the key {arn} is {state}; S3 needs an enabled key")
    usage = getattr(found, "key_usage", None)
    spec = getattr(found, "key_spec", None) or getattr(found, "customer_master_key_spec", None)
    if usage != "ENCRYPT_DECRYPT" or spec != "SYMMETRIC_DEFAULT":
        raise ConfigError(
            key, f"the key {arn} is {spec}/{usage}; S3 default encryption needs a symmetric encryption key"
        )


def project_config_values(namespace: str = PROJECT) -> dict[str, str]:
    """Every config value set in the project's namespace, by short name.

    Pulumi offers no public call that lists config keys, so the two places its Python runtime keeps them
    (the PULUMI_CONFIG bag and values set in-process) are read to find unknown keys; known keys are read
    through pulumi.Config, which also honours PULUMI_CONFIG_<KEY> variables.
    """
    from pulumi.runtime import config as runtime_config

    prefix = f"{namespace}:"
    present = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    values = {name[len(prefix) :]: str(v) for name, v in present.items() if name.startswith(prefix)}
    config = pulumi.Config(namespace)
    for name in _KNOWN:
        text = config.get(name)
        if text is not None:
            values[name] = text
    return values


def load_settings() -> Settings:
    """Read the stack's config and the deploying account's facts; validate all of it before any resource."""
    import pulumi_aws as aws

    identity = aws.get_caller_identity()
    partition = aws.get_partition()
    region = aws.get_region()
    values = project_config_values()
    deployer_arn = None
    if not values.get(TRUSTED_PRINCIPALS, "").strip("[] "):
        # An assumed-role session's ARN (sts::...:assumed-role/<role>/<session>) cannot be trusted, the
        # role behind it can: getSessionContext names it, with its path.
        deployer_arn = aws.iam.get_session_context(arn=identity.arn).issuer_arn
    settings = parse_settings(
        values,
        account_id=identity.account_id,
        partition=partition.partition,
        region=region.region,
        dns_suffix=partition.dns_suffix,
        deployer_arn=deployer_arn,
    )
    if settings.kms_key_arn:
        check_kms_key(settings.kms_key_arn, lambda arn: aws.kms.get_key(key_id=arn))
    return settings
