"""`rekognition-eval serve`: the local baseline behind Rekognition's JSON protocol, for DetectLabels.

Why: an application written against boto3 can be developed and tested offline by pointing
`endpoint_url` at this server; it gets DetectLabels-shaped answers from the local model (see
evaluation/backends/local.py for what they mean) and the service's error types for malformed requests.
Only DetectLabels is answered, from image bytes (an S3Object cannot be read here).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

from evaluation.calls.backends.local import SERVICE_DEFAULT_MIN_CONFIDENCE, LocalModel
from evaluation.images import MB
from evaluation.server.protocol import RekognitionProtocolServer, ServiceError, decode_image_bytes

MAX_IMAGE_BYTES = 5 * MB
MAX_LABELS_LIMIT = 1000
FEATURES = ("GENERAL_LABELS", "IMAGE_PROPERTIES")


def _invalid(message: str) -> ServiceError:
    return ServiceError("InvalidParameterException", f"Request has invalid parameters: {message}")


def _min_confidence(request: Mapping[str, Any]) -> float:
    value = request.get("MinConfidence", SERVICE_DEFAULT_MIN_CONFIDENCE)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value <= 100.0:
        raise _invalid(f"MinConfidence must be a number from 0 to 100, got {value!r}")
    return float(value)


def _max_labels(request: Mapping[str, Any]) -> int:
    value = request.get("MaxLabels", MAX_LABELS_LIMIT)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _invalid(f"MaxLabels must be a non-negative integer, got {value!r}")
    return min(value, MAX_LABELS_LIMIT)


def _check_features(request: Mapping[str, Any]) -> None:
    features = request.get("Features")
    if features is None:
        return
    if not isinstance(features, list) or any(feature not in FEATURES for feature in features):
        raise _invalid(f"Features must be a list of {' and '.join(FEATURES)}, got {features!r}")
    if "IMAGE_PROPERTIES" in features or "GENERAL_LABELS" not in features:
        raise _invalid("this local server answers GENERAL_LABELS only (no IMAGE_PROPERTIES)")


def _label_filters(request: Mapping[str, Any]) -> tuple[set[str] | None, set[str]]:
    """Settings.GeneralLabels' label-name filters; category filters have nothing to act on here."""
    settings = request.get("Settings")
    if settings is None:
        return None, set()
    general = settings.get("GeneralLabels") if isinstance(settings, dict) else None
    if not isinstance(settings, dict) or set(settings) - {"GeneralLabels"} or not isinstance(general, dict):
        raise _invalid("this local server supports Settings.GeneralLabels label filters only")
    allowed = {"LabelInclusionFilters", "LabelExclusionFilters"}
    if set(general) - allowed:
        raise _invalid("this local server has no label categories: use label-name filters only")
    names: dict[str, set[str]] = {}
    for key in allowed:
        value = general.get(key, [])
        if not isinstance(value, list) or not all(isinstance(name, str) for name in value):
            raise _invalid(f"Settings.GeneralLabels.{key} must be a list of label names")
        names[key] = {name.casefold() for name in value}
    included = names["LabelInclusionFilters"] or None
    return included, names["LabelExclusionFilters"]


class DetectLabelsHandler:
    """handler(operation, request) for RekognitionProtocolServer: validates as the service, then answers."""

    def __init__(self, model: LocalModel | None = None) -> None:
        self.model = model if model is not None else LocalModel.load()

    def __call__(self, operation: str, request: dict[str, Any]) -> dict[str, Any]:
        if operation != "DetectLabels":
            raise ServiceError(
                "UnknownOperationException", f"{operation}: this local server answers DetectLabels only"
            )
        data = decode_image_bytes(request)
        if data is None:
            raise ServiceError(
                "InvalidS3ObjectException",
                "Unable to get object metadata from S3: this local server reads Image.Bytes only",
            )
        if len(data) > MAX_IMAGE_BYTES:
            raise ServiceError(
                "ImageTooLargeException",
                f"Image size is too large: {len(data)} bytes, at most {MAX_IMAGE_BYTES} as Image.Bytes",
            )
        min_confidence = _min_confidence(request)
        max_labels = _max_labels(request)
        _check_features(request)
        included, excluded = _label_filters(request)
        try:
            answer = self.model.detect_labels(
                data, min_confidence=min_confidence, max_labels=MAX_LABELS_LIMIT
            )
        except ClientError as error:
            details = error.response.get("Error", {})
            raise ServiceError(str(details.get("Code")), str(details.get("Message", ""))) from None
        labels = [
            label
            for label in answer["Labels"]
            if (included is None or label["Name"].casefold() in included)
            and label["Name"].casefold() not in excluded
        ]
        return {**answer, "Labels": labels[:max_labels]}


def build_server(
    *, host: str = "127.0.0.1", port: int = 0, model: LocalModel | None = None
) -> RekognitionProtocolServer:
    """The server `rekognition-eval serve` runs (not started); tests start it on port 0."""
    return RekognitionProtocolServer(DetectLabelsHandler(model), host=host, port=port)
