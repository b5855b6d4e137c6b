"""A scripted Rekognition for tests: canned DetectLabels answers per image, and faults on demand.

Answers are looked up by the sha256 of the image bytes the request carries (or by the S3 object's key),
so a test can say exactly what the "service" thinks of each image and check every number downstream.
"""

from __future__ import annotations

import hashlib
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

from evaluation.protocol_server import ServiceError, decode_image_bytes


def label(
    name: str,
    confidence: float,
    parents: tuple[str, ...] = (),
    aliases: tuple[str, ...] = (),
    instances: tuple[dict, ...] = (),
) -> dict:
    return {
        "Name": name,
        "Confidence": confidence,
        "Instances": list(instances),
        "Parents": [{"Name": parent} for parent in parents],
        "Aliases": [{"Name": alias} for alias in aliases],
        "Categories": [],
    }


class FakeRekognition:
    """handler(operation, request) for RekognitionProtocolServer, with a record of what was asked."""

    def __init__(self, model_version: str = "3.0") -> None:
        self.model_version = model_version
        self.by_digest: dict[str, list[dict]] = {}
        self.by_s3_key: dict[str, list[dict]] = {}
        self.calls: Counter[str] = Counter()
        self.requests: list[dict[str, Any]] = []
        self.fault: Callable[[str, int], ServiceError | None] | None = None
        self._lock = threading.Lock()

    def answer_for_bytes(self, data: bytes, labels: list[dict]) -> None:
        self.by_digest[hashlib.sha256(data).hexdigest()] = labels

    def answer_for_s3(self, key: str, labels: list[dict]) -> None:
        self.by_s3_key[key] = labels

    def __call__(self, operation: str, request: dict[str, Any]) -> dict[str, Any]:
        if operation != "DetectLabels":
            raise ServiceError("UnknownOperationException", f"{operation} is not scripted")
        data = decode_image_bytes(request)
        identity = (
            hashlib.sha256(data).hexdigest()
            if data is not None
            else "s3:" + request["Image"]["S3Object"]["Name"]
        )
        with self._lock:
            self.calls[identity] += 1
            attempt = self.calls[identity]
            self.requests.append({k: v for k, v in request.items() if k != "Image"})
        if self.fault is not None:
            error = self.fault(identity, attempt)
            if error is not None:
                raise error
        if data is not None:
            labels = self.by_digest.get(identity)
        else:
            labels = self.by_s3_key.get(request["Image"]["S3Object"]["Name"])
        if labels is None:
            raise ServiceError("InvalidImageFormatException", "Request has invalid image format")
        min_confidence = float(request.get("MinConfidence", 55.0))
        max_labels = int(request.get("MaxLabels", 1000))
        kept = sorted(
            (lb for lb in labels if lb["Confidence"] >= min_confidence), key=lambda lb: -lb["Confidence"]
        )
        return {"Labels": kept[:max_labels], "LabelModelVersion": self.model_version}
