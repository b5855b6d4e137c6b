"""Shared by the operations' tests: a COCO dataset with scripted answers, its label map, and the check
that a run folder of any operation is complete and re-analyses; matching's best rows of a predictions
frame."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from tests.support.cli import run_cli, run_words
from tests.support.fake_rekognition import FakeRekognition, label
from tests.support.images import png_bytes

CATEGORIES = ["car", "person", "dog"]
NAMES = {"car": "Car", "person": "Person", "dog": "Dog"}


def build_coco(
    folder: Path, fake: FakeRekognition, *, count: int = 24, seed: int = 11, label_floor: float = 0.0
) -> tuple[Path, list]:
    """A COCO file over real PNGs, and scripted DetectLabels answers with instances near the truth.

    Returns the COCO path and the detections as COCO results (pixels), in the answer's instance order.
    Crowd regions, an image with no annotation, exact confidence ties, a name outside the categories
    (Chair) and a label without instances (Furniture) are all in it. With `label_floor`, every label is
    returned at least that confident, with instances less confident than any label returned.
    """
    rng = np.random.default_rng(seed)
    (folder / "images").mkdir(exist_ok=True)
    images, annotations, results = [], [], []
    for index in range(count):
        width, height = int(rng.integers(100, 260)), int(rng.integers(100, 260))
        data = png_bytes(width, height, seed=1000 + index)
        (folder / "images" / f"{index}.png").write_bytes(data)
        image_id = 500 - index  # ids in reverse file order: COCOeval walks them sorted
        images.append({"id": image_id, "file_name": f"images/{index}.png", "width": width, "height": height})
        instances: dict[str, list[dict]] = {}
        for _ in range(0 if index == 3 else int(rng.integers(1, 5))):
            category = int(rng.integers(0, 3))
            w, h = rng.uniform(15, width * 0.4), rng.uniform(15, height * 0.4)
            x, y = rng.uniform(0, width - w), rng.uniform(0, height - h)
            crowd = int(rng.random() < 0.12)
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": category + 1,
                    "bbox": [x, y, w, h],
                    "area": w * h,
                    "iscrowd": crowd,
                }
            )
            for _ in range(int(rng.integers(0, 3))):
                dx, dy = rng.normal(0, 0.12 * w), rng.normal(0, 0.12 * h)
                confidence = float(np.round(rng.uniform(30, 100), 0 if rng.random() < 0.4 else 3))
                box = {
                    "Left": (x + dx) / width,
                    "Top": (y + dy) / height,
                    "Width": w / width,
                    "Height": h / height,
                }
                instances.setdefault(CATEGORIES[category], []).append(
                    {"BoundingBox": box, "Confidence": confidence}
                )
        for _ in range(int(rng.integers(0, 3))):  # false alarms
            category = CATEGORIES[int(rng.integers(0, 3))]
            box = {"Left": rng.uniform(0, 0.6), "Top": rng.uniform(0, 0.6), "Width": 0.2, "Height": 0.3}
            instances.setdefault(category, []).append(
                {"BoundingBox": box, "Confidence": float(rng.integers(1, 9) * 10)}
            )
        answer = [
            label(NAMES[name], max(label_floor, *(i["Confidence"] for i in boxes)), instances=tuple(boxes))
            for name, boxes in instances.items()
        ]
        answer.append(
            label(
                "Chair",
                77.0,
                instances=(
                    {
                        "BoundingBox": {"Left": 0.1, "Top": 0.1, "Width": 0.2, "Height": 0.2},
                        "Confidence": 77.0,
                    },
                ),
            )
        )
        answer.append(label("Furniture", 80.0))
        fake.answer_for_bytes(data, answer)
        for name, boxes in instances.items():
            for instance in boxes:
                b = instance["BoundingBox"]
                results.append(
                    {
                        "image_id": image_id,
                        "category_id": CATEGORIES.index(name) + 1,
                        "bbox": [
                            b["Left"] * width,
                            b["Top"] * height,
                            b["Width"] * width,
                            b["Height"] * height,
                        ],
                        "score": instance["Confidence"],
                    }
                )
    coco = {
        "images": images,
        "annotations": annotations,
        "categories": [{"id": k + 1, "name": name} for k, name in enumerate(CATEGORIES)],
    }
    path = folder / "instances.json"
    path.write_text(json.dumps(coco))
    return path, results


def label_map_file(folder: Path) -> Path:
    path = folder / "map.yaml"
    path.write_text("".join(f"{category}: {name}\n" for category, name in NAMES.items()))
    return path


RUN_FILES = (
    "metrics.csv",
    "curves.parquet",
    "labels.csv",
    "thresholds.yaml",
    "summary.json",
    "report.md",
    "report.html",
    "images.csv",
    "run.json",
    "ground_truth.jsonl",
)


def run_operation(operation: str, dataset: Path, endpoint, tmp_path: Path, out: Path, *extra: str) -> int:
    """`run --operation OPERATION` of `dataset` against the local endpoint into `out`, every label judged
    (--min-support 1), answers cached in tmp_path/c.sqlite; the exit code."""
    return run_cli(
        *run_words(
            dataset,
            "--operation",
            operation,
            "--region",
            "us-east-1",
            "--min-support",
            "1",
            *extra,
            endpoint_url=endpoint.url,
            cache=tmp_path / "c.sqlite",
            out=out,
        )
    )


def check_run_folder(out: Path, operation: str, tmp_path: Path) -> dict:
    for name in RUN_FILES:
        assert (out / name).is_file(), name
    summary = json.loads((out / "summary.json").read_text())
    assert summary["evaluation"]["operation"] == operation
    thresholds = yaml.safe_load((out / "thresholds.yaml").read_text())
    assert thresholds["metadata"]["operation"] == operation and summary["operation"] == operation
    assert not pd.read_csv(out / "metrics.csv").empty
    again = tmp_path / f"{operation}-again"
    assert run_cli("report", str(out), "--out", str(again), "--objective", "precision>=0.5") == 0
    assert json.loads((again / "summary.json").read_text())["objective"] == "recall-at-precision:0.5"
    return summary


def best_of_frame(
    predicted: pd.DataFrame, targets: pd.DataFrame
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """matching's `_best_of_rows` on the columns of a predictions frame (image, name as categories,
    confidence), as matching reads them."""
    from evaluation.operations.matching import _best_of_rows

    return _best_of_rows(
        predicted["image"].to_numpy(np.int64),
        predicted["name"].cat.codes.to_numpy(np.int64),
        predicted["confidence"].to_numpy(np.float64),
        predicted["name"].cat.categories,
        targets,
    )
