"""COCO object-detection JSON (`images`, `annotations`, `categories`), as COCO and most tools write it.

Each image of `images[]` becomes one item; its boxes come from the `annotations[]` with its `image_id`,
named by `categories[]`. Decisions where the format leaves room:

- boxes are COCO pixels `[x, y, width, height]` from the top-left corner; they are stored as ratios of
  the image's `width` and `height` (from `images[]`), as Rekognition reports its own boxes. IoU does not
  depend on the scale, so matching in ratios gives COCOeval's numbers;
- `iscrowd: 1` marks a crowd region: the box is kept with `crowd=True` (COCOeval ignores detections that
  fall in it and never counts it as missed), and its category is an image-level label like any other;
- only `bbox` is read: segmentations and keypoints are not evaluated, and COCOeval's area ranges (small,
  medium, large) are not computed, so `area` is not needed;
- an image with no annotation is a negative (every detection on it is a false positive);
- items come in image-id order, the order COCOeval walks images in, so detections tied on confidence
  across images are taken in the same order and AP equals COCOeval's even with ties;
- `file_name` is resolved against the JSON's folder (or is absolute, or an s3:// URI);
- an annotation's optional `attributes` object (a face's "age", "gender", "emotion", "smile"...) is
  kept with its box: numbers, text and true/false only;
- an annotation that cannot be read (no such image or category, a box of zero width) makes its image a
  bad line (`line` is the position of the image in `images[]`, counted from 1), so an image never loses
  a box silently.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any

from evaluation.datasets.entries import Entry, ReaderOutput
from evaluation.datasets.sources import resolve_image
from evaluation.datasets.types import BadLine, DatasetItem, GroundTruthBox
from evaluation.errors import DatasetError

__all__ = ["looks_like_coco", "read_coco"]


def looks_like_coco(text: str) -> bool:
    """A COCO document is one JSON object with `images` and `annotations`; a manifest is one per line."""
    head = text.lstrip()[:65536]
    if not head.startswith("{") or '"source-ref"' in head:
        return False
    return '"images"' in head or '"annotations"' in head or '"categories"' in head


def read_coco(text: str, *, source: str, folder: str) -> Iterator[ReaderOutput]:
    """Parse a COCO JSON's text; a broken document stops the load, a broken annotation its image's line."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as err:
        raise DatasetError(f"{source}: invalid JSON: {err.msg} (line {err.lineno})") from None
    except RecursionError:
        raise DatasetError(f"{source}: invalid JSON: nested too deeply to read") from None
    if not isinstance(document, dict):
        raise DatasetError(f"{source}: a COCO file is one JSON object with images, annotations, categories")
    images = _list(document, "images", source)
    annotations = _list(document, "annotations", source, required=False)
    categories = _categories(_list(document, "categories", source), source)

    by_image: dict[Any, list[dict[str, Any]]] = {}
    for position, annotation in enumerate(annotations, start=1):
        if not isinstance(annotation, dict) or "image_id" not in annotation:
            raise DatasetError(f"{source}: annotations[{position}] is not an object with an image_id")
        by_image.setdefault(annotation["image_id"], []).append(annotation)

    known_ids = {image.get("id") for image in images if isinstance(image, dict)}
    orphans = [key for key in by_image if key not in known_ids]
    if orphans:
        raise DatasetError(
            f"{source}: {len(orphans)} image id(s) in annotations are not in images[], e.g. {orphans[0]!r}"
        )

    numbered = list(enumerate(images, start=1))
    numbered.sort(key=lambda pair: _sort_key(pair[1]))
    for line, image in numbered:
        where = f"{source}:images[{line}]"
        try:
            yield Entry(_item(image, by_image, categories, where, folder), line)
        except ValueError as problem:
            yield BadLine(source, line, f"images[{line}]: {problem}")


def _sort_key(image: Any) -> tuple[int, Any]:
    """Image-id order as COCOeval sorts ids (numbers), with anything odd last in file order."""
    identity = image.get("id") if isinstance(image, dict) else None
    if isinstance(identity, int | float) and not isinstance(identity, bool):
        return (0, identity)
    return (1, 0)


def _list(document: dict[str, Any], key: str, source: str, *, required: bool = True) -> list[Any]:
    value = document.get(key)
    if value is None and not required:
        return []
    if not isinstance(value, list):
        raise DatasetError(f'{source}: a COCO file needs a "{key}" list; found {type(value).__name__}')
    return value


def _categories(entries: list[Any], source: str) -> dict[Any, str]:
    names: dict[Any, str] = {}
    for position, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict) or "id" not in entry or not isinstance(entry.get("name"), str):
            raise DatasetError(f"{source}: categories[{position}] needs an id and a name")
        if not entry["name"].strip():
            raise DatasetError(f"{source}: categories[{position}] has an empty name")
        names[entry["id"]] = entry["name"].strip()
    return names


def _item(
    image: Any,
    by_image: dict[Any, list[dict[str, Any]]],
    categories: dict[Any, str],
    where: str,
    folder: str,
) -> DatasetItem:
    if not isinstance(image, dict):
        raise ValueError("not an object")
    file_name = image.get("file_name")
    if not isinstance(file_name, str):
        raise ValueError('no "file_name"')
    width, height = _positive(image.get("width"), "width"), _positive(image.get("height"), "height")
    boxes = tuple(
        _box(annotation, categories, width, height) for annotation in by_image.get(image.get("id"), ())
    )
    attributes = tuple(
        (str(key), str(value))
        for key, value in image.items()
        if key not in ("id", "file_name")
        and isinstance(value, (str, int, float))
        and not isinstance(value, bool)
    )
    return DatasetItem(
        resolve_image(file_name, folder),
        frozenset(box.label for box in boxes),
        where,
        boxes=boxes,
        attributes=attributes,
    )


def _positive(value: Any, name: str) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ValueError(f'"{name}" must be a positive number of pixels (boxes are read as ratios of it)')
    return float(value)


def _box(
    annotation: dict[str, Any], categories: dict[Any, str], width: float, height: float
) -> GroundTruthBox:
    identity = annotation.get("id", "?")
    category = annotation.get("category_id")
    if category not in categories:
        raise ValueError(f"annotation {identity}: category_id {category!r} is not in categories[]")
    bbox = annotation.get("bbox")
    if (
        not isinstance(bbox, list)
        or len(bbox) != 4
        or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in bbox)
    ):
        raise ValueError(f"annotation {identity}: bbox must be [x, y, width, height] in pixels")
    x, y, w, h = (float(v) for v in bbox)
    try:
        return GroundTruthBox(
            categories[category],
            x / width,
            y / height,
            w / width,
            h / height,
            crowd=bool(annotation.get("iscrowd", 0)),
            attributes=_attributes(annotation.get("attributes")),
        )
    except ValueError as problem:
        raise ValueError(f"annotation {identity}: {problem}") from None


def _attributes(raw: Any) -> tuple[tuple[str, str | float | bool], ...]:
    if raw is None:
        return ()
    if not isinstance(raw, dict):
        raise ValueError('"attributes" must be an object')
    kept = []
    for key, value in sorted(raw.items()):
        if isinstance(value, bool | str) or (isinstance(value, int | float) and math.isfinite(value)):
            kept.append((str(key), value if isinstance(value, bool | str) else float(value)))
    return tuple(kept)
