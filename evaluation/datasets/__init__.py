"""Labelled image sets: SageMaker Ground Truth / Custom Labels manifests, CSV files and label folders.

Every reader returns the same `Dataset`, so the rest of the harness never knows which format it read.
"""

from evaluation.datasets.loader import load_dataset
from evaluation.datasets.types import FORMATS, BadLine, Dataset, DatasetItem, GroundTruthBox

__all__ = ["FORMATS", "BadLine", "Dataset", "DatasetItem", "GroundTruthBox", "load_dataset"]
