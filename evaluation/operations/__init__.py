"""Operations: what a run judges. `--operation labels|boxes|moderation|text|faces` (default labels).

A run is plan -> fetch -> analyse whatever it judges; an operation decides only what differs:

- labels: DetectLabels, MinConfidence 0 and MaxLabels 1000; image labels in any dataset format.
- boxes: the same DetectLabels call (so the labels cache is reused); its Instances against boxes from a
  COCO JSON or a Ground Truth detection manifest.
- moderation: DetectModerationLabels, MinConfidence 0; image labels at any level of the taxonomy.
- text: DetectText, Filters.WordFilter.MinConfidence 0; words per image (an `image,words` CSV), or
  lines with boxes (a manifest with `lines`).
- faces: DetectFaces, Attributes ["ALL"] (it has no confidence filter); face boxes as for boxes.
- video-labels, video-moderation: StartLabelDetection / StartContentModeration jobs on videos in S3
  (MinConfidence 0), every page of GetLabelDetection / GetContentModeration; labels per video or
  segments in time (evaluation.operations.video).
- face-verification, face-search, liveness: comparisons (pairs, probes, sessions) rather than images,
  fetched by the operation's own fetcher (evaluation.aws.faces: a temporary collection, guarded);
  judged over FMR/FNMR, FPIR/FNIR, APCER/BPCER under a rate objective (fnmr-at-fmr:0.001 by default).

Each module here defines one `Operation`: its API, request, ImageLimits, adapter (the only reader of its
raw response), the backends that can answer it, and how its answers and the ground truth become
`Scored`: ScoredPairs for the one analysis (evaluation.analysis), plus what only it knows. The cache key
holds the API and every request parameter, so each operation's answers are cached apart, except boxes
and labels, which are one call.
"""

from __future__ import annotations

import importlib

from evaluation.errors import UserError
from evaluation.operations.base import Operation, Scored

# --operation NAME -> the module defining it (imported on first use: each pulls in its own dependencies)
REGISTRY = {
    "labels": "evaluation.operations.labels",
    "boxes": "evaluation.operations.boxes",
    "moderation": "evaluation.operations.moderation",
    "text": "evaluation.operations.text",
    "faces": "evaluation.operations.faces",
    "video-labels": "evaluation.operations.video_labels",
    "video-moderation": "evaluation.operations.video_moderation",
    "face-verification": "evaluation.operations.face_verification",
    "face-search": "evaluation.operations.face_search",
    "liveness": "evaluation.operations.liveness",
}
OPERATIONS = tuple(REGISTRY)

__all__ = [
    "OPERATIONS",
    "Operation",
    "Scored",
    "check_backend",
    "check_operation",
    "is_video",
    "operation_for",
]


def is_video(name: str) -> bool:
    """Stored-video operations run as asynchronous jobs (evaluation.aws.video_jobs), not per-image calls."""
    return name.startswith("video-")


def check_operation(name: str) -> str:
    if name not in REGISTRY:
        raise UserError(f"unknown operation {name!r}; choose one of: {', '.join(OPERATIONS)}")
    return name


def operation_for(name: str) -> Operation:
    """The operation named by --operation."""
    return importlib.import_module(REGISTRY[check_operation(name)]).OPERATION


def check_backend(backend: str, operation: str) -> None:
    """Refuse, before any call, a backend that cannot answer the operation."""
    allowed = operation_for(operation).backends
    if backend in {"rekognition", "replay", "local", "custom-labels"} and backend not in allowed:
        raise UserError(
            f"the {backend} backend cannot answer --operation {operation}; it answers: "
            + ", ".join(name for name in OPERATIONS if backend in operation_for(name).backends)
        )
