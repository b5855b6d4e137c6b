"""A scripted Rekognition for tests: canned answers per image and operation, and faults on demand.

DetectLabels is scripted with `answer_for_bytes`; DetectModerationLabels, DetectText and DetectFaces with
`script`, in the shapes of the service's documentation, and their request parameters are applied as the
service applies them (MinConfidence, Filters.WordFilter.MinConfidence, Attributes).

The production request is answered as the service answers it (botocore's documented shapes):
DetectLabels `Settings.GeneralLabels` inclusion and exclusion filters on label names and on Categories
(a label is kept when no inclusion filter is set or it matches one, and no exclusion filter matches it),
`Features` (no GENERAL_LABELS: no Labels; IMAGE_PROPERTIES: an `ImageProperties` with Quality and
DominantColors, scripted with `image_properties` or measured from the pixels,
`Settings.ImageProperties.MaxDominantColors` honoured); DetectModerationLabels `ProjectVersion` answers
from the adapter scripted with `adapter` (the response names it), the base model when the adapter is
expired (no ProjectVersion in the response, as documented), ResourceNotFoundException for an unknown one.
`model_version` and `shift` (added to every confidence, or per label name; clipped to 0-100) stand for
a model update.

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
    categories: tuple[str, ...] = (),
) -> dict:
    return {
        "Name": name,
        "Confidence": confidence,
        "Instances": list(instances),
        "Parents": [{"Name": parent} for parent in parents],
        "Aliases": [{"Name": alias} for alias in aliases],
        "Categories": [{"Name": category} for category in categories],
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
        self.properties: dict[str, dict] = {}  # sha256 -> ImageProperties
        self.content_types: dict[str, list[dict]] = {}  # sha256 -> ContentTypes
        self.adapters: dict[str, dict[str, list[dict]]] = {}  # ProjectVersion -> sha256 -> labels
        self.expired: set[str] = set()
        # added to every label's confidence (a number), or per name (a dict): a model update moving scores
        self.shift: float | dict[str, float] = 0.0
        self.verbatim: dict[str, Any] = {}  # sha256 -> a whole DetectLabels answer (or RawAnswer bytes)
        self._lock = threading.Lock()

    def image_properties(self, data: bytes, properties: dict) -> None:
        """The ImageProperties DetectLabels returns for these bytes when IMAGE_PROPERTIES is asked."""
        self.properties[hashlib.sha256(data).hexdigest()] = properties

    def script_content_types(self, data: bytes, types: list[dict]) -> None:
        self.content_types[hashlib.sha256(data).hexdigest()] = types

    def adapter(self, project_version: str, data: bytes, entries: list[dict]) -> None:
        """What the Custom Moderation adapter `project_version` says about these bytes."""
        self.adapters.setdefault(project_version, {})[hashlib.sha256(data).hexdigest()] = entries

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
        features = request.get("Features") or ["GENERAL_LABELS"]
        settings = request.get("Settings") or {}
        labels = [
            self._shifted(lb) for lb in labels if _kept_by_filters(lb, settings.get("GeneralLabels") or {})
        ]
        kept = sorted(
            (lb for lb in labels if lb["Confidence"] >= min_confidence), key=lambda lb: -lb["Confidence"]
        )
        answer: dict[str, Any] = {"LabelModelVersion": self.model_version}
        if "GENERAL_LABELS" in features:
            answer["Labels"] = kept[:max_labels]
        if "IMAGE_PROPERTIES" in features:
            most = int((settings.get("ImageProperties") or {}).get("MaxDominantColors", 10))
            properties = self.properties.get(identity) or measured_properties(data)
            answer["ImageProperties"] = {
                **properties,
                "DominantColors": list(properties.get("DominantColors", []))[:most],
            }
        return answer

    def _shifted(self, entry: dict) -> dict:
        shift = self.shift.get(entry["Name"], 0.0) if isinstance(self.shift, dict) else self.shift
        if not shift:
            return entry
        return {**entry, "Confidence": min(100.0, max(0.0, entry["Confidence"] + shift))}

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


def _kept_by_filters(entry: dict, general: dict) -> bool:
    """GeneralLabels filters: kept when no inclusion filter is set or one matches, and no exclusion does."""
    name = entry["Name"]
    categories = {category["Name"] for category in entry.get("Categories") or ()}
    include_names = general.get("LabelInclusionFilters") or []
    include_categories = general.get("LabelCategoryInclusionFilters") or []
    if (include_names or include_categories) and not (
        name in include_names or categories.intersection(include_categories)
    ):
        return False
    if name in (general.get("LabelExclusionFilters") or []):
        return False
    return not categories.intersection(general.get("LabelCategoryExclusionFilters") or [])


def measured_properties(data: bytes | None) -> dict:
    """ImageProperties measured from the pixels (mean luminance, its spread, edge strength), 0-100."""
    import io

    import numpy as np
    from PIL import Image

    if data is None:
        return {"Quality": {"Brightness": 50.0, "Sharpness": 50.0, "Contrast": 50.0}, "DominantColors": []}
    with Image.open(io.BytesIO(data)) as image:
        rgb = np.asarray(image.convert("RGB"), dtype=np.float64)
    gray = rgb.mean(axis=2)
    edges = np.abs(np.diff(gray, axis=1)).mean() if gray.shape[1] > 1 else 0.0
    red, green, blue = (int(v) for v in rgb.reshape(-1, 3).mean(axis=0))
    return {
        "Quality": {
            "Brightness": round(float(gray.mean() / 255 * 100), 4),
            "Sharpness": round(float(min(100.0, edges)), 4),
            "Contrast": round(float(min(100.0, gray.std() / 128 * 100)), 4),
        },
        "DominantColors": [
            {
                "Red": red,
                "Green": green,
                "Blue": blue,
                "HexCode": f"#{red:02x}{green:02x}{blue:02x}",
                "SimplifiedColor": "red" if red >= max(green, blue) else "green" if green >= blue else "blue",
                "PixelPercent": 100.0,
            }
        ],
    }


def _moderation(fake: FakeRekognition, entries: list[dict], request: dict[str, Any]) -> dict[str, Any]:
    floor = float(request.get("MinConfidence", 50.0))  # the service's default: 50
    identity = hashlib.sha256(decode_image_bytes(request) or b"").hexdigest()
    answer: dict[str, Any] = {}
    project_version = request.get("ProjectVersion")
    if project_version:
        if project_version not in fake.adapters:
            raise ServiceError("ResourceNotFoundException", f"{project_version} does not exist")
        if project_version not in fake.expired:
            entries = fake.adapters[project_version].get(identity, entries)
            answer["ProjectVersion"] = project_version
    entries = [fake._shifted(entry) for entry in entries]
    return {
        "ModerationLabels": [entry for entry in entries if entry["Confidence"] >= floor],
        "ModerationModelVersion": fake.versions["DetectModerationLabels"],
        "ContentTypes": fake.content_types.get(identity, []),
        **answer,
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
