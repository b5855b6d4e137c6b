"""DetectCustomLabels through boto3: a trained Rekognition Custom Labels model, evaluated like DetectLabels.

Each image is asked once with MinConfidence 0, so every threshold (AWS's "assumed threshold" included) is
evaluated offline from one answer. The model version's ARN is part of the cache key: answers of two
versions of a model are never mixed, and a retrained model is asked again. The model must be running
(see evaluation/models.py); a stopped one answers ResourceNotReadyException for every image.
"""

from __future__ import annotations

import re
from typing import Any

from evaluation.calls.backends.rekognition import ThroughClient, custom_endpoint, image_argument
from evaluation.errors import UserError
from evaluation.images import CUSTOM_LABELS_LIMITS, ImageLimits, LoadedImage

# botocore's service model pattern for ProjectVersionArn (rekognition 2016-06-27).
VERSION_ARN = re.compile(
    r"^arn:[a-z\d-]+:rekognition:[a-z\d-]+:\d{12}:project/[a-zA-Z0-9_.\-]{1,255}"
    r"/version/[a-zA-Z0-9_.\-]{1,255}/[0-9]+$"
)


def check_version_arn(arn: str) -> str:
    """A model version ARN, or a UserError saying what one looks like (before any call is made)."""
    if not isinstance(arn, str) or not VERSION_ARN.match(arn):
        raise UserError(
            f"not a Custom Labels model version ARN: {arn!r} (expected "
            "arn:aws:rekognition:REGION:ACCOUNT:project/NAME/version/VERSION/TIMESTAMP; "
            "`rekognition-eval models list` shows them)"
        )
    return arn


class CustomLabels(ThroughClient):
    """Backend `custom-labels`: DetectCustomLabels on one model version, every label down to MinConfidence."""

    name = "custom-labels"
    operation = "DetectCustomLabels"

    def __init__(
        self,
        client: Any,
        *,
        project_version_arn: str,
        min_confidence: float = 0.0,
        max_results: int | None = None,
        limits: ImageLimits = CUSTOM_LABELS_LIMITS,
    ) -> None:
        if not 0.0 <= min_confidence <= 100.0:
            raise ValueError(f"min_confidence must be within 0-100, got {min_confidence}")
        if max_results is not None and max_results < 1:
            raise ValueError(f"max_results must be at least 1, got {max_results}")
        self.client = client
        self.project_version_arn = check_version_arn(project_version_arn)
        self.min_confidence = float(min_confidence)
        self.max_results = max_results
        self.limits = limits

    def request_params(self) -> dict[str, Any]:
        """The version ARN keys the cache; MaxResults only when sent (it cuts answers like MaxLabels)."""
        custom = custom_endpoint(self.endpoint_url)
        params = {"ProjectVersionArn": self.project_version_arn, "MinConfidence": self.min_confidence}
        if self.max_results is not None:
            params["MaxResults"] = int(self.max_results)
        if custom:
            params["Endpoint"] = custom
        return params

    def call(self, image: LoadedImage) -> dict[str, Any]:
        request: dict[str, Any] = {
            "ProjectVersionArn": self.project_version_arn,
            "Image": image_argument(image),
            "MinConfidence": self.min_confidence,
        }
        if self.max_results is not None:
            request["MaxResults"] = int(self.max_results)
        response = self.client.detect_custom_labels(**request)
        # The answer does not name the model that gave it; record it, as DetectLabels' LabelModelVersion.
        return {**response, "ProjectVersionArn": self.project_version_arn}

    def describe(self) -> dict[str, Any]:
        return {
            "backend": self.name,
            "operation": self.operation,
            "region": self.client.meta.region_name,
            "endpoint_url": self.endpoint_url,
            "project_version_arn": self.project_version_arn,
            "min_confidence": self.min_confidence,
            "max_results": self.max_results,
        }


__all__ = ["VERSION_ARN", "CustomLabels", "check_version_arn"]
