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
        "IAM principal ARNs (or 12-digit account IDs) allowed to assume the evaluation role. Empty: the "
        "deploying account.",
    ),
    ConfigKey(
        ACCESS_LOGS,
        "boolean",
        False,
        "Write S3 server access logs of the bucket to a separate private, encrypted log bucket.",
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
)

_KNOWN = {key.name: key for key in CONFIG_KEYS}

_KMS_KEY_ARN = re.compile(
    r"^arn:(?P<partition>aws[a-z-]*):kms:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):key/"
    r"(?:mrk-[0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$"
)
_KMS_ALIAS_ARN = re.compile(r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:alias/")
_ACCOUNT_ID = re.compile(r"^\d{12}$")
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
) -> Settings:
    """Turn the project's config values (as Pulumi hands them over: strings, JSON for arrays) into Settings.

    Unknown keys are refused: a misspelt `kmsKeyARN` would otherwise leave the bucket on SSE-S3 without a
    word.
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
        trusted_principals=principals or (f"arn:{partition}:iam::{account_id}:root",),
        access_logs=value(ACCESS_LOGS),
        force_destroy=value(FORCE_DESTROY),
        batch=value(BATCH),
        batch_max_concurrency=_batch_max_concurrency(value(BATCH_MAX_CONCURRENCY)),
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
    settings = parse_settings(
        project_config_values(),
        account_id=identity.account_id,
        partition=partition.partition,
        region=region.region,
        dns_suffix=partition.dns_suffix,
    )
    if settings.kms_key_arn:
        check_kms_key(settings.kms_key_arn, lambda arn: aws.kms.get_key(key_id=arn))
    return settings
