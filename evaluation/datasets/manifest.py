"""SageMaker Ground Truth / Rekognition Custom Labels manifests (JSON Lines).

Each line has a `source-ref` and one or more label attributes: a key K for which a `K-metadata` object also
exists. Three attribute types carry image labels:

- `groundtruth/image-classification`: `K` is a class id, the label is the metadata's `class-name`;
- `groundtruth/image-classification-multilabel`: `K` is a list of class ids, named by `class-map`;
- `groundtruth/object-detection`: `K` holds `image_size` and pixel `annotations`; the image's labels are
  the names (from `class-map`) of its boxes, and the boxes become ratios of the image size.

Class ids are local to a line (two lines may number the same class differently), so labels are always
taken from `class-name` / `class-map`, never from the id. A line's labels are the union over its label
attributes. Decisions where the formats leave room:

- metadata without `type` is read by the shape of the value (an id, a list, or an object with
  `annotations`); attributes of other types (label verification, semantic segmentation...) carry no image
  labels and are skipped, but a line with no usable label attribute at all is a bad line, so a misspelt
  `-metadata` key cannot turn an image into a silent negative;
- a `failure-reason` in any metadata (Ground Truth could not label the image) makes the line bad: its
  ground truth is unknown, and counting it as "no labels" would invent false positives;
- `"human-annotated": "no"` (automated labeling) is kept, and counted in `Dataset.machine_labeled`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator

from evaluation.datasets.entries import Entry, ReaderOutput
from evaluation.datasets.sources import resolve_image
from evaluation.datasets.types import BadLine, DatasetItem, GroundTruthBox

__all__ = ["read_manifest"]

SINGLE_LABEL = "groundtruth/image-classification"
MULTI_LABEL = "groundtruth/image-classification-multilabel"
DETECTION = "groundtruth/object-detection"
_METADATA_SUFFIX = "-metadata"


class _LineProblem(ValueError):
    """Why one line cannot be read; its message becomes the BadLine's problem."""


def read_manifest(text: str, *, source: str, folder: str) -> Iterator[ReaderOutput]:
    """Parse a manifest's text; `source` names it in messages, `folder` resolves relative `source-ref`s."""
    for number, raw_line in enumerate(text.split("\n"), start=1):
        # split on "\n" only: str.splitlines() would also split inside JSON strings holding U+2028 etc.
        line = raw_line.strip()
        if not line:
            continue
        try:
            item, machine_labeled = _parse_line(line, f"{source}:{number}", folder)
        except _LineProblem as problem:
            yield BadLine(source, number, str(problem))
            continue
        except RecursionError:  # a value nested just shallow enough to parse, too deep to walk or print
            yield BadLine(source, number, "nested too deeply to read")
            continue
        yield Entry(item, number, machine_labeled)


def _parse_line(line: str, where: str, folder: str) -> tuple[DatasetItem, bool]:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as err:
        hint = " (one JSON object per line: is this pretty-printed JSON?)" if line in ("{", "[") else ""
        raise _LineProblem(f"invalid JSON: {err.msg} (column {err.colno}){hint}") from None
    except RecursionError:
        raise _LineProblem("invalid JSON: nested too deeply to read") from None
    if not isinstance(record, dict):
        raise _LineProblem(f"expected a JSON object per line (JSON Lines), found a {_json_type(record)}")
    if "source-ref" not in record:
        raise _LineProblem('no "source-ref"')
    source_ref = record["source-ref"]
    if not isinstance(source_ref, str):
        raise _LineProblem(f'"source-ref" is a {_json_type(source_ref)}, not a string')
    try:
        image = resolve_image(source_ref, folder)
    except ValueError as err:
        raise _LineProblem(f'"source-ref": {err}') from None

    labels: set[str] = set()
    boxes: list[GroundTruthBox] = []
    read_any = False
    skipped: list[str] = []
    machine_labeled = False
    for attribute in _label_attributes(record):
        metadata = record[attribute + _METADATA_SUFFIX]
        kind = _attribute_kind(attribute, record.get(attribute), metadata)
        if kind is None:
            skipped.append(f'"{attribute}" ({metadata.get("type")})')
            continue
        value = record[attribute]
        if kind == SINGLE_LABEL:
            labels.add(_single_label(attribute, value, metadata))
        elif kind == MULTI_LABEL:
            labels.update(_multi_label(attribute, value, metadata))
        else:
            attribute_boxes = _detection(attribute, value, metadata)
            boxes.extend(attribute_boxes)
            labels.update(box.label for box in attribute_boxes)
        read_any = True
        machine_labeled = machine_labeled or str(metadata.get("human-annotated", "")).lower() == "no"
    if not read_any:
        if skipped:
            raise _LineProblem(
                f"no image-label attribute; skipped attributes of other types: {', '.join(skipped)}"
            )
        raise _LineProblem('no label attribute (a key "K" with a "K-metadata" object)')
    attributes = tuple(
        (str(key), _attribute_text(value))
        for key, value in record.items()
        if key != "source-ref"
        and not key.endswith(_METADATA_SUFFIX)
        and f"{key}{_METADATA_SUFFIX}" not in record
        and (value is None or isinstance(value, (str, int, float, bool)))
    )
    return DatasetItem(image, frozenset(labels), where, tuple(boxes), attributes=attributes), machine_labeled


def _attribute_text(value: object) -> str:
    """A manifest's plain attribute as text (a slice key): JSON's spelling for numbers and booleans."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _label_attributes(record: dict[str, object]) -> list[str]:
    """Keys K with a K-metadata object, checked for the ways Ground Truth marks a failed or broken label."""
    attributes = []
    for key, metadata in record.items():
        if not key.endswith(_METADATA_SUFFIX) or key == "source-ref" + _METADATA_SUFFIX:
            continue
        attribute = key[: -len(_METADATA_SUFFIX)]
        if not isinstance(metadata, dict):
            raise _LineProblem(f'"{key}" is a {_json_type(metadata)}, not an object')
        if "failure-reason" in metadata:
            raise _LineProblem(f'labeling failed for "{attribute}": {metadata["failure-reason"]}')
        if attribute not in record:
            raise _LineProblem(f'"{key}" without "{attribute}"')
        attributes.append(attribute)
    return attributes


def _attribute_kind(attribute: str, value: object, metadata: dict[str, object]) -> str | None:
    """The attribute's type: declared, or read from the value's shape; None for types without image labels."""
    declared = metadata.get("type")
    if declared is not None:
        return declared if declared in (SINGLE_LABEL, MULTI_LABEL, DETECTION) else None
    if isinstance(value, dict) and "annotations" in value:
        return DETECTION
    if isinstance(value, list):
        return MULTI_LABEL
    if _class_id(value) is not None:
        return SINGLE_LABEL
    raise _LineProblem(
        f'"{attribute}": no "type" in its metadata, and its value is not a class id, a list or boxes'
    )


def _single_label(attribute: str, value: object, metadata: dict[str, object]) -> str:
    if _class_id(value) is None:
        raise _LineProblem(f'"{attribute}": expected a class id, found {_short(value)}')
    return _class_name(metadata.get("class-name"), f'"{attribute}-metadata" has no "class-name"', attribute)


def _multi_label(attribute: str, value: object, metadata: dict[str, object]) -> set[str]:
    if not isinstance(value, list):
        raise _LineProblem(f'"{attribute}": expected a list of class ids, found {_short(value)}')
    class_map = _class_map(attribute, metadata)
    return {_lookup(attribute, class_id, class_map) for class_id in value}


def _detection(attribute: str, value: object, metadata: dict[str, object]) -> list[GroundTruthBox]:
    if not isinstance(value, dict):
        raise _LineProblem(f'"{attribute}": expected an object with "image_size" and "annotations"')
    width, height = _image_size(attribute, value.get("image_size"))
    annotations = value.get("annotations")
    if not isinstance(annotations, list):
        raise _LineProblem(f'"{attribute}": "annotations" is missing or not a list')
    class_map = _class_map(attribute, metadata) if annotations else {}
    boxes = []
    for index, annotation in enumerate(annotations):
        where = f'"{attribute}": annotation {index}'
        if not isinstance(annotation, dict):
            raise _LineProblem(f"{where} is not an object")
        label = _lookup(attribute, annotation.get("class_id"), class_map)
        numbers = {}
        for name in ("left", "top", "width", "height"):
            number = _number(annotation.get(name))
            if number is None:
                raise _LineProblem(f'{where}: "{name}" is missing or not a number')
            numbers[name] = number
        if numbers["width"] <= 0 or numbers["height"] <= 0:
            raise _LineProblem(
                f"{where}: width and height must be positive, found "
                f"{numbers['width']:g} x {numbers['height']:g} pixels"
            )
        try:
            boxes.append(
                GroundTruthBox(
                    label=label,
                    left=numbers["left"] / width,
                    top=numbers["top"] / height,
                    width=numbers["width"] / width,
                    height=numbers["height"] / height,
                )
            )
        except ValueError as err:
            raise _LineProblem(f"{where}: {err}") from None
    return boxes


def _image_size(attribute: str, image_size: object) -> tuple[float, float]:
    size = image_size[0] if isinstance(image_size, list) and image_size else image_size
    width = _number(size.get("width")) if isinstance(size, dict) else None
    height = _number(size.get("height")) if isinstance(size, dict) else None
    if width is None or height is None or width <= 0 or height <= 0:
        raise _LineProblem(
            f'"{attribute}": "image_size" must be [{{"width": ..., "height": ...}}] in pixels, '
            f"found {_short(image_size)}"
        )
    return width, height


def _class_map(attribute: str, metadata: dict[str, object]) -> dict[str, object]:
    class_map = metadata.get("class-map")
    if not isinstance(class_map, dict):
        raise _LineProblem(f'"{attribute}-metadata" has no "class-map" object')
    return class_map


def _lookup(attribute: str, class_id: object, class_map: dict[str, object]) -> str:
    number = _class_id(class_id)
    if number is None:
        raise _LineProblem(f'"{attribute}": class id {_short(class_id)} is not an integer')
    if str(number) not in class_map:
        raise _LineProblem(f'"{attribute}": class id {number} is not in its "class-map"')
    return _class_name(class_map[str(number)], f'"{attribute}": class id {number} has no name', attribute)


def _class_name(name: object, missing: str, attribute: str) -> str:
    if name is None:
        raise _LineProblem(missing)
    if not isinstance(name, str) or not name.strip():
        raise _LineProblem(f'"{attribute}": class name {_short(name)} is not a non-empty string')
    return name.strip()


def _class_id(value: object) -> int | None:
    """Ground Truth writes ids as numbers, but label verification jobs write them as strings ("1")."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _json_type(value: object) -> str:
    names = {dict: "object", list: "list", str: "string", bool: "boolean", type(None): "null"}
    return names.get(type(value), "number")


def _short(value: object, limit: int = 60) -> str:
    text = json.dumps(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
