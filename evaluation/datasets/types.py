"""The one shape every dataset reader returns, so nothing downstream knows which format it came from."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from evaluation.images import ImageRef

__all__ = [
    "FORMATS",
    "BadLine",
    "Dataset",
    "DatasetItem",
    "GroundTruthBox",
    "GroundTruthSegment",
    "GroundTruthText",
    "ImagePair",
]

FORMATS = ("manifest", "csv", "folders", "coco")


@dataclass(frozen=True)
class GroundTruthBox:
    """One labelled object, in ratios of the image size like Rekognition's BoundingBox.

    Ratios, not pixels, so boxes compare with Rekognition's without knowing the image size. Values are
    not clipped to [0, 1]: Rekognition's own boxes can reach a little outside the image too.
    """

    label: str
    left: float
    top: float
    width: float
    height: float
    # A COCO "iscrowd" region: one box around many objects. COCO's evaluation neither rewards nor punishes
    # detections inside it, and it never counts as a missed object.
    crowd: bool = False
    # What is known about the object beyond its box (a face's age, gender, emotion...), as the dataset
    # wrote it (COCO: an annotation's "attributes" object): scored where an operation estimates them.
    attributes: tuple[tuple[str, str | float | bool], ...] = ()

    def __post_init__(self) -> None:
        if not self.label:
            raise ValueError("a box needs a label")
        for name in ("left", "top", "width", "height"):
            if not math.isfinite(getattr(self, name)):
                raise ValueError(f"box {name} is not a finite number: {getattr(self, name)!r}")
        if self.width <= 0 or self.height <= 0:
            raise ValueError(f"box width and height must be positive, got {self.width} x {self.height}")


@dataclass(frozen=True)
class GroundTruthText:
    """A line of text in an image (DetectText's ground truth), with its box as ratios when it is known.

    Without a box the line still gives the image's words; with one it can be paired with a detected
    LINE, which is what a character error rate needs.
    """

    text: str
    box: tuple[float, float, float, float] | None = None  # left, top, width, height

    def __post_init__(self) -> None:
        if self.box is not None:
            if len(self.box) != 4 or not all(math.isfinite(value) for value in self.box):
                raise ValueError(
                    f"a text box needs four finite numbers (left, top, width, height): {self.box}"
                )
            if self.box[2] <= 0 or self.box[3] <= 0:
                raise ValueError(
                    f"text box width and height must be positive, got {self.box[2]} x {self.box[3]}"
                )


@dataclass(frozen=True)
class GroundTruthSegment:
    """A label present in a video from `start_ms` to `end_ms` (milliseconds from the start, end > start)."""

    label: str
    start_ms: int
    end_ms: int

    def __post_init__(self) -> None:
        if not self.label:
            raise ValueError("a segment needs a label")
        if self.start_ms < 0 or self.end_ms <= self.start_ms:
            raise ValueError(
                f"segment {self.label!r}: start_ms must be >= 0 and end_ms > start_ms, "
                f"got {self.start_ms} and {self.end_ms}"
            )


@dataclass(frozen=True)
class DatasetItem:
    """One image and its ground truth; an empty `labels` means "none of the labels" (a negative)."""

    image: ImageRef
    labels: frozenset[str]
    source: str
    boxes: tuple[GroundTruthBox, ...] = ()
    text: tuple[GroundTruthText, ...] = ()
    # A video's labels in time (video datasets with segments); `labels` then holds every segment's label.
    segments: tuple[GroundTruthSegment, ...] = ()
    # More columns a dataset gave the item (a face dataset's demographic group, an attack type): reports
    # slice by them.
    attributes: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class ImagePair:
    """Two items of a dataset (by position) and whether they show the same person: an explicit pair."""

    first: int
    second: int
    same: bool


@dataclass(frozen=True)
class BadLine:
    """A line (or, for folders, a file: line 0) that did not become an item, and why."""

    path: str
    line: int
    problem: str

    def __str__(self) -> str:
        if self.line <= 0:
            return f"{self.path}: {self.problem}"
        return f"{self.path}:{self.line}: {self.problem}"


@dataclass
class Dataset:
    """A labelled image set, whatever its format.

    `ignored_labels` counts, per label, the images on which a ground-truth label was dropped because a
    declared vocabulary left it out. `machine_labeled` counts the items with at least one label attribute
    marked `"human-annotated": "no"` (SageMaker Ground Truth's automated labeling): their ground truth came
    from a model, which a report should say. `ignored_files` lists the files of a folders dataset that are
    not images (by extension), so a stray file is visible without making the load partial: `bad_lines`
    is non-empty only when lines were skipped with `skip_bad_lines`. `warnings` says what a reader found
    and did not use (for folders: sub-folders whose names are not labels, label folders without images).
    """

    name: str
    source: str
    format: str
    items: list[DatasetItem]
    bad_lines: list[BadLine]
    vocabulary: tuple[str, ...]
    ignored_labels: dict[str, int] = field(default_factory=dict)
    machine_labeled: int = 0
    ignored_files: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    pairs: list[ImagePair] = field(default_factory=list)  # explicit pairs (image_a,image_b,same)

    def support(self) -> dict[str, int]:
        """Images per vocabulary label (positives); a label with none is still listed, with 0."""
        counts = dict.fromkeys(self.vocabulary, 0)
        for item in self.items:
            for label in item.labels:
                counts[label] = counts.get(label, 0) + 1
        return counts
