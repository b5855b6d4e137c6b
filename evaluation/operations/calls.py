"""Which backend can answer which operation, and the backend for the operations DetectLabels cannot answer.

labels and boxes are one DetectLabels call, so they use the DetectLabels backends as they are (the cache
is shared); a Custom Labels model answers boxes too (its objects are instances). The other operations
call their own API through the one client-backed backend (or replay its stored answers). The local
baseline model answers only image labels.
"""

from __future__ import annotations

from typing import Any

from evaluation.calls.backends.base import Backend
from evaluation.calls.backends.rekognition import RekognitionCall
from evaluation.calls.backends.replay import ReplayCall
from evaluation.errors import UserError
from evaluation.operations import check_operation, operation_for

ANSWERS = {
    "rekognition": ("labels", "boxes", "moderation", "text", "faces"),
    "replay": ("labels", "boxes", "moderation", "text", "faces"),
    "local": ("labels",),
    "custom-labels": ("labels", "boxes"),
}


def check_backend(backend: str, operation: str) -> None:
    """Refuse, before any call, a backend that cannot answer the operation."""
    check_operation(operation)
    allowed = ANSWERS.get(backend)
    if allowed is not None and operation not in allowed:
        raise UserError(
            f"the {backend} backend cannot answer --operation {operation}; it answers: {', '.join(allowed)}"
        )


def operation_backend(
    backend: str,
    operation: str,
    *,
    client: Any,
    min_confidence: float,
    max_labels: int,
    endpoint_url: str | None,
) -> Backend:
    """The backend for moderation, text or faces: its API and request come from the operation."""
    check_backend(backend, operation)
    spec = operation_for(operation)
    params = spec.request(min_confidence=min_confidence, max_labels=max_labels)
    if backend == "rekognition":
        return RekognitionCall(client, operation=spec.api, params=params, limits=spec.limits)
    return ReplayCall(operation=spec.api, params=params, limits=spec.limits, endpoint_url=endpoint_url)
