"""The images behind the numbers: each label's false positives and false negatives at its recommended
threshold, and small thumbnails of them for report.html.

A person trusts a threshold once they have seen what it gets wrong, so the page shows, per label, the most
confident false positives and the false negatives nearest the threshold (then those never returned), each
with its confidence and the boxes of the returned labels that count for it. Thumbnails are capped per
label and in total, and each image is embedded once however many labels it illustrates.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from evaluation.calls.runner import ANSWERED
from evaluation.errors import UserError
from evaluation.labelmap import LabelMap, normalize_name
from evaluation.operations.answers import LabelsAnswer
from evaluation.operations.label_columns import LazyAnswers

if TYPE_CHECKING:
    from evaluation.analysis import EvaluationResult

EXAMPLES_PER_KIND = 4  # false positives, and false negatives, shown per label
MAX_THUMBNAILS = 200  # distinct images embedded in one page, whatever the number of labels
THUMBNAIL_SIDE = 96  # px, the longer side
THUMBNAIL_QUALITY = 70  # JPEG

Box = tuple[float, float, float, float]  # left, top, width, height as ratios of the image size


@dataclass(frozen=True)
class ErrorExample:
    """One wrong image for one label: `confidence` is None when the label was never returned for it."""

    image: int  # position among the evaluated images (ScoredPairs.image_idx)
    confidence: float | None
    boxes: tuple[Box, ...] = ()


@dataclass(frozen=True)
class LabelErrors:
    """A label's errors at `threshold`: the totals, and the first few examples of each kind."""

    threshold: float | None
    false_positives: tuple[ErrorExample, ...]
    false_negatives: tuple[ErrorExample, ...]
    fp_total: int
    fn_total: int


def evaluated_images(result: EvaluationResult) -> list[str]:
    """The URIs of the evaluated images, in the order of the pairs' image_idx (the answered rows)."""
    return result.images.loc[result.images["status"].isin(ANSWERED), "image"].astype(str).tolist()


def positives_by_label(result: EvaluationResult) -> list[np.ndarray]:
    """Per label of the vocabulary, the evaluated images whose ground truth has it (as matching read it)."""
    assert result.positives is not None and result.pairs is not None
    image, label = result.positives
    if (image[1:] >= image[:-1]).all():  # image-major, as matching lists them: then lexsort's order is
        order = _label_order(label, result.pairs.n_labels)  # one stable sort of small integers
    else:
        order = np.lexsort((image, label))
    ends = np.cumsum(np.bincount(label, minlength=result.pairs.n_labels))
    return np.split(image[order].astype(np.int64), ends[:-1])


def _label_map(result: EvaluationResult) -> LabelMap:
    """The run's label map, to find which returned names count for a label; identity if it is gone."""
    path = (result.run.get("analysis") or {}).get("label_map")
    if not path:
        return LabelMap.identity()
    try:
        return LabelMap.load(path)
    except UserError:
        return LabelMap.identity()


def _boxes(answer: LabelsAnswer, targets: frozenset[str], use_parents: bool) -> tuple[Box, ...]:
    """The instance boxes of every returned label that counts as the dataset label (itself, or a child
    whose Parents or Aliases name it when parents count)."""
    boxes: list[Box] = []
    for predicted in answer.labels:
        names = {predicted.name}
        if use_parents:  # answers of other operations may have no hierarchy and no boxes
            names.update(getattr(predicted, "parents", ()), getattr(predicted, "aliases", ()))
        if any(normalize_name(name) in targets for name in names):
            boxes.extend(
                (round(b.left, 4), round(b.top, 4), round(b.width, 4), round(b.height, 4))
                for b in getattr(predicted, "instances", ())
            )
    return tuple(boxes)


def _most_confident(rows: np.ndarray, confidence: np.ndarray, image: np.ndarray, count: int) -> np.ndarray:
    """The `count` rows of highest confidence, ties by image, in that order: the rows at or above the
    count-th highest confidence (ties included) are the only ones sorted."""
    if rows.size > count > 0:
        values = confidence[rows]
        rows = rows[values >= np.partition(values, rows.size - count)[rows.size - count]]
    return rows[np.lexsort((image[rows], -confidence[rows]))][:count]


def _label_order(label: np.ndarray, n_labels: int) -> np.ndarray:
    """The stable order by label: one sort of small integers (16-bit when the labels fit)."""
    return np.argsort(label.astype(np.int16 if n_labels < 2**15 else np.int64), kind="stable")


def _by_label(rows: np.ndarray, label_idx: np.ndarray, n_labels: int) -> list[np.ndarray]:
    """Per label, its entries among `rows` (ascending), in their order."""
    label = label_idx[rows]
    ends = np.cumsum(np.bincount(label, minlength=n_labels))
    return np.split(rows[_label_order(label, n_labels)], ends[:-1])


def _box_finder(
    result: EvaluationResult, use_parents: bool
) -> Callable[[int, frozenset[str]], tuple[Box, ...]]:
    """`boxes(image, targets)`: the boxes of an image's returned labels that count for a dataset label
    whose names (normalised) are `targets`, as `_boxes` reads them from its answer. Answers held as
    columns (a run read back) are read there: each name normalised once, not once per answer shown."""
    answers = result.answers
    if not isinstance(answers, LazyAnswers):
        return lambda image, targets: _boxes(answers[image], targets, use_parents)
    columns = answers.columns
    codes: dict[str, list[int]] = {}
    for code, name in enumerate(columns.names):
        codes.setdefault(normalize_name(name), []).append(code)

    flags: dict[frozenset[str], np.ndarray] = {}  # per label's targets: which name codes count

    def boxes(image: int, targets: frozenset[str]) -> tuple[Box, ...]:
        if targets not in flags:
            flags[targets] = np.zeros(len(columns.names), dtype=bool)
            flags[targets][[code for name in targets for code in codes.get(name, ())]] = True
        found = columns.counting_boxes(image, flags[targets], through_parents=use_parents)
        return tuple(
            (round(left, 4), round(top, 4), round(width, 4), round(height, 4))
            for left, top, width, height in found.tolist()
        )

    return boxes


_PAIRS_PER_BLOCK = 1 << 20  # pairs judged at their label's threshold at a time


def label_errors(result: EvaluationResult, *, per_kind: int = EXAMPLES_PER_KIND) -> list[LabelErrors | None]:
    """Per label (in result.labels order), its errors at the recommended threshold.

    None where there is nothing to show: no pairs were kept, or the label has no threshold because it
    has no positives or the objective cannot be met. A label never returned has every positive as a
    false negative. False positives are the most confident first; false negatives the nearest below
    the threshold first, then those never returned.
    """
    pairs = result.pairs
    if pairs is None or result.positives is None or len(result.answers) != pairs.n_images:
        return [None] * len(result.labels)
    positives = positives_by_label(result)
    label_map = _label_map(result)
    boxes = _box_finder(result, bool((result.run.get("analysis") or {}).get("use_parents", True)))
    records = result.labels.to_dict("records")
    shown = [
        not (
            status in ("no-positives", "unreachable")
            or (math.isnan(threshold) and status != "no-predictions")
        )
        for status, threshold in ((row["status"], float(row["threshold"])) for row in records)
    ]
    # Each entry judged at its label's threshold (NaN, never predicted, for a label without one); then only
    # the wrong entries and the true ones are put label by label (stable: ascending within a label), not
    # every entry: a few hundred thousand of millions at 100,000 images.
    thresholds = np.full(pairs.n_labels, np.nan)
    thresholds[: len(records)] = [float(row["threshold"]) for row in records]
    predicted = np.empty(pairs.n_pairs, dtype=bool)
    for start in range(0, pairs.n_pairs, _PAIRS_PER_BLOCK):  # no float64 threshold per pair (0.2 GB at 28M)
        block = slice(start, start + _PAIRS_PER_BLOCK)
        predicted[block] = pairs.confidence[block] >= thresholds[pairs.label_idx[block]]
    false_positives, missed, true = (
        _by_label(np.flatnonzero(mask), pairs.label_idx, pairs.n_labels)
        for mask in (predicted & ~pairs.is_true, ~predicted & pairs.is_true, pairs.is_true)
    )
    confidence, image = pairs.confidence, pairs.image_idx

    out: list[LabelErrors | None] = []
    for index, row in enumerate(records):
        if not shown[index]:
            out.append(None)
            continue
        threshold = float(row["threshold"])
        threshold_or_none = None if math.isnan(threshold) else threshold
        fp_rows, missed_rows = false_positives[index], missed[index]  # missed: returned, but below it
        fp_first = _most_confident(fp_rows, confidence, image, per_kind)
        missed_first = _most_confident(missed_rows, confidence, image, per_kind)
        never = np.setdiff1d(positives[index], image[true[index]], assume_unique=True)
        targets = frozenset(normalize_name(name) for name in label_map.targets(row["label"]))

        def example(position: int, seen: float | None, targets: frozenset[str] = targets) -> ErrorExample:
            return ErrorExample(image=int(position), confidence=seen, boxes=boxes(int(position), targets))

        fps = [example(image[r], float(confidence[r])) for r in fp_first.tolist()]
        fns = [example(image[r], float(confidence[r])) for r in missed_first.tolist()]
        fns += [example(position, None) for position in never[: max(0, per_kind - len(fns))]]
        out.append(
            LabelErrors(
                threshold=threshold_or_none,
                false_positives=tuple(fps),
                false_negatives=tuple(fns),
                fp_total=int(fp_rows.size),
                fn_total=int(missed_rows.size + never.size),
            )
        )
    return out


def thumbnail_data_uri(
    path: str | Path, *, side: int = THUMBNAIL_SIDE, quality: int = THUMBNAIL_QUALITY
) -> str | None:
    """A small JPEG as a data: URI, so the page needs no file beside it; None when it cannot be read.

    EXIF orientation is applied, as people see the photo (and as DetectLabels reads it).
    """
    try:
        with Image.open(path) as image:
            image.draft("RGB", (side * 2, side * 2))  # JPEG: decode at a fraction of the size, much faster
            image = ImageOps.exif_transpose(image)
            image.thumbnail((side, side))
            buffer = io.BytesIO()
            image.convert("RGB").save(buffer, format="JPEG", quality=quality, optimize=True)
    except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError):
        return None
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def choose_thumbnails(
    errors: Sequence[LabelErrors | None],
    priority: Sequence[int],
    images: Sequence[str],
    *,
    limit: int = MAX_THUMBNAILS,
) -> dict[int, str]:
    """Thumbnails for the examples, labels in `priority` order, until `limit` distinct images are embedded.

    An image shared by several labels is embedded once. S3 images and files that cannot be read get no
    thumbnail (the page shows their name), and do not count against the limit.
    """
    thumbnails: dict[int, str] = {}
    tried: set[int] = set()
    for index in priority:
        entry = errors[index]
        if entry is None:
            continue
        for example in (*entry.false_positives, *entry.false_negatives):
            if len(thumbnails) >= limit:
                return thumbnails
            if example.image in tried:
                continue
            tried.add(example.image)
            uri = images[example.image]
            if uri.startswith("s3://"):
                continue
            data = thumbnail_data_uri(uri)
            if data is not None:
                thumbnails[example.image] = data
    return thumbnails
