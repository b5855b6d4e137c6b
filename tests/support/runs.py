"""Datasets with scripted answers, and finished runs built from them, shared by the tests of every report.

`build_dataset` scripts the fake service for a run through the command line (end to end);
`synthetic_result` analyses scripted answers in memory with the real `analyse`, for tests and benchmarks
that need a result with many labels or unusual label names but no endpoint.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from evaluation.analysis import EvaluationResult, analyse
from evaluation.operations.labels import encode_labels
from evaluation.options import AnalysisOptions
from tests.support.fake_rekognition import FakeRekognition, label
from tests.support.images import png_bytes

VOCABULARY = ["Animal", "Car", "Cat", "Dog", "Tree"]
PARENTS = {"Cat": ("Animal", "Mammal"), "Dog": ("Animal", "Mammal"), "Car": ("Vehicle", "Transportation")}
BOXED = ("Cat", "Dog", "Car")  # labels that get an instance box when build_dataset(boxes=True)


def _box(index: int, confidence: float) -> dict:
    """A box that moves with the image index, so thumbnails show different boxes."""
    return {
        "BoundingBox": {"Left": 0.05 + (index % 5) * 0.08, "Top": 0.1, "Width": 0.45, "Height": 0.6},
        "Confidence": confidence,
    }


def build_dataset(
    folder: Path, fake: FakeRekognition, *, count: int = 240, seed: int = 7, boxes: bool = False
) -> tuple[Path, dict[str, tuple[set[str], dict[str, float]]]]:
    """Images with random ground truth and scripted answers; returns the CSV and the expected scores.

    With `boxes`, Cat, Dog and Car answers carry one instance box each; the random draws (and so every
    number) are the same either way.
    """
    rng = np.random.default_rng(seed)
    rows, expected = [], {}
    for index in range(count):
        data = png_bytes(90, 90, seed=index)
        name = f"images/img{index:04d}.png"
        (folder / "images").mkdir(exist_ok=True)
        (folder / name).write_bytes(data)
        truth = {lab for lab in ("Cat", "Dog", "Car", "Tree") if rng.random() < 0.3}
        if truth & {"Cat", "Dog"}:
            truth.add("Animal")
        answer = []
        for lab in ("Cat", "Dog", "Car", "Tree"):
            returned = rng.random() < (0.85 if lab in truth else 0.35)
            if returned:
                confidence = rng.uniform(40, 100) if lab in truth else rng.uniform(0, 85)
                confidence = round(confidence, 0 if rng.random() < 0.3 else 4)  # exact ties happen
                instances = (_box(index, confidence),) if boxes and lab in BOXED else ()
                answer.append(label(lab, confidence, PARENTS.get(lab, ()), instances=instances))
        if rng.random() < 0.2:  # the parent also returned on its own, with its own confidence
            answer.append(label("Animal", round(rng.uniform(0, 100), 2)))
        if rng.random() < 0.5:
            answer.append(label("Furniture", round(rng.uniform(0, 100), 2)))  # outside the vocabulary
        fake.answer_for_bytes(data, answer)
        expected[str((folder / name).resolve())] = (truth, scores_of(answer))
        rows.append(f"{name},{';'.join(sorted(truth))}")
    csv = folder / "data.csv"
    csv.write_text("image,labels\n" + "\n".join(rows) + "\n")
    return csv, expected


def scores_of(answer: list[dict]) -> dict[str, float]:
    """The documented rule, written out plainly: the highest of a name's own confidence and those of the
    returned labels that list it as a parent (the highest MinConfidence at which the service predicts it)."""
    scores = {entry["Name"]: entry["Confidence"] for entry in answer}
    for entry in answer:
        for parent in entry["Parents"]:
            scores[parent["Name"]] = max(scores.get(parent["Name"], -1.0), entry["Confidence"])
    return scores


def synthetic_result(
    folder: Path | None,
    *,
    labels: Sequence[str],
    n_images: int,
    seed: int = 0,
    answer_seed: int | None = None,
    boxes: bool = True,
    min_support: int = 10,
    objective: str = "best-f1",
    min_confidence: float = 0.0,
    image_bytes: Any = None,
    model_version: str = "3.0",
    backend: str = "rekognition",
    options: AnalysisOptions | None = None,
) -> EvaluationResult:
    """A finished run over scripted answers, analysed by the real `analyse` (no endpoint, no cache).

    Label frequencies fall off like a long tail (the first labels common, the last ones rare), as in
    real datasets. With `folder`, the images are written there (by `image_bytes(index) -> bytes`, small
    PNGs by default) so the report can make thumbnails; without it the images do not exist on disk.
    The ground truth depends on `seed` only, the answers on `answer_seed` too: two results with one seed
    and two answer seeds are two models on the same dataset. `options` replaces the analysis options
    built from `objective` and `min_support`.
    """
    n_labels = len(labels)
    prevalence = 0.3 / (1.0 + np.arange(n_labels)) ** 0.8
    truth = np.random.default_rng(seed).random((n_images, n_labels)) < prevalence
    rng = np.random.default_rng([seed, answer_seed if answer_seed is not None else 0])
    returned = rng.random((n_images, n_labels)) < np.where(truth, 0.85, np.minimum(0.5, prevalence + 0.01))
    confidence = np.where(truth, rng.uniform(40, 100, truth.shape), rng.uniform(0, 85, truth.shape))
    confidence = np.round(confidence, 2)
    returned &= confidence >= min_confidence  # what the service returns at that MinConfidence
    if folder is not None:
        (folder / "images").mkdir(parents=True, exist_ok=True)
    make_bytes = image_bytes or (lambda index: png_bytes(90, 90, seed=index))
    rows, responses = [], {}
    for index in range(n_images):
        uri = f"/nowhere/images/img{index:05d}.png"
        if folder is not None:
            path = folder / "images" / f"img{index:05d}.png"
            path.write_bytes(make_bytes(index))
            uri = str(path.resolve())
        answer = [
            label(
                labels[j],
                float(confidence[index, j]),
                instances=(_box(index, float(confidence[index, j])),) if boxes and j % 2 == 0 else (),
            )
            for j in np.flatnonzero(returned[index])
        ]
        key = f"key{index:06d}"
        responses[key] = {"Labels": answer, "LabelModelVersion": model_version}
        rows.append(
            {
                "image": uri,
                "source": f"data.csv:{index + 2}",
                "labels": encode_labels({labels[j] for j in np.flatnonzero(truth[index])}),
                "status": "called",
                "cache_key": key,
                "model_version": model_version,
                "reason": None,
                "error_code": None,
            }
        )
    images = pd.DataFrame(rows)
    run = {
        "tool_version": "test",
        "created_at": datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc).isoformat(timespec="seconds"),
        "dataset": {
            "name": "synthetic",
            "source": str(folder / "data.csv") if folder is not None else "data.csv",
            "format": "csv",
            "items": n_images,
            "bad_lines": [],
            "vocabulary": list(labels),
        },
        "backend": {"backend": backend, "operation": "DetectLabels", "region": "us-east-1"},
        "request": {"MinConfidence": min_confidence, "MaxLabels": 1000},
        "cache": "cache.sqlite",
        "stats": {"api_calls": n_images, "cache_hits": 0, "wall_s": 1.0},
    }
    options = options or AnalysisOptions.build(
        objective=objective, min_support=min_support, vocabulary=list(labels)
    )
    run["analysis"] = options.to_dict()
    return analyse(images, responses, run=run, options=options)
