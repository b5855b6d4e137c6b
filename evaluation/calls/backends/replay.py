"""Answers only from stored responses: re-analysis with no network and no cost."""

from __future__ import annotations

from typing import Any

from evaluation.calls.backends.base import NotCached
from evaluation.calls.backends.rekognition import custom_endpoint, detect_labels_params, operation_params
from evaluation.calls.redact import redact_url
from evaluation.images import DETECT_LABELS_LIMITS, ImageLimits, LoadedImage


class ReplayLabels:
    """Looks up the answers a `rekognition` run with the same parameters stored; never calls."""

    name = "replay"
    operation = "DetectLabels"

    def __init__(
        self,
        *,
        min_confidence: float = 0.0,
        max_labels: int = 1000,
        endpoint_url: str | None = None,
        limits: ImageLimits = DETECT_LABELS_LIMITS,
    ) -> None:
        self.min_confidence = float(min_confidence)
        self.max_labels = int(max_labels)
        self.endpoint_url = redact_url(endpoint_url) if endpoint_url else None
        self.limits = limits

    def request_params(self) -> dict[str, Any]:
        return detect_labels_params(
            min_confidence=self.min_confidence,
            max_labels=self.max_labels,
            endpoint=custom_endpoint(self.endpoint_url),
        )

    def call(self, image: LoadedImage) -> dict[str, Any]:
        raise NotCached(
            "no stored answer for this image with these parameters "
            f"(MinConfidence {self.min_confidence:g}, MaxLabels {self.max_labels}); "
            "run it once with --backend rekognition"
        )

    def describe(self) -> dict[str, Any]:
        return {
            "backend": self.name,
            "operation": self.operation,
            "endpoint_url": self.endpoint_url,
            "min_confidence": self.min_confidence,
            "max_labels": self.max_labels,
        }


class ReplayCall:
    """Replay for any other operation: the answers a `rekognition` run of it with these parameters stored."""

    name = "replay"

    def __init__(
        self, *, operation: str, params: dict[str, Any], limits: ImageLimits, endpoint_url: str | None = None
    ) -> None:
        self.operation = operation
        self.params = dict(params)
        self.limits = limits
        self.endpoint_url = redact_url(endpoint_url) if endpoint_url else None

    def request_params(self) -> dict[str, Any]:
        return operation_params(self.params, endpoint=custom_endpoint(self.endpoint_url))

    def call(self, image: LoadedImage) -> dict[str, Any]:
        raise NotCached(
            f"no stored {self.operation} answer for this image with these parameters ({self.params}); "
            "run it once with --backend rekognition"
        )

    def describe(self) -> dict[str, Any]:
        return {
            "backend": self.name,
            "operation": self.operation,
            "endpoint_url": self.endpoint_url,
            "request": self.params,
        }


REPLAY_OPTIONS = {
    "Endpoint": "--endpoint-url",
    "MinConfidence": "--min-confidence",
    "MaxLabels": "--max-labels",
    "ProjectVersionArn": "--project-version-arn",
}


def replay_hint(asked: dict[str, Any], stored: list[tuple[dict[str, Any], int]], missed: int) -> str:
    """What to pass to replay `missed` images, given the requests (and how many of them each) their stored
    answers were made with: the options of the request that holds the most, exactly as to type them."""
    if not stored:
        return "no answer for them is stored under any request: run them once with --backend rekognition"
    other, found = max(stored, key=lambda entry: entry[1])
    changes = []
    for name in sorted(set(other) | set(asked)):
        if other.get(name) == asked.get(name):
            continue
        option = REPLAY_OPTIONS.get(name, f"the request parameter {name}")
        value = other.get(name)
        if name not in other:
            changes.append(f"no {option}")
        else:
            changes.append(f"{option} {value:g}" if isinstance(value, float) else f"{option} {value}")
    stored_with = ", ".join(changes)
    return f"{found} of these {missed} image(s) have answers stored with {stored_with}: pass exactly that"
