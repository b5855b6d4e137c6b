"""Backends: where answers come from. Each implements the small Backend protocol in base.py."""

from evaluation.backends.base import Backend, NotCached
from evaluation.backends.custom_labels import CustomLabels
from evaluation.backends.local import LocalLabels
from evaluation.backends.rekognition import RekognitionLabels, make_client
from evaluation.backends.replay import ReplayLabels

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
