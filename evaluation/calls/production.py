"""The production request: the parameters an application sends besides the image, as boto3 takes them.

Applications call DetectLabels with `Settings` (GeneralLabels inclusion and exclusion filters on labels
and categories, ImageProperties.MaxDominantColors) and `Features` (GENERAL_LABELS, IMAGE_PROPERTIES), and
DetectModerationLabels with `ProjectVersion` (a Custom Moderation adapter). A run that should judge what
production gets sends the same: `--request FILE.yaml` (or `request=` in a notebook) holds those keys,
spelled exactly as boto3 takes them, e.g.

    Features: [GENERAL_LABELS, IMAGE_PROPERTIES]
    Settings:
      GeneralLabels:
        LabelExclusionFilters: [Person]

The keys are checked against botocore's own service model (its ParamValidator on the operation's input
shape) before anything is read or paid for, so a typo is an error naming the key. MinConfidence and
MaxLabels are not taken from the file: the harness keeps MinConfidence at the floor so one call answers
every threshold (MaxLabels has its own option). The keys become part of the cache key, so answers to
another request are never mistaken for these.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from evaluation.errors import UserError, read_yaml_file

# What a request file may set, per API: everything else is the harness's (Image, MinConfidence, MaxLabels)
# or not part of an image call.
PRODUCTION_KEYS = {
    "DetectLabels": ("Features", "Settings"),
    "DetectModerationLabels": ("ProjectVersion",),
}
HARNESS_KEYS = {
    "MinConfidence": "MinConfidence stays at the floor (the harness evaluates every threshold offline)",
    "MaxLabels": "MaxLabels has its own option, --max-labels",
    "Image": "the image is each dataset item's",
}
_PLACEHOLDER_IMAGE = {"Bytes": b"\xff"}


@functools.lru_cache(maxsize=1)
def _service_model() -> Any:
    import botocore.session

    return botocore.session.get_session().get_service_model("rekognition")


def validate_params(api: str, params: Mapping[str, Any], *, source: str = "the request") -> None:
    """Check `params` (besides Image) against botocore's input shape for `api`; a UserError names the key."""
    from botocore.validate import ParamValidator

    shape = _service_model().operation_model(api).input_shape
    report = ParamValidator().validate({"Image": _PLACEHOLDER_IMAGE, **params}, shape)
    if report.has_errors():
        text = report.generate_report().replace("Parameter validation failed:\n", "").strip()
        raise UserError(f"{source}: not a valid {api} request: {text}")
    problems = list(_enums_and_patterns(shape, dict(params), ""))
    if problems:
        raise UserError(f"{source}: not a valid {api} request: {'; '.join(problems)}")


def _enums_and_patterns(shape: Any, value: Any, where: str) -> Any:
    """What botocore's validator leaves to the service: enum values and string patterns."""
    kind = shape.type_name
    if kind == "structure" and isinstance(value, Mapping):
        for name, member in shape.members.items():
            if name in value:
                yield from _enums_and_patterns(member, value[name], f"{where}.{name}".lstrip("."))
    elif kind == "list" and isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            yield from _enums_and_patterns(shape.member, item, f"{where}[{index}]")
    elif kind == "string" and isinstance(value, str):
        if shape.enum and value not in shape.enum:
            yield f"{where}: {value!r} is not one of {', '.join(shape.enum)}"
        pattern = shape.metadata.get("pattern")
        if pattern and not re.fullmatch(pattern, value):
            yield f"{where}: {value!r} does not match the pattern {pattern}"


def load_request(source: Mapping[str, Any] | str | Path | None, api: str) -> dict[str, Any]:
    """The production request keys for `api`, from a mapping or a YAML file, validated; {} for None.

    A file may also nest its keys under the API's name (`DetectLabels: {Features: ...}`), so one file can
    hold an application's requests to several APIs.
    """
    if source is None:
        return {}
    where = "request"
    if isinstance(source, (str, Path)):
        where = f"--request {Path(source)}"
        document = read_yaml_file(source, where)
        source = {} if document is None else document
    if not isinstance(source, Mapping):
        raise UserError(f"{where}: expected a mapping of request keys, got {type(source).__name__}")
    if api in source and isinstance(source[api], Mapping):
        source = source[api]
    params = {str(key): value for key, value in source.items() if key not in PRODUCTION_KEYS}
    allowed = PRODUCTION_KEYS.get(api, ())
    for key in params:
        if key in HARNESS_KEYS:
            raise UserError(f"{where}: {key} cannot be set here: {HARNESS_KEYS[key]}")
    validate_params(api, params, source=where)  # an unknown key is named by botocore's report
    other = [key for key in params if key not in allowed]
    if other:
        raise UserError(
            f"{where}: {', '.join(other)} is a valid {api} parameter but not one a request file sets "
            f"(it takes {', '.join(allowed) or 'nothing'} for {api})"
        )
    if api == "DetectLabels":
        _check_detect_labels(params, where)
    return params


def _check_detect_labels(params: Mapping[str, Any], where: str) -> None:
    features = params.get("Features")
    if features is not None and "GENERAL_LABELS" not in features:
        raise UserError(
            f"{where}: Features {list(features)} has no GENERAL_LABELS: DetectLabels would return no labels "
            "to evaluate (add GENERAL_LABELS)"
        )
    settings = params.get("Settings") or {}
    if "ImageProperties" in settings and features is not None and "IMAGE_PROPERTIES" not in features:
        raise UserError(f"{where}: Settings.ImageProperties needs IMAGE_PROPERTIES in Features")


def wants_image_properties(params: Mapping[str, Any]) -> bool:
    return "IMAGE_PROPERTIES" in (params.get("Features") or ())


def label_filters(params: Mapping[str, Any]) -> dict[str, list[str]]:
    """The GeneralLabels filters a request sets (for reports: a label excluded is never predicted)."""
    general = ((params.get("Settings") or {}).get("GeneralLabels")) or {}
    return {key: list(value) for key, value in general.items() if value}


def production_request(request: Any, api: str) -> dict[str, Any]:
    """RunRequest's `production`: its request file's keys for the operation's API with --project-version,
    checked; and the answer options that go with them (--refresh, --model-version, --canary)."""
    project_version, backend = request.project_version, request.backend
    if request.canary is not None and request.canary < 1:
        raise UserError(f"--canary must be at least 1 image, got {request.canary}")
    if request.model_version is not None and request.refresh:
        raise UserError(
            "--model-version reads stored answers of one version; --refresh calls again: pick one"
        )
    if request.canary is not None and request.model_version is not None:
        raise UserError("--canary checks the newest answers; it cannot be combined with --model-version")
    production = load_request(request.request, api)
    if project_version:
        if api != "DetectModerationLabels":
            raise UserError(
                "--project-version is a Custom Moderation adapter: it needs --operation moderation "
                "(a Custom Labels model is --backend custom-labels --project-version-arn)"
            )
        given = production.get("ProjectVersion")
        if given and given != project_version:
            raise UserError("--project-version and the request file name different adapters")
        production = {**production, "ProjectVersion": project_version}
        validate_params(api, production, source="--project-version")
    if production and backend in ("local", "custom-labels"):
        raise UserError(
            f"the {backend} backend cannot send {', '.join(production)}: a request file is for "
            "--backend rekognition (or replay of its answers)"
        )
    return production
