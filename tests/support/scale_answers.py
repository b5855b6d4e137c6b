"""Seeded, realistic DetectLabels answers at any size, for the scale benchmark and the golden test.

Shapes as measured on real answers: about 30 labels per image from a 1,000-name vocabulary, each with
1-3 parents (names of the same vocabulary), some aliases and categories, a few with instance boxes;
confidences as the service writes them (float32 values between 50 and 100). Images are s3:// URIs, so a
dataset of a million needs no file; the ground truth is a CSV (`image,labels`) over 100 of the names.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np

VOCABULARY_SIZE = 1000
PARENT_POOL = 120  # parents are drawn from the first names, as the service's taxonomy is shallow
DATASET_LABELS = 100
LABELS_PER_IMAGE = 30
MODEL_VERSION = "3.0"


def vocabulary(size: int = VOCABULARY_SIZE) -> list[str]:
    rng = np.random.default_rng(7)
    syllables = ["ka", "lo", "mi", "ner", "tas", "vo", "rin", "sel", "dor", "pa", "qu", "zen", "bri", "tho"]
    names: list[str] = []
    seen: set[str] = set()
    while len(names) < size:
        parts = rng.choice(syllables, size=int(rng.integers(2, 4)))
        name = "".join(parts).capitalize()
        if rng.random() < 0.15:
            name += " " + "".join(rng.choice(syllables, size=2)).capitalize()
        if name.lower() not in seen:
            seen.add(name.lower())
            names.append(name)
    return names


def image_uri(index: int) -> str:
    return f"s3://bench-bucket/images/{index:07d}.jpg"


def answers(count: int, *, seed: int = 19, start: int = 0) -> Iterator[tuple[str, dict, list[str]]]:
    """(image URI, DetectLabels response, ground-truth labels) for images start..start+count-1."""
    names = vocabulary()
    dataset_labels = names[PARENT_POOL // 2 : PARENT_POOL // 2 + DATASET_LABELS]
    label_rng = np.random.default_rng(seed)
    parents_of = [
        sorted(set(label_rng.choice(PARENT_POOL, size=int(label_rng.integers(1, 4)), replace=True)) - {i})
        for i in range(len(names))
    ]
    for index in range(start, start + count):
        rng = np.random.default_rng([seed, index])
        truth_count = int(rng.integers(0, 5))
        truth = [dataset_labels[i] for i in sorted(set(rng.integers(0, DATASET_LABELS, size=truth_count)))]
        n_labels = int(np.clip(rng.normal(LABELS_PER_IMAGE, 5), 1, 60))
        picked = set(rng.choice(len(names), size=n_labels, replace=False).tolist())
        # most true labels are found, usually with a high confidence
        truth_codes = [names.index(label) for label in truth]
        for code in truth_codes:
            if rng.random() < 0.85:
                picked.add(code)
        confidences = rng.uniform(50, 100, size=len(picked)).astype(np.float32)
        labels = []
        for code, confidence in zip(sorted(picked), confidences, strict=True):
            if code in truth_codes:
                confidence = np.float32(min(99.999, float(confidence) + 20))
            entry: dict = {
                "Name": names[code],
                "Confidence": float(confidence),
                "Instances": [],
                "Parents": [{"Name": names[p]} for p in parents_of[code]],
                "Aliases": [{"Name": names[code] + " Alt"}] if code % 97 == 0 else [],
                "Categories": [{"Name": "Category " + str(code % 7)}],
            }
            if code % 23 == 0:
                entry["Instances"] = [
                    {
                        "BoundingBox": {
                            "Width": float(np.float32(rng.uniform(0.05, 0.5))),
                            "Height": float(np.float32(rng.uniform(0.05, 0.5))),
                            "Left": float(np.float32(rng.uniform(0, 0.5))),
                            "Top": float(np.float32(rng.uniform(0, 0.5))),
                        },
                        "Confidence": float(np.float32(rng.uniform(50, 100))),
                    }
                ]
            labels.append(entry)
        labels.sort(key=lambda item: -item["Confidence"])
        yield image_uri(index), {"Labels": labels, "LabelModelVersion": MODEL_VERSION}, truth


def write_files(folder: Path, count: int, *, seed: int = 19) -> tuple[Path, Path]:
    """answers.jsonl (`{"image", "response", "model_version"}` per line) and dataset.csv."""
    folder.mkdir(parents=True, exist_ok=True)
    answers_path, dataset_path = folder / "answers.jsonl", folder / "dataset.csv"
    with (
        answers_path.open("w", encoding="utf-8") as answers_file,
        dataset_path.open("w", encoding="utf-8") as dataset_file,
    ):
        dataset_file.write("image,labels\n")
        for uri, response, truth in answers(count, seed=seed):
            record = {"image": uri, "response": response, "model_version": MODEL_VERSION}
            answers_file.write(json.dumps(record, separators=(",", ":")) + "\n")
            dataset_file.write(f"{uri},{';'.join(truth)}\n")
    return answers_path, dataset_path
