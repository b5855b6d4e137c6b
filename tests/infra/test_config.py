"""Pulumi.yaml, the example stack and the settings parser agree, and the parser's rules hold."""

from __future__ import annotations

import contextvars
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.config import CONFIG_KEYS, PROJECT, ConfigError, Settings, parse_settings, project_config_values
from infra.custom_labels import project_name_for
from tests.infra.program import ACCOUNT_ID, DEPLOYER, REGION, REPO_ROOT, run_program

PROJECT_FILE = REPO_ROOT / "Pulumi.yaml"
EXAMPLE_STACK = REPO_ROOT / "Pulumi.example.yaml"


def load(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def parse(deployer_arn: str | None = DEPLOYER, **raw: str) -> Settings:
    return parse_settings(
        raw, account_id=ACCOUNT_ID, partition="aws", region=REGION, deployer_arn=deployer_arn
    )


def test_project_file_runs_python_in_its_virtualenv() -> None:
    project = load(PROJECT_FILE)

    assert project["name"] == PROJECT
    assert project["runtime"]["name"] == "python"
    # Its own environment, apart from the harness's .venv and .venv-test (issue 14).
    assert project["runtime"]["options"] == {"toolchain": "pip", "virtualenv": ".venv-infra"}
    assert (REPO_ROOT / "__main__.py").is_file()


def test_project_file_declares_exactly_the_settings_the_program_reads() -> None:
    """Pulumi applies Pulumi.yaml's defaults before the program runs; the parser applies its own when a key
    is absent (as under the mocks). Both must be the same table, with a default for every key, because
    Pulumi refuses to run a stack that lacks a value for a key declared without one."""
    declared = load(PROJECT_FILE)["config"]

    assert list(declared) == [key.name for key in CONFIG_KEYS]
    for key in CONFIG_KEYS:
        entry = declared[key.name]
        assert entry["type"] == key.type, key.name
        assert entry["default"] == key.default, key.name
        assert entry["description"] == key.description, key.name
        if key.type == "array":
            assert entry["items"] == {"type": "string"}


def test_example_stack_sets_only_declared_keys_and_runs() -> None:
    config = load(EXAMPLE_STACK)["config"]
    declared = set(load(PROJECT_FILE)["config"])

    own = {k.split(":", 1)[1] for k in config if k.startswith(f"{PROJECT}:")}
    assert own <= declared
    assert set(config) - {f"{PROJECT}:{k}" for k in own} == {"aws:region"}
    run = run_program(config)
    assert run.outputs["region"] == REGION == config["aws:region"]
    assert "accessLogsBucketName" in run.outputs


def test_absent_keys_take_the_declared_defaults() -> None:
    settings = parse()

    assert settings.kms_key_arn is None
    assert settings.custom_labels is False
    assert settings.cache_expiry_days is None
    assert settings.reports_expiry_days is None
    assert settings.noncurrent_version_expiry_days == 30
    # Issue 18: the deploying IAM user or role, never the whole account; access logs on.
    assert settings.trusted_principals == (DEPLOYER,)
    assert settings.external_id is None
    assert settings.access_logs is True
    assert settings.force_destroy is False
    assert (settings.batch_log_level, settings.batch_log_execution_data) == ("ERROR", False)
    assert (settings.faces, settings.video) == (False, False)


def test_values_as_pulumi_passes_them_are_parsed() -> None:
    settings = parse(
        customLabels="True",
        cacheExpiryDays=" 0 ",
        reportsExpiryDays="45",
        trustedPrincipals='["arn:aws:iam::111122223333:user/ana", "arn:aws:iam::111122223333:role/path/ci"]',
        kmsKeyArn="",
    )

    assert settings.custom_labels is True
    assert settings.cache_expiry_days is None  # 0 keeps objects
    assert settings.reports_expiry_days == 45
    assert settings.trusted_principals == (
        "arn:aws:iam::111122223333:user/ana",
        "arn:aws:iam::111122223333:role/path/ci",
    )
    assert settings.kms_key_arn is None


def test_multi_region_keys_are_accepted() -> None:
    arn = f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/mrk-1234abcd12ab34cd56ef1234567890ab"

    assert parse(kmsKeyArn=arn).kms_key_arn == arn


def test_principals_must_be_in_the_stack_partition() -> None:
    with pytest.raises(ConfigError, match=r"trustedPrincipals\[0\]: is in partition aws-cn"):
        parse(trustedPrincipals='["arn:aws-cn:iam::111122223333:role/ci"]')


@pytest.mark.parametrize("whole_account", ["111122223333", "arn:aws:iam::111122223333:root"])
def test_a_whole_account_is_trusted_only_with_an_external_id(whole_account: str) -> None:
    with pytest.raises(ConfigError, match=r"trustedPrincipals: arn:aws:iam::111122223333:root lets every"):
        parse(trustedPrincipals=json.dumps([whole_account]))

    settings = parse(trustedPrincipals=json.dumps([whole_account]), externalId="eval-7f3a")
    assert settings.trusted_principals == ("arn:aws:iam::111122223333:root",)
    assert settings.external_id == "eval-7f3a"


def test_the_deploying_role_not_its_session_nor_the_account_is_the_default() -> None:
    role = f"arn:aws:iam::{ACCOUNT_ID}:role/aws-reserved/sso.amazonaws.com/{REGION}/AWSReservedSSO_Admin_0123"

    assert parse(deployer_arn=role).trusted_principals == (role,)
    empty = r"trustedPrincipals: is empty and "
    with pytest.raises(ConfigError, match=empty + r"`pulumi up` runs as the account's root"):
        parse(deployer_arn=f"arn:aws:iam::{ACCOUNT_ID}:root")
    with pytest.raises(ConfigError, match=empty + r"the deploying identity .* cannot be named"):
        parse(deployer_arn=f"arn:aws:sts::{ACCOUNT_ID}:federated-user/ana")
    with pytest.raises(ConfigError, match=empty + r"the deploying identity is unknown"):
        parse(deployer_arn=None)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"externalId": "x"}, r"externalId: must be 2 to 1224"),
        ({"externalId": "has space"}, r"externalId: must be 2 to 1224"),
        ({"externalId": "a" * 1225}, r"externalId: must be 2 to 1224"),
        ({"batchLogLevel": "DEBUG"}, r"batchLogLevel: must be one of ALL, ERROR, FATAL, OFF"),
        ({"faces": "yes"}, r"faces: must be true or false"),
        ({"video": "1"}, r"video: must be true or false"),
    ],
)
def test_new_settings_are_checked(raw: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse(**raw)


def test_log_levels_are_accepted_in_any_case() -> None:
    assert parse(batchLogLevel="all").batch_log_level == "ALL"
    assert parse(batchLogLevel="OFF").batch_log_level == "OFF"


def test_unknown_keys_are_refused_with_the_list_of_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"rekognition-eval:accesslogs: is not a setting .*accessLogs"):
        parse(accesslogs="true")


@pytest.mark.parametrize(
    ("stack", "name"),
    [
        ("dev", "rekognition-eval-dev"),
        ("team.prod", "rekognition-eval-team-prod"),
        ("a_b", "rekognition-eval-a_b"),
    ],
)
def test_project_names_are_valid_for_rekognition(stack: str, name: str) -> None:
    assert project_name_for("rekognition-eval", stack) == name


def test_unknown_keys_are_found_in_the_environment_the_cli_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Pulumi CLI hands config to the program in PULUMI_CONFIG; keys there are checked too."""
    monkeypatch.setenv(
        "PULUMI_CONFIG",
        json.dumps({"rekognition-eval:kmsKeyARN": "x", "rekognition-eval:accessLogs": "true"}),
    )

    values = contextvars.copy_context().run(project_config_values)

    assert values == {"kmsKeyARN": "x", "accessLogs": "true"}
    with pytest.raises(ConfigError, match="rekognition-eval:kmsKeyARN: is not a setting"):
        parse(**values)


# --- the program's own environment (issue 14) -----------------------------------------------------------

REQUIREMENTS = REPO_ROOT / "requirements-infra.txt"


def pinned_requirements() -> dict[str, Any]:
    from packaging.requirements import Requirement

    lines = [line.split("#", 1)[0].strip() for line in REQUIREMENTS.read_text(encoding="utf-8").splitlines()]
    return {(r := Requirement(line)).name: r for line in lines if line}


def test_infra_requirements_pin_versions_inside_the_infra_extra() -> None:
    """requirements-infra.txt (what `pulumi up` runs with) and pyproject's `infra` extra (what the tests
    install) name the same packages, and every pin satisfies the extra's range."""
    import tomllib
    from packaging.requirements import Requirement

    extra = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"][
        "optional-dependencies"
    ]["infra"]
    ranges = {(r := Requirement(text)).name: r.specifier for text in extra}
    pins = pinned_requirements()

    assert set(pins) == set(ranges) == {"pulumi", "pulumi-aws"}
    for name, requirement in pins.items():
        (spec,) = requirement.specifier
        assert spec.operator == "==", f"{name} is not pinned: {requirement}"
        assert ranges[name].contains(spec.version), f"{name} {spec.version} is outside {ranges[name]}"


def test_the_guide_states_the_pinned_versions_and_the_virtualenv() -> None:
    guide = (REPO_ROOT / "docs" / "infrastructure.md").read_text(encoding="utf-8")
    pins = pinned_requirements()

    for name, requirement in pins.items():
        (spec,) = requirement.specifier
        assert f"{name} {spec.version}" in guide, f"the guide does not state {name} {spec.version}"
    assert ".venv-infra/bin/pip install -r requirements-infra.txt" in guide
    for key in CONFIG_KEYS:
        assert f"`{key.name}`" in guide, f"docs/infrastructure.md does not document {key.name}"
