"""Backends: where answers come from. Each implements the small Backend protocol in base.py."""

from evaluation.calls.backends.base import Backend, NotCached
from evaluation.calls.backends.custom_labels import CustomLabels
from evaluation.calls.backends.local import LocalLabels
from evaluation.calls.backends.rekognition import RekognitionLabels, make_client
from evaluation.calls.backends.replay import ReplayLabels

BACKENDS = ("rekognition", "replay", "local", "custom-labels")

__all__ = [
    "BACKENDS",
    "Backend",
    "CustomLabels",
    "LocalLabels",
    "NotCached",
    "RekognitionLabels",
    "ReplayLabels",
    "make_client",
]
