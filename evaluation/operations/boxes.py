"""`--operation boxes`: the boxes DetectLabels returns as a label's Instances, against ground-truth boxes.

- API and request: DetectLabels with MinConfidence and MaxLabels, exactly as `labels` sends them, so
  both operations share one cached answer per image (the cache key is the API and its parameters).
- Limits: DetectLabels' (DETECT_LABELS_LIMITS).
- Adapter: `labels_from_detect_labels` (evaluation.operations.answers); each instance keeps its own
  confidence, which can differ from its label's.
- Ground truth: boxes per image, from a COCO JSON (crowd regions kept) or a Ground Truth detection
  manifest, as ratios of the image. A dataset label counts an instance of every Rekognition name the
  label map gives it (itself by default, compared without case); a parent's boxes are its own Instances
  only (Rekognition rarely boxes a parent), so map children with --label-map to box a parent.
- Scoring: evaluation.operations.detection (COCOeval's matching): precision and recall per label at
  every threshold at IoU 0.5; `ap` is COCO's AP at IoU 0.5 and `ap_50_95` COCO's AP averaged over IoU
  0.5:0.95; `ar_100` COCO's recall averaged over IoU. A threshold applies to the instance's confidence.
- Floor: as labels (the requested MinConfidence, the lowest label returned, MaxLabels truncation), read
  from label confidences. Every instance the answer has is kept, even one less confident than the
  lowest label returned (a Car at 60 can box a car at 40), so AP is COCOeval's on the whole answer; the
  counts per threshold start at the floor (matching is greedy by confidence, so instances below it never
  change a match above it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from evaluation.datasets import Dataset, DatasetItem
from evaluation.images import DETECT_LABELS_LIMITS
from evaluation.labelmap import LabelMap, normalize_name
from evaluation.operations.answers import LabelsAnswer, adapter_for, labels_from_detect_labels
from evaluation.operations.base import Operation, Scored, markdown_table, markdown_text, rounded
from evaluation.operations.detection import (
    IOU_THRESHOLDS,
    MAX_DETECTIONS,
    BoxSet,
    DetectionMatch,
    coco_average_precision,
    match_boxes,
    scored_pairs,
)
from evaluation.operations.labels import labels_floor

IOU_THRESHOLD = 0.5  # the IoU at which precision and recall per threshold are counted


class BoxesOperation(Operation):
    name = "boxes"
    api = "DetectLabels"
    limits = DETECT_LABELS_LIMITS
    needs = "ground-truth boxes: a COCO JSON or a Ground Truth object-detection manifest"
    backends = ("rekognition", "replay", "custom-labels")  # a Custom Labels model's objects are boxes

    def request(self, *, min_confidence: float, max_labels: int) -> dict[str, Any]:
        return {"MinConfidence": float(min_confidence), "MaxLabels": int(max_labels)}

    def read(self, response: Mapping[str, Any]) -> LabelsAnswer:
        return labels_from_detect_labels(response)

    def reader(self, api: str) -> Any:
        """DetectLabels' adapter, or DetectCustomLabels' for a Custom Labels model (its objects are boxes)."""
        return adapter_for(api)

    def ground_truth(self, item: DatasetItem) -> dict[str, Any]:
        return {
            "boxes": [
                [box.label, box.left, box.top, box.width, box.height, int(box.crowd)] for box in item.boxes
            ]
        }

    def has_ground_truth(self, dataset: Dataset) -> bool:
        return any(item.boxes for item in dataset.items)

    def vocabulary(self, declared: Sequence[str], truths: Sequence[Mapping[str, Any]]) -> tuple[str, ...]:
        if declared:
            return tuple(declared)
        names = {str(box[0]) for truth in truths for box in truth.get("boxes", ())}
        return tuple(sorted(names, key=lambda name: (normalize_name(name), name)))

    def floor(self, answers: Sequence[Any], request: Mapping[str, Any]) -> tuple[float, dict[str, Any]]:
        return labels_floor(answers, request)

    def score(
        self,
        answers: Sequence[LabelsAnswer],
        truths: Sequence[Mapping[str, Any]],
        *,
        images: Sequence[str],
        vocabulary: Sequence[str],
        label_map: LabelMap,
        use_parents: bool,
        floor: float,
    ) -> Scored:
        labels = tuple(vocabulary)
        targets = _targets(labels, label_map)
        detections, rows, unjudged = _detections(answers, targets, floor)
        truth_set, truth_rows = _truths(truths, labels)
        match = match_boxes(detections, truth_set, labels=labels, n_images=len(answers))
        coco = coco_average_precision(match)
        pairs, negatives = scored_pairs(match, floor=floor)
        ap50, _ = coco.at(IOU_THRESHOLD)
        ap = coco.ap_mean_over_iou
        recall = coco.recall_mean_over_iou
        supported = match.support > 0
        details = {
            "iou_threshold": IOU_THRESHOLD,
            "iou_thresholds_for_ap": [round(float(t), 2) for t in IOU_THRESHOLDS],
            "map_50": rounded(float(ap50[supported].mean())) if supported.any() else None,
            "map_50_95": rounded(float(ap[supported].mean())) if supported.any() else None,
            "mar_100": rounded(float(recall[supported].mean())) if supported.any() else None,
            "labels_with_boxes": int(supported.sum()),
            "ground_truth_boxes": int(match.support.sum()),
            "crowd_regions": int(truth_set.crowd.sum()),
            "detections": len(detections),
            "max_detections_per_image_and_label": MAX_DETECTIONS,
            "detections_beyond_max": match.dropped,
            "labels_never_boxed": [
                label for k, label in enumerate(labels) if supported[k] and not (match.label == k).any()
            ],
        }
        return Scored(
            pairs=pairs,
            ap=ap50,
            negatives=negatives,
            unjudged=unjudged,
            predictions=_predictions(match, rows, images, labels),
            label_columns={
                "ap_50_95": ap,
                "ar_100": recall,
                "boxes_returned": np.bincount(match.label, minlength=len(labels)),
            },
            tables={"boxes_missed": _missed(match, truth_rows, images, labels, floor)},
            details=details,
            markdown=tuple(_markdown(details, labels, ap50, ap, match.support)),
        )


def _targets(labels: Sequence[str], label_map: LabelMap) -> dict[str, list[int]]:
    """Rekognition name (normalised) -> the vocabulary labels its instances count for."""
    found: dict[str, list[int]] = {}
    for index, label in enumerate(labels):
        for name in label_map.targets(label):
            positions = found.setdefault(normalize_name(name), [])
            if index not in positions:
                positions.append(index)
    return found


def _detections(
    answers: Sequence[LabelsAnswer], targets: dict[str, list[int]], floor: float
) -> tuple[BoxSet, list[tuple[str, float, tuple[float, float, float, float]]], pd.DataFrame]:
    """Every instance the answers have, once per label it counts for, in answer order.

    None is dropped at the floor: the floor says which labels may be missing below it, not which boxes a
    returned label has, and COCOeval counts every detection it is given."""
    image, label, confidence, box = [], [], [], []
    rows: list[tuple[str, float, tuple[float, float, float, float]]] = []
    unjudged: dict[str, dict[str, Any]] = {}
    for position, answer in enumerate(answers):
        for predicted in answer.labels:
            claimed = targets.get(normalize_name(predicted.name), [])
            for instance in predicted.instances:
                geometry = (instance.left, instance.top, instance.width, instance.height)
                if not claimed:
                    entry = unjudged.setdefault(predicted.name, {"images": set(), "boxes": 0, "max": 0.0})
                    entry["images"].add(position)
                    entry["boxes"] += 1
                    entry["max"] = max(entry["max"], instance.confidence)
                for index in claimed:
                    image.append(position)
                    label.append(index)
                    confidence.append(instance.confidence)
                    box.append(geometry)
                    rows.append((predicted.name, instance.confidence, geometry))
    detections = BoxSet(
        np.asarray(image, dtype=np.int64),
        np.asarray(label, dtype=np.int64),
        np.asarray(box, dtype=np.float64).reshape(-1, 4),
        confidence=np.asarray(confidence, dtype=np.float64),
    )
    table = pd.DataFrame(
        [
            (name, len(entry["images"]), entry["boxes"], entry["max"])
            for name, entry in sorted(unjudged.items(), key=lambda item: (-len(item[1]["images"]), item[0]))
        ],
        columns=["name", "images", "boxes", "max_confidence"],
    )
    return detections, rows, table


def _truths(
    truths: Sequence[Mapping[str, Any]], labels: Sequence[str]
) -> tuple[BoxSet, list[tuple[int, str, tuple[float, ...], bool]]]:
    position = {normalize_name(label): index for index, label in enumerate(labels)}
    image, label, box, crowd = [], [], [], []
    rows = []
    for index, truth in enumerate(truths):
        for name, left, top, width, height, is_crowd, *_ in truth.get("boxes", ()):
            label_index = position.get(normalize_name(str(name)))
            if label_index is None:
                continue
            image.append(index)
            label.append(label_index)
            box.append((left, top, width, height))
            crowd.append(bool(is_crowd))
            rows.append((index, labels[label_index], (left, top, width, height), bool(is_crowd)))
    return (
        BoxSet(
            np.asarray(image, dtype=np.int64),
            np.asarray(label, dtype=np.int64),
            np.asarray(box, dtype=np.float64).reshape(-1, 4),
            crowd=np.asarray(crowd, dtype=bool),
        ),
        rows,
    )


def _predictions(
    match: DetectionMatch, rows: list[Any], images: Sequence[str], labels: Sequence[str]
) -> pd.DataFrame:
    """Every evaluated box and what it was at IoU 0.5: tp, fp, or crowd (inside a crowd region: ignored)."""
    outcome = np.where(match.ignored[0], "crowd", np.where(match.matched[0], "tp", "fp"))
    table = pd.DataFrame(
        {
            "image": [images[i] for i in match.image],
            "label": [labels[k] for k in match.label],
            "name": [rows[i][0] for i in match.source],
            "confidence": match.confidence,
            "left": [rows[i][2][0] for i in match.source],
            "top": [rows[i][2][1] for i in match.source],
            "width": [rows[i][2][2] for i in match.source],
            "height": [rows[i][2][3] for i in match.source],
            "iou": np.round(match.iou, 6),
            "outcome": outcome,
        },
        columns=["image", "label", "name", "confidence", "left", "top", "width", "height", "iou", "outcome"],
    )
    return table


def _missed(
    match: DetectionMatch,
    truth_rows: list[Any],
    images: Sequence[str],
    labels: Sequence[str],
    floor: float,
) -> pd.DataFrame:
    """Real ground-truth boxes no detection at or above the floor matched at IoU 0.5 (the misses at the
    lowest threshold evaluated)."""
    taken = np.zeros(len(truth_rows), dtype=bool)
    hits = match.truth[(match.truth >= 0) & (match.confidence >= floor)]
    taken[hits] = True
    missed = [
        (images[image], label, *box)
        for (image, label, box, crowd), was_taken in zip(truth_rows, taken, strict=True)
        if not crowd and not was_taken
    ]
    return pd.DataFrame(missed, columns=["image", "label", "left", "top", "width", "height"])


def _markdown(
    details: dict[str, Any], labels: Sequence[str], ap50: np.ndarray, ap: np.ndarray, support: np.ndarray
) -> list[str]:
    rows = [[label, int(support[k]), ap50[k], ap[k]] for k, label in enumerate(labels)]
    lines = [
        "## Boxes (COCO evaluation)",
        "",
        f"Boxes are matched to ground truth greedily by confidence, as COCO's evaluation does; precision "
        f"and recall per threshold count matches at IoU {details['iou_threshold']:g}. Mean AP over the "
        f"{details['labels_with_boxes']} label(s) with boxes: AP50 {_text(details['map_50'])}, "
        f"AP (IoU 0.5:0.95) {_text(details['map_50_95'])}, AR@100 {_text(details['mar_100'])}. "
        f"{details['ground_truth_boxes']} ground-truth box(es), {details['crowd_regions']} crowd region(s) "
        f"(detections inside them are ignored), {details['detections']} detection(s) evaluated.",
        "",
    ]
    if details["detections_beyond_max"]:
        lines += [
            f"{details['detections_beyond_max']} detection(s) beyond "
            f"{details['max_detections_per_image_and_label']} per image and label were not evaluated "
            "(COCO's limit).",
            "",
        ]
    if details["labels_never_boxed"]:
        lines += [
            "Never returned with a box (Rekognition gives Instances for some labels only): "
            + ", ".join(markdown_text(label) for label in details["labels_never_boxed"]),
            "",
        ]
    return [
        *lines,
        *markdown_table(["Label", "Boxes", "AP50", "AP 0.5:0.95"], rows),
        "",
        "`boxes_missed.csv` lists the ground-truth boxes no detection matched.",
        "",
    ]


def _text(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


OPERATION = BoxesOperation()
