"""A scripted Rekognition for tests: canned answers per image and operation, and faults on demand.

DetectLabels is scripted with `answer_for_bytes`; DetectModerationLabels, DetectText and DetectFaces with
`script`, in the shapes of the service's documentation, and their request parameters are applied as the
service applies them (MinConfidence, Filters.WordFilter.MinConfidence, Attributes).

Answers are looked up by the sha256 of the image bytes the request carries (or by the S3 object's key),
so a test can say exactly what the "service" thinks of each image and check every number downstream.
"""

from __future__ import annotations

import hashlib
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

from evaluation.server.protocol import ServiceError, decode_image_bytes


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
        self.scripted: dict[tuple[str, str], list[dict]] = {}  # (operation, sha256) -> entries
        self.versions = {"DetectModerationLabels": "7.0", "DetectText": "3.0"}
        self.verbatim: dict[str, Any] = {}  # sha256 -> a whole DetectLabels answer (or RawAnswer bytes)
        self._lock = threading.Lock()

    def script(self, operation: str, data: bytes, entries: list[dict]) -> None:
        """What `operation` says about these image bytes: ModerationLabels, TextDetections or FaceDetails."""
        self.scripted[(operation, hashlib.sha256(data).hexdigest())] = entries

    def answer_for_bytes(self, data: bytes, labels: list[dict]) -> None:
        self.by_digest[hashlib.sha256(data).hexdigest()] = labels

    def respond_for_bytes(self, data: bytes, response: Any) -> None:
        """Answer DetectLabels for these bytes with exactly `response`: a misbehaving service's answer,
        a dict sent as JSON (NaN and all) or a RawAnswer body sent as it is."""
        self.verbatim[hashlib.sha256(data).hexdigest()] = response

    def answer_for_s3(self, key: str, labels: list[dict]) -> None:
        self.by_s3_key[key] = labels

    def __call__(self, operation: str, request: dict[str, Any]) -> dict[str, Any]:
        if operation in OTHER_OPERATIONS:
            return self._other(operation, request)
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
        if identity in self.verbatim:
            return self.verbatim[identity]
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

    def _other(self, operation: str, request: dict[str, Any]) -> dict[str, Any]:
        data = decode_image_bytes(request)
        if data is None:
            raise ServiceError("InvalidS3ObjectException", "S3 images are scripted for DetectLabels only")
        identity = hashlib.sha256(data).hexdigest()
        with self._lock:
            self.calls[identity] += 1
            self.requests.append(
                {"Operation": operation, **{k: v for k, v in request.items() if k != "Image"}}
            )
        entries = self.scripted.get((operation, identity))
        if entries is None:
            raise ServiceError("InvalidImageFormatException", "Request has invalid image format")
        return OTHER_OPERATIONS[operation](self, entries, request)


def _moderation(fake: FakeRekognition, entries: list[dict], request: dict[str, Any]) -> dict[str, Any]:
    floor = float(request.get("MinConfidence", 50.0))  # the service's default: 50
    return {
        "ModerationLabels": [entry for entry in entries if entry["Confidence"] >= floor],
        "ModerationModelVersion": fake.versions["DetectModerationLabels"],
        "ContentTypes": [],
    }


def _text(fake: FakeRekognition, entries: list[dict], request: dict[str, Any]) -> dict[str, Any]:
    word_filter = (request.get("Filters") or {}).get("WordFilter") or {}
    floor = float(word_filter.get("MinConfidence", 80.0))  # the service's default: 80
    kept = [entry for entry in entries if entry["Type"] == "LINE" or entry["Confidence"] >= floor]
    return {"TextDetections": kept, "TextModelVersion": fake.versions["DetectText"]}


FACE_ATTRIBUTES = (
    "AgeRange",
    "Smile",
    "Eyeglasses",
    "Sunglasses",
    "Gender",
    "Beard",
    "Mustache",
    "EyesOpen",
    "MouthOpen",
    "Emotions",
    "FaceOccluded",
    "EyeDirection",
)


def _faces(fake: FakeRekognition, entries: list[dict], request: dict[str, Any]) -> dict[str, Any]:
    everything = "ALL" in (request.get("Attributes") or ["DEFAULT"])
    details = [
        {key: value for key, value in entry.items() if everything or key not in FACE_ATTRIBUTES}
        for entry in entries
    ]
    return {"FaceDetails": details}


OTHER_OPERATIONS: dict[str, Callable[[FakeRekognition, list[dict], dict[str, Any]], dict[str, Any]]] = {
    "DetectModerationLabels": _moderation,
    "DetectText": _text,
    "DetectFaces": _faces,
}


def moderation_label(name: str, confidence: float, parent: str = "", level: int = 1) -> dict:
    """A ModerationLabel as the API reference documents it (a top-level label's ParentName is "")."""
    return {"Confidence": confidence, "Name": name, "ParentName": parent, "TaxonomyLevel": level}


def text_detection(
    text: str,
    kind: str,
    identity: int,
    confidence: float,
    box: tuple[float, float, float, float],
    parent: int | None = None,
) -> dict:
    """A TextDetection: a LINE has no ParentId; a WORD names its LINE's Id."""
    left, top, width, height = box
    entry = {
        "DetectedText": text,
        "Type": kind,
        "Id": identity,
        "Confidence": confidence,
        "Geometry": {
            "BoundingBox": {"Width": width, "Height": height, "Left": left, "Top": top},
            "Polygon": [
                {"X": left, "Y": top},
                {"X": left + width, "Y": top},
                {"X": left + width, "Y": top + height},
                {"X": left, "Y": top + height},
            ],
        },
    }
    if parent is not None:
        entry["ParentId"] = parent
    return entry


def face_detail(box: tuple[float, float, float, float], confidence: float, **attributes: Any) -> dict:
    """A FaceDetail with DEFAULT's fields; `attributes` (AgeRange, Emotions...) come with Attributes ALL."""
    left, top, width, height = box
    return {
        "BoundingBox": {"Width": width, "Height": height, "Left": left, "Top": top},
        "Confidence": confidence,
        "Landmarks": [{"Type": "eyeLeft", "X": left + width * 0.3, "Y": top + height * 0.4}],
        "Pose": {"Roll": 0.5, "Yaw": 3.0, "Pitch": -2.0},
        "Quality": {"Brightness": 60.0, "Sharpness": 80.0},
        **attributes,
    }
