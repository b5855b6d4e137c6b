"""Backends: where answers come from. Each implements the small Backend protocol in base.py."""

from evaluation.backends.base import Backend, NotCached
from evaluation.backends.rekognition import RekognitionLabels, make_client
from evaluation.backends.replay import ReplayLabels

BACKENDS = ("rekognition", "replay")

__all__ = ["BACKENDS", "Backend", "NotCached", "RekognitionLabels", "ReplayLabels", "make_client"]
