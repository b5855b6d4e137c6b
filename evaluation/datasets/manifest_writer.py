"""Write a Dataset as a SageMaker Ground Truth manifest that Rekognition Custom Labels imports.

So a dataset evaluated here can become a Custom Labels test (or training) set, and the manifest read back
(evaluation/datasets/manifest.py) gives the same images and labels. The shapes are the Custom Labels
guide's ("Image-level labels in manifest files", "Object localization in manifest files"):

- each image-level label is its own `groundtruth/image-classification` attribute with a `class-name`
  (the guide's way to give one image several labels);
- boxes are one `groundtruth/object-detection` attribute per line, in pixels, with `image_size` and a
  `class-map`; an image with no label in a detection set is a line with no boxes (0 boxes is allowed);
- an image with no label in a classification set has no documented form: it needs `negative_label`
  (a class such as "background") or it is refused, line by line.

Every line is checked against the documented limits (Custom Labels guide, "Guidelines and quotas" and
"Validation rules for manifest files"), and each problem names the manifest line and the dataset line it
came from. Class ids are manifest-wide (Custom Labels ignores them; labels are joined on names). Pixel
boxes are rounded to whole pixels, as Ground Truth writes them; `human-annotated` is always "yes".
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Any

from evaluation.datasets.types import Dataset, DatasetItem
from evaluation.errors import UserError
from evaluation.images import MB, ImageRef, image_dimensions, sniff_format

__all__ = ["LIMITS", "ManifestError", "ManifestProblem", "build_manifest", "image_size", "write_manifest"]

CLASSIFICATION = "groundtruth/image-classification"
DETECTION = "groundtruth/object-detection"
KINDS = ("auto", "classification", "detection")


@dataclass(frozen=True)
class Limits:
    """Rekognition Custom Labels' documented limits for a dataset manifest."""

    labels_per_image: int = 50
    boxes_per_image: int = 50
    labels_per_manifest: int = 250
    min_labels_classification: int = 2
    min_labels_detection: int = 1
    lines_per_manifest: int = 250_000
    manifest_bytes: int = 1024 * MB
    test_images_per_label: int = 1000  # "Testing: maximum number of images per label is 1000"
    min_side: int = 64
    max_side: int = 4096
    max_aspect_ratio: float = 20.0
    max_image_bytes: int = 15 * MB  # an image in S3
    formats: tuple[str, ...] = ("jpeg", "png")


LIMITS = Limits()


@dataclass(frozen=True)
class ManifestProblem:
    """One broken limit; `line` is the manifest line (0: the whole manifest), `source` the dataset's."""

    line: int
    source: str
    message: str
    severity: str = "error"

    def __str__(self) -> str:
        where = f"line {self.line} ({self.source})" if self.line else "manifest"
        return f"{self.severity}: {where}: {self.message}"


class ManifestError(UserError):
    """The manifest would break Custom Labels' limits; `manifest.errors` lists every problem."""

    def __init__(self, message: str, manifest: Manifest) -> None:
        super().__init__(message)
        self.manifest = manifest


@dataclass
class Manifest:
    """The lines to write and what was found while making them."""

    lines: list[str]
    kind: str
    labels: tuple[str, ...]
    problems: list[ManifestProblem] = field(default_factory=list)
    upload_root: str | None = None  # the local folder whose files go under --s3-prefix

    @property
    def errors(self) -> list[ManifestProblem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[ManifestProblem]:
        return [p for p in self.problems if p.severity == "warning"]

    @property
    def text(self) -> str:
        return "".join(line + "\n" for line in self.lines)


# --- image sizes ----------------------------------------------------------------------------------------

HEADER_BYTES = 512 * 1024  # enough for a JPEG's frame header behind large EXIF blocks


def image_size(ref: ImageRef, s3_client: Any = None) -> tuple[str | None, tuple[int, int] | None, int | None]:
    """(format, (width, height), file bytes) from the file's header; Nones when it cannot be read."""
    try:
        if ref.is_s3:
            if s3_client is None:
                return None, None, None
            response = s3_client.get_object(
                Bucket=ref.bucket, Key=ref.key, Range=f"bytes=0-{HEADER_BYTES - 1}"
            )
            head = response["Body"].read()
            total = response.get("ContentRange", "").rpartition("/")[2]
            size = int(total) if total.isdigit() else None
        else:
            size = ref.path.stat().st_size
            with ref.path.open("rb") as handle:
                head = handle.read(HEADER_BYTES)
    except Exception:  # a missing file or object is reported as "cannot read", not a crash
        return None, None, None
    image_format = sniff_format(head[:16])
    dimensions = image_dimensions(head, image_format) if image_format else None
    if dimensions is None and image_format == "jpeg" and not ref.is_s3 and size and size > HEADER_BYTES:
        dimensions = image_dimensions(ref.path.read_bytes(), image_format)
    return image_format, dimensions, size


# --- building -------------------------------------------------------------------------------------------


def _source_ref(ref: ImageRef, *, manifest_dir: Path, s3_prefix: str | None, root: str | None) -> str:
    if ref.is_s3:
        return ref.uri
    if s3_prefix is not None and root is not None:
        relative = PurePosixPath(*Path(os.path.relpath(ref.uri, root)).parts)
        return s3_prefix + str(relative)
    try:
        return PurePosixPath(*Path(os.path.relpath(ref.uri, manifest_dir)).parts).as_posix()
    except ValueError:  # another drive on Windows
        return ref.uri


def _kind(dataset: Dataset, kind: str) -> str:
    if kind not in KINDS:
        raise UserError(f"--kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if kind != "auto":
        return kind
    return "detection" if any(item.boxes for item in dataset.items) else "classification"


def build_manifest(
    dataset: Dataset,
    *,
    manifest_path: str | Path,
    s3_prefix: str | None = None,
    kind: str = "auto",
    negative_label: str | None = None,
    attribute: str = "rekognition-eval",
    purpose: str = "test",
    sizes: Callable[[ImageRef], tuple[str | None, tuple[int, int] | None, int | None]] | None = None,
    now: datetime | None = None,
    limits: Limits = LIMITS,
) -> Manifest:
    """The manifest's lines for `dataset`, and every problem with Custom Labels' limits, line by line."""
    if s3_prefix is not None:
        if not s3_prefix.startswith("s3://") or not s3_prefix[5:].partition("/")[0]:
            raise UserError(f"--s3-prefix must be s3://bucket/prefix/, got {s3_prefix!r}")
        s3_prefix = s3_prefix if s3_prefix.endswith("/") else s3_prefix + "/"
    chosen = _kind(dataset, kind)
    created = (now or datetime.now(timezone.utc)).strftime("%Y-%m-%dT%H:%M:%S.%f")
    sizes = sizes or image_size
    manifest_dir = Path(manifest_path).expanduser().resolve().parent
    local = [item.image.uri for item in dataset.items if not item.image.is_s3]
    root = os.path.commonpath([str(Path(uri).parent) for uri in local]) if local and s3_prefix else None
    names = sorted({label for item in dataset.items for label in item.labels} | {negative_label or ""} - {""})
    class_ids = {name: index for index, name in enumerate(names)}
    problems: list[ManifestProblem] = []
    lines: list[str] = []
    per_label: Counter[str] = Counter()
    buckets: Counter[str] = Counter()
    for number, item in enumerate(dataset.items, start=1):

        def problem(
            message: str, severity: str = "error", item: DatasetItem = item, number: int = number
        ) -> None:
            problems.append(ManifestProblem(number, item.source, message, severity))

        ref = _source_ref(item.image, manifest_dir=manifest_dir, s3_prefix=s3_prefix, root=root)
        if ref.startswith("s3://"):
            buckets[ref[5:].partition("/")[0]] += 1
        record: dict[str, Any] = {"source-ref": ref}
        image_format, dimensions, size = sizes(item.image)
        _check_image(item.image, image_format, dimensions, size, problem, limits)
        boxes = [box for box in item.boxes if not getattr(box, "crowd", False)]
        if len(boxes) < len(item.boxes):
            problem(
                f"{len(item.boxes) - len(boxes)} crowd region(s) left out: Custom Labels has none", "warning"
            )
        labels = set(item.labels)
        if not labels and not boxes and chosen == "classification":
            if negative_label is None:
                problem(
                    "no label: Custom Labels image-level datasets label every image; pass --negative-label "
                    "NAME (e.g. background) for images that have none of the labels"
                )
            else:
                labels = {negative_label}
        if len(labels) > limits.labels_per_image:
            problem(f"{len(labels)} labels, at most {limits.labels_per_image} per image")
        if len(boxes) > limits.boxes_per_image:
            problem(f"{len(boxes)} boxes, at most {limits.boxes_per_image} per image")
        per_label.update(labels)
        if chosen == "detection" and (boxes or not labels):
            if dimensions is None:
                problem("image size unknown (unreadable, or in S3 without a client): boxes need it in pixels")
            else:
                record[f"{attribute}-boxes"] = _detection_value(boxes, dimensions, class_ids, problem)
                record[f"{attribute}-boxes-metadata"] = {
                    "objects": [{"confidence": 1} for _ in boxes],
                    "class-map": {str(class_ids[b.label]): b.label for b in boxes},
                    "type": DETECTION,
                    "human-annotated": "yes",
                    "creation-date": created,
                    "job-name": f"labeling-job/{attribute}-boxes",
                }
        boxed = {box.label for box in boxes} if f"{attribute}-boxes" in record else set()
        for position, label in enumerate(sorted(labels - boxed)):
            name = f"{attribute}-class-{position}"
            record[name] = class_ids[label]
            record[f"{name}-metadata"] = {
                "confidence": 1,
                "job-name": f"labeling-job/{attribute}",
                "class-name": label,
                "human-annotated": "yes",
                "creation-date": created,
                "type": CLASSIFICATION,
            }
        if len(record) > 1:
            lines.append(json.dumps(record, ensure_ascii=False, separators=(",", ":")))
        else:
            lines.append("")  # placeholder keeps numbering; the line has an error already
    _check_manifest(lines, chosen, per_label, buckets, local, s3_prefix, purpose, problems, limits)
    return Manifest(
        lines=[line for line in lines if line],
        kind=chosen,
        labels=tuple(names),
        problems=problems,
        upload_root=root,
    )


def _detection_value(
    boxes: list, dimensions: tuple[int, int], class_ids: dict[str, int], problem: Callable
) -> dict:
    width, height = dimensions
    annotations = []
    for box in boxes:
        left, top = round(box.left * width), round(box.top * height)
        box_width, box_height = max(1, round(box.width * width)), max(1, round(box.height * height))
        if left < 0 or top < 0 or left + box_width > width or top + box_height > height:
            problem(f"box of {box.label!r} reaches outside the {width}x{height} image", "warning")
        annotations.append(
            {
                "class_id": class_ids[box.label],
                "top": top,
                "left": left,
                "width": box_width,
                "height": box_height,
            }
        )
    return {"image_size": [{"width": width, "height": height, "depth": 3}], "annotations": annotations}


def _check_image(
    ref: ImageRef,
    image_format: str | None,
    dimensions: tuple[int, int] | None,
    size: int | None,
    problem: Callable[..., None],
    limits: Limits,
) -> None:
    if size is None and not ref.is_s3:
        problem("cannot read the image file")
        return
    if image_format is not None and image_format not in limits.formats:
        problem(f"{image_format.upper()} image: Custom Labels accepts PNG and JPEG only")
    if size is not None and size > limits.max_image_bytes:
        problem(f"{size / MB:.1f} MB: at most {limits.max_image_bytes // MB} MB per image")
    if dimensions is None:
        return
    width, height = dimensions
    if min(width, height) < limits.min_side or max(width, height) > limits.max_side:
        problem(f"{width}x{height} px: Custom Labels takes {limits.min_side} to {limits.max_side} px a side")
    if max(width, height) > limits.max_aspect_ratio * min(width, height):
        problem(f"{width}x{height} px: the aspect ratio may be at most {limits.max_aspect_ratio:g}:1")


def _check_manifest(
    lines: list[str],
    kind: str,
    per_label: Counter[str],
    buckets: Counter[str],
    local: list[str],
    s3_prefix: str | None,
    purpose: str,
    problems: list[ManifestProblem],
    limits: Limits,
) -> None:
    def problem(message: str, severity: str = "error") -> None:
        problems.append(ManifestProblem(0, "", message, severity))

    labels = len(per_label)  # an item's labels include its boxes' labels
    least = limits.min_labels_classification if kind == "classification" else limits.min_labels_detection
    if labels > limits.labels_per_manifest:
        problem(f"{labels} distinct labels: at most {limits.labels_per_manifest} per manifest")
    if labels < least:
        problem(f"{labels} distinct label(s): a {kind} dataset needs at least {least}")
    if len(lines) > limits.lines_per_manifest:
        problem(f"{len(lines):,} lines: at most {limits.lines_per_manifest:,} per manifest")
    total = sum(len(line.encode("utf-8")) + 1 for line in lines)
    if total > limits.manifest_bytes:
        problem(f"{total / MB:,.0f} MB: a manifest may be at most 1 GB")
    if len(buckets) > 1:
        problem(f"images in {len(buckets)} buckets ({', '.join(sorted(buckets))}): all must be in one bucket")
    if local and s3_prefix is None:
        problem(
            f"{len(local)} image(s) are local paths: Custom Labels imports s3:// images only; pass "
            "--s3-prefix s3://bucket/prefix/ and upload the images there",
            "warning",
        )
    if purpose == "test":
        crowded = sorted(label for label, count in per_label.items() if count > limits.test_images_per_label)
        if crowded:
            problem(
                f"more than {limits.test_images_per_label} images for {', '.join(crowded[:5])}: the guide's "
                "limit of images per label in a test dataset",
                "warning",
            )


def write_manifest(dataset: Dataset, out: str | Path, **options: Any) -> Manifest:
    """Build, refuse on any error (each named by line), else write `out` atomically."""
    manifest = build_manifest(dataset, manifest_path=out, **options)
    if manifest.errors:
        raise ManifestError(
            f"{out}: not written: {len(manifest.errors)} problem(s) with Custom Labels' limits, the first: "
            f"{manifest.errors[0]}",
            manifest,
        )
    target = Path(out)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(target.name + ".tmp")
    temporary.write_text(manifest.text, encoding="utf-8")
    os.replace(temporary, target)
    return manifest
