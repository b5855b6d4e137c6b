"""Manifest lines in the shapes the Rekognition Custom Labels guide documents, for the reader tests."""

from __future__ import annotations

import json
from typing import Any

REGION = "us-east-1"
BUCKET = "eval-datasets"


def classification_line(
    source_ref: str,
    class_name: str,
    *,
    attribute: str = "sport",
    class_id: int = 0,
    human_annotated: str = "yes",
) -> dict[str, Any]:
    """A single-label line as Rekognition Custom Labels documents it (Ground Truth classification output)."""
    return {
        "source-ref": source_ref,
        attribute: class_id,
        f"{attribute}-metadata": {
            "confidence": 0.95,
            "job-name": f"labeling-job/{attribute}",
            "class-name": class_name,
            "human-annotated": human_annotated,
            "creation-date": "2020-04-15T20:17:23.433061",
            "type": "groundtruth/image-classification",
        },
    }


def multilabel_line(
    source_ref: str, class_map: dict[str, str], ids: list[int], *, attribute: str = "animals"
) -> dict[str, Any]:
    """A multi-label line: a list of class ids named by the metadata's class-map."""
    return {
        "source-ref": source_ref,
        attribute: ids,
        f"{attribute}-metadata": {
            "job-name": f"labeling-job/{attribute}",
            "class-map": class_map,
            "human-annotated": "yes",
            "creation-date": "2020-04-15T20:17:23.433061",
            "confidence-map": {str(i): 0.9 for i in ids},
            "type": "groundtruth/image-classification-multilabel",
        },
    }


def detection_line(
    source_ref: str,
    annotations: list[dict[str, Any]],
    class_map: dict[str, str],
    *,
    width: int = 640,
    height: int = 480,
    attribute: str = "bounding-box",
) -> dict[str, Any]:
    """An object-detection line: pixel boxes, image_size, and a class-map, as in the Custom Labels guide."""
    return {
        "source-ref": source_ref,
        attribute: {
            "image_size": [{"width": width, "height": height, "depth": 3}],
            "annotations": annotations,
        },
        f"{attribute}-metadata": {
            "objects": [{"confidence": 1} for _ in annotations],
            "class-map": class_map,
            "type": "groundtruth/object-detection",
            "human-annotated": "yes",
            "creation-date": "2013-11-18T02:53:27",
            "job-name": "my job",
        },
    }


def jsonl(*lines: dict[str, Any] | str) -> str:
    """Manifest text; a str line is written as it is (for broken lines)."""
    return "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines)
