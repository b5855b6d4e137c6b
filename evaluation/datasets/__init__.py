"""Labelled image sets: SageMaker Ground Truth / Custom Labels manifests, CSV files, label folders, COCO
object-detection JSON, text ground truth (`image,words` CSVs, manifests with `lines`) and videos
(`video,labels` CSVs, JSON Lines with `video` and `segments`).

Every reader returns the same `Dataset`, so the rest of the harness never knows which format it read.
"""

from evaluation.datasets.loader import load_dataset
from evaluation.datasets.types import (
    FORMATS,
    BadLine,
    Dataset,
    DatasetItem,
    GroundTruthBox,
    GroundTruthSegment,
    GroundTruthText,
)

__all__ = [
    "FORMATS",
    "BadLine",
    "Dataset",
    "DatasetItem",
    "GroundTruthBox",
    "GroundTruthSegment",
    "GroundTruthText",
    "load_dataset",
]
