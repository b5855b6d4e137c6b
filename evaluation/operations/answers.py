"""The only code that reads raw Rekognition responses.

Everything downstream works on these small frozen types, so a change in the service's response shape
(new fields, old answers with OrientationCorrection, labels without Instances) is handled here once.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from evaluation.errors import UserError


@dataclass(frozen=True)
class PredictedBox:
    """One instance of a label: a box as ratios of the image size, with its own confidence."""

    left: float
    top: float
    width: float
    height: float
    confidence: float


@dataclass(frozen=True)
class PredictedLabel:
    name: str
    confidence: float
    parents: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    instances: tuple[PredictedBox, ...] = ()


@dataclass(frozen=True)
class LabelsAnswer:
    """What DetectLabels said about one image."""

    labels: tuple[PredictedLabel, ...]
    model_version: str | None
    entries: int | None = None  # raw entries the service returned, where one name may repeat (Custom Labels)

    @property
    def lowest_confidence(self) -> float | None:
        return min((label.confidence for label in self.labels), default=None)

    def is_truncated(self, max_labels: int) -> bool:
        """MaxLabels cuts silently: an answer with exactly MaxLabels labels may have lost some below."""
        return (self.entries if self.entries is not None else len(self.labels)) >= max_labels


class ResponseShapeError(ValueError):
    """A stored or received response that is not a DetectLabels answer."""


def _names(entries: Any, field: str) -> tuple[str, ...]:
    if not entries:
        return ()
    # dict first: isinstance against the Mapping ABC costs microseconds, a million answers have 60 million
    return tuple(str(entry["Name"]) for entry in entries if _is_mapping(entry) and "Name" in entry)


def _is_mapping(value: Any) -> bool:
    return type(value) is dict or isinstance(value, Mapping)


def _box(instance: Mapping[str, Any], label_confidence: float) -> PredictedBox | None:
    box = instance.get("BoundingBox")
    if not isinstance(box, Mapping):
        return None
    return PredictedBox(
        left=float(box.get("Left", 0.0)),
        top=float(box.get("Top", 0.0)),
        width=float(box.get("Width", 0.0)),
        height=float(box.get("Height", 0.0)),
        confidence=float(instance.get("Confidence", label_confidence)),
    )


def _label(raw: Mapping[str, Any]) -> PredictedLabel:
    try:
        name = str(raw["Name"])
        confidence = float(raw["Confidence"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ResponseShapeError(f"label without a Name and a numeric Confidence: {raw!r}") from exc
    boxes = tuple(
        box
        for box in (_box(instance, confidence) for instance in raw.get("Instances") or ())
        if box is not None
    )
    return PredictedLabel(
        name=name,
        confidence=confidence,
        parents=_names(raw.get("Parents"), "Parents"),
        aliases=_names(raw.get("Aliases"), "Aliases"),
        categories=_names(raw.get("Categories"), "Categories"),
        instances=boxes,
    )


def labels_from_detect_labels(response: Mapping[str, Any]) -> LabelsAnswer:
    """Read a DetectLabels response (as boto3 returns it, or as stored JSON)."""
    if not isinstance(response, Mapping) or not isinstance(response.get("Labels", []), Sequence):
        raise ResponseShapeError("a DetectLabels response must be an object with a Labels list")
    labels = tuple(_label(raw) for raw in response.get("Labels", []))
    version = response.get("LabelModelVersion")
    return LabelsAnswer(labels=labels, model_version=str(version) if version is not None else None)


def labels_from_detect_custom_labels(response: Mapping[str, Any]) -> LabelsAnswer:
    """Read a DetectCustomLabels response: {"CustomLabels": [{"Name", "Confidence", "Geometry"?}]}.

    An object-detection model returns one entry per object, so a name can repeat: the image-level label
    takes the highest confidence (the image is predicted at a threshold when any of its objects is), and
    every box is kept as an instance with its own confidence. The service's answer names no model; the
    custom-labels backend records the ProjectVersionArn that answered beside it, read here as the version.
    """
    entries = response.get("CustomLabels", []) if isinstance(response, Mapping) else None
    if not isinstance(entries, Sequence) or isinstance(entries, str):
        raise ResponseShapeError("a DetectCustomLabels response must be an object with a CustomLabels list")
    best: dict[str, float] = {}
    boxes: dict[str, list[PredictedBox]] = {}
    for raw in entries:
        if not isinstance(raw, Mapping):
            raise ResponseShapeError(f"custom label is not an object: {raw!r}")
        try:
            name, confidence = str(raw["Name"]), float(raw["Confidence"])
        except (KeyError, TypeError, ValueError) as exc:
            problem = f"custom label without a Name and a numeric Confidence: {raw!r}"
            raise ResponseShapeError(problem) from exc
        best[name] = max(confidence, best.get(name, confidence))
        geometry = raw.get("Geometry")
        box = _box(geometry, confidence) if isinstance(geometry, Mapping) else None  # the object's own
        if box is not None:
            boxes.setdefault(name, []).append(box)
    labels = tuple(
        PredictedLabel(name=name, confidence=confidence, instances=tuple(boxes.get(name, ())))
        for name, confidence in sorted(best.items(), key=lambda item: (-item[1], item[0]))
    )
    version = response.get("ProjectVersionArn")
    return LabelsAnswer(labels=labels, model_version=str(version) if version else None, entries=len(entries))


# Operation (the API name a backend reports) -> the adapter that reads its image-level label answers.
# A backend whose answers are image-level labels registers its reader here; analysis picks it by the
# operation recorded with the run, so stored answers are always read by the adapter that fits them.
LABEL_ADAPTERS: dict[str, Callable[[Mapping[str, Any]], LabelsAnswer]] = {
    "DetectLabels": labels_from_detect_labels,
}
LABEL_ADAPTERS["DetectCustomLabels"] = labels_from_detect_custom_labels


def adapter_for(operation: str) -> Callable[[Mapping[str, Any]], LabelsAnswer]:
    try:
        return LABEL_ADAPTERS[operation]
    except KeyError:
        known = ", ".join(sorted(LABEL_ADAPTERS))
        raise ValueError(f"no label adapter for operation {operation!r} (known: {known})") from None


QUALITY_COLUMNS = ("brightness", "sharpness", "contrast")


def image_properties(response: Mapping[str, Any]) -> dict[str, Any]:
    """DetectLabels' ImageProperties (asked with Features IMAGE_PROPERTIES) as images.csv columns:
    Quality's brightness, sharpness and contrast (0-100), and the dominant colours' simplified names, most
    of the image first; {} when the answer has none."""
    properties = response.get("ImageProperties") if isinstance(response, Mapping) else None
    if not isinstance(properties, Mapping):
        return {}
    quality = properties.get("Quality") or {}
    columns: dict[str, Any] = {}
    for name in QUALITY_COLUMNS:
        value = quality.get(name.capitalize()) if isinstance(quality, Mapping) else None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            columns[name] = round(float(value), 4)
    colors = [c for c in properties.get("DominantColors") or () if isinstance(c, Mapping)]
    colors.sort(key=lambda c: -float(c.get("PixelPercent") or 0.0))
    names = [str(c.get("SimplifiedColor") or c.get("CSSColor") or c.get("HexCode") or "") for c in colors]
    names = [name for name in dict.fromkeys(names) if name]
    if names:
        columns["dominant_color"] = names[0]
        columns["dominant_colors"] = ";".join(names)
    return columns


DEFAULT_QUALITY_BINS = (0.0, 25.0, 50.0, 75.0, 100.0)


def slice_keys(keys: Sequence[str] | str | None) -> tuple[str, ...]:
    """--slice KEY (repeatable), each once, in the order given."""
    keys = [keys] if isinstance(keys, str) else list(keys or ())
    return tuple(dict.fromkeys(str(key).strip() for key in keys if str(key).strip()))


def quality_bins_from(
    value: Sequence[float] | str | None, default: tuple[float, ...] = DEFAULT_QUALITY_BINS
) -> tuple[float, ...]:
    """--quality-bins 0,40,70,100: increasing edges within 0-100 (ImageProperties' Quality scale)."""
    if value is None:
        return default
    parts = value.split(",") if isinstance(value, str) else list(value)
    try:
        edges = tuple(float(part) for part in parts)
    except (TypeError, ValueError):
        raise UserError(
            f"--quality-bins must be numbers separated by commas, e.g. 0,40,70,100; got {value!r}"
        ) from None
    if len(edges) < 2 or any(b <= a for a, b in itertools.pairwise(edges)):
        raise UserError(
            f"--quality-bins needs at least two increasing edges, e.g. 0,40,70,100; got {value!r}"
        )
    return edges
