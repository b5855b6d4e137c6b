"""`--operation labels` (the default): image-level labels from DetectLabels (or a Custom Labels model).

- API and request: DetectLabels with MinConfidence (default 0) and MaxLabels (default 1000), so one call
  answers every threshold above the floor; a Custom Labels model answers through DetectCustomLabels.
- Adapter: `adapter_for(api)` (evaluation.operations.answers), by the API the run called.
- Ground truth: the item's image labels, kept in images.csv's `labels` column (no ground_truth.jsonl).
- Scoring: `match` (evaluation.operations.matching) turns answers into (image, label) pairs under the
  label map and the parents rule; pairs below the floor are dropped; AP is the pairs' own.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from evaluation.datasets import DatasetItem
from evaluation.images import DETECT_LABELS_LIMITS
from evaluation.labelmap import LabelMap, normalize_name
from evaluation.operations.answers import (
    LabelsAnswer,
    adapter_for,
    image_properties,
    labels_from_detect_labels,
)
from evaluation.operations.base import ChunkedFrame, Operation, Scored, confidence_floor
from evaluation.operations.label_columns import (
    LABELS_CODEC,
    LabelColumns,
    LazyAnswers,
    as_columns,
    predictions_chunks,
)
from evaluation.operations.matching import match
from evaluation.stats.metrics import ScoredPairs, average_precision

PARENTS_SEPARATOR = ";"


def encode_labels(labels: frozenset[str] | set[str]) -> str:
    """Ground-truth labels in one CSV cell: a JSON list, since a label name may contain any character."""
    return json.dumps(sorted(labels), ensure_ascii=False)


def decode_labels(text: str | None) -> frozenset[str]:
    if not text:
        return frozenset()
    return frozenset(json.loads(text))


class LabelsOperation(Operation):
    name = "labels"
    api = "DetectLabels"
    limits = DETECT_LABELS_LIMITS
    needs = "image labels"
    backends = ("rekognition", "replay", "local", "custom-labels")
    stores_ground_truth = False  # images.csv's labels column holds it
    codec = LABELS_CODEC  # the store keeps its answers as columns (evaluation.operations.label_columns)

    def request(self, *, min_confidence: float, max_labels: int) -> dict[str, Any]:
        return {"MinConfidence": float(min_confidence), "MaxLabels": int(max_labels)}

    def read(self, response: Mapping[str, Any]) -> LabelsAnswer:
        return labels_from_detect_labels(response)

    def reader(self, api: str) -> Any:
        return adapter_for(api)

    def answers_from_columns(self, columns: Any) -> LazyAnswers:
        """The run's answers from the store's columns (evaluation.calls.cache.Columns)."""
        return LazyAnswers(LabelColumns.from_store(columns))

    def ground_truth(self, item: DatasetItem) -> dict[str, Any]:
        return {"labels": sorted(item.labels)}

    def truths(self, images: pd.DataFrame, ground_truth: Sequence[Mapping[str, Any]]) -> list[Any]:
        """Each row's labels; rows of the same text share one (immutable) set: images repeat a few
        combinations of labels, and a set of new strings per image is gigabytes at a million."""
        decoded: dict[Any, frozenset[str]] = {}
        return [
            decoded[text] if text in decoded else decoded.setdefault(text, decode_labels(text))
            for text in images["labels"]
        ]

    def vocabulary(self, declared: Sequence[str], truths: Sequence[Any]) -> tuple[str, ...]:
        if declared:
            return tuple(declared)
        return tuple(sorted({label for truth in truths for label in truth}))

    def floor(self, answers: Sequence[Any], request: Mapping[str, Any]) -> tuple[float, dict[str, Any]]:
        return labels_floor(answers, request)

    def summary_request(self, request: Mapping[str, Any]) -> dict[str, Any]:
        production = {key: request[key] for key in ("Features", "Settings") if key in request}
        return {
            "MinConfidence": request.get("MinConfidence"),
            "MaxLabels": request.get("MaxLabels"),
            **production,
        }

    def image_columns(self, response: Mapping[str, Any], request: Mapping[str, Any]) -> dict[str, Any]:
        return image_properties(response)

    def describes_images(self, request: Mapping[str, Any]) -> bool:
        return "IMAGE_PROPERTIES" in (request.get("Features") or ())

    def label_categories(
        self, answers: Sequence[LabelsAnswer], vocabulary: Sequence[str], label_map: LabelMap
    ) -> dict[str, tuple[str, ...]]:
        """Each dataset label's Rekognition Categories, from the answers of the names that count for it."""

        by_name: dict[str, set[str]] = {}
        for answer in answers:
            for predicted in answer.labels:
                if predicted.categories:
                    by_name.setdefault(normalize_name(predicted.name), set()).update(predicted.categories)
        found = {}
        for label in vocabulary:
            categories: set[str] = set()
            for target in label_map.targets(label):
                categories |= by_name.get(normalize_name(target), set())
            found[label] = tuple(sorted(categories))
        return found

    def score(
        self,
        answers: Sequence[LabelsAnswer],
        truths: Sequence[Any],
        *,
        images: Sequence[str],
        vocabulary: Sequence[str],
        label_map: LabelMap,
        use_parents: bool,
        floor: float,
    ) -> Scored:
        columns = as_columns(answers)
        matched = match(
            columns, truths, vocabulary=vocabulary, label_map=label_map, use_parents=use_parents, floor=floor
        )
        pairs = above(matched.pairs, floor)
        return Scored(
            pairs=pairs,
            ap=average_precision(pairs),
            unjudged=matched.unjudged,
            predictions=predictions_table(images, columns),
            image_level=True,
            positives=matched.positives,
        )


def labels_floor(
    answers: Sequence[LabelsAnswer] | LabelColumns, request: Mapping[str, Any]
) -> tuple[float, dict[str, Any]]:
    """The confidence floor of label answers: an answer cut at MaxLabels (MaxResults for Custom Labels)
    is complete only down to its own lowest confidence (see `confidence_floor`)."""
    max_labels = int(request.get("MaxLabels") or request.get("MaxResults") or 1000)
    columns = as_columns(answers)
    lowest = columns.lowest_confidence()
    answered = ~np.isnan(lowest)
    truncated = answered & (columns.returned() >= max_labels)
    return confidence_floor(
        lowest[answered].tolist(),
        lowest[truncated].tolist(),
        requested=float(request.get("MinConfidence", 0.0) or 0.0),
    )


def above(pairs: ScoredPairs, floor: float) -> ScoredPairs:
    keep = pairs.confidence >= floor
    if keep.all():
        return pairs
    return ScoredPairs(
        labels=pairs.labels,
        n_images=pairs.n_images,
        support=pairs.support,
        label_idx=pairs.label_idx[keep],
        image_idx=pairs.image_idx[keep],
        confidence=pairs.confidence[keep],
        is_true=pairs.is_true[keep],
        floor=floor,
    )


PREDICTIONS_COLUMNS = ("image", "label", "confidence", "parents", "instances")


def predictions_table(images: Sequence[str], answers: Sequence[LabelsAnswer] | LabelColumns) -> ChunkedFrame:
    """predictions.csv: one row per label an answer returned, made (and written) in bounded chunks."""
    columns = as_columns(answers)
    if len(images) != len(columns):
        raise ValueError(f"{len(images)} images for {len(columns)} answers")
    return ChunkedFrame(
        PREDICTIONS_COLUMNS,
        lambda: predictions_chunks(images, columns, separator=PARENTS_SEPARATOR),
    )


OPERATION = LabelsOperation()
