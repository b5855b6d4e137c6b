"""Data shipped with the harness: dated tables (quotas, prices), the local baseline model and the sample
dataset (package data, so an installed wheel carries them)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def sample_dataset() -> Path:
    """The bundled sample: a folder with manifest.jsonl, label_map.yaml and images/ (72 images, 9 labels;
    sources and licences in its README.md)."""
    return Path(str(resources.files(__name__).joinpath("sample")))
