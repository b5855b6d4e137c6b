"""Operations: what a run judges. `--operation labels|boxes|moderation|text|faces` (default labels).

Design. A run is plan -> fetch -> analyse whatever it judges; an operation decides only what differs:

- labels: DetectLabels, MinConfidence 0 and MaxLabels 1000; image labels in any dataset format.
- boxes: the same DetectLabels call (so the labels cache is reused); its Instances against boxes from a
  COCO JSON or a Ground Truth detection manifest.
- moderation: DetectModerationLabels, MinConfidence 0; image labels at any level of the taxonomy.
- text: DetectText, Filters.WordFilter.MinConfidence 0; words per image (an `image,words` CSV), or
  lines with boxes (a manifest with `lines`).
- faces: DetectFaces, Attributes ["ALL"] (it has no confidence filter); face boxes as for boxes.

Each module here says its API, request, ImageLimits, adapter (the only reader of its raw response) and
how its answers and the ground truth become `Scored`: ScoredPairs for the shared metrics (curves,
metrics.csv, recommendations, thresholds.yaml, report.html), plus what only it knows. `labels` keeps its
original path (evaluation.api.analyse, evaluation.operations.matching) untouched; the others go through
`evaluation.operations.analysis.analyse_operation`.

Backends: one client-backed backend calls any operation (evaluation.calls.backends.rekognition); the cache key
holds the API and every request parameter, so each operation's answers are cached apart, except boxes
and labels, which are one call. The ground truth an operation needs beyond image labels is written to
the run folder as ground_truth.jsonl, so `report RUN_DIR` recomputes a run without the dataset.
"""

from __future__ import annotations

from evaluation.errors import UserError
from evaluation.operations.base import Operation, Scored

OPERATIONS = ("labels", "boxes", "moderation", "text", "faces")

__all__ = ["OPERATIONS", "Operation", "Scored", "check_operation", "operation_for"]


def check_operation(name: str) -> str:
    if name not in OPERATIONS:
        raise UserError(f"unknown operation {name!r}; choose one of: {', '.join(OPERATIONS)}")
    return name


def operation_for(name: str) -> Operation:
    """The operation named by --operation (not labels: its path is evaluation.api.analyse)."""
    check_operation(name)
    if name == "boxes":
        from evaluation.operations.boxes import OPERATION
    elif name == "moderation":
        from evaluation.operations.moderation import OPERATION
    elif name == "text":
        from evaluation.operations.text import OPERATION
    elif name == "faces":
        from evaluation.operations.faces import OPERATION
    else:
        raise ValueError("labels is analysed by evaluation.api.analyse, not by an Operation")
    return OPERATION
