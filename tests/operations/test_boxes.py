"""`--operation boxes` end to end against the local endpoint, with COCO's own evaluation as the judge."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evaluation.errors import UserError
from evaluation.pipeline import evaluate, reanalyse
from tests.support.fake_rekognition import FakeRekognition, label
from tests.support.images import png_bytes
from tests.support.operations import CATEGORIES, build_coco, label_map_file


def cocoeval(path: Path, results: list) -> tuple[np.ndarray, np.ndarray]:
    """pycocotools' stats and per-category precision (T, R, K) for area 'all', 100 detections."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        truth = COCO(str(path))
        detections = truth.loadRes(results)
        evaluation = COCOeval(truth, detections, "bbox")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    return evaluation.stats, evaluation.eval["precision"][:, :, :, 0, 2]


@pytest.fixture
def coco_run(tmp_path, fake_rekognition, endpoint):
    path, results = build_coco(tmp_path, fake_rekognition)
    result = evaluate(
        path,
        operation="boxes",
        endpoint_url=endpoint.url,
        region="us-east-1",
        cache=tmp_path / "cache.sqlite",
        label_map=label_map_file(tmp_path),
        min_support=1,
        progress=False,
        out=tmp_path / "run",
    )
    return path, results, result


def test_box_ap_equals_pycocotools_cocoeval(coco_run):
    pytest.importorskip("pycocotools", reason="pycocotools is not installed: the hand-worked AP cases stand")
    path, results, result = coco_run
    stats, precision = cocoeval(path, results)
    evaluation = result.summary["evaluation"]
    assert evaluation["map_50_95"] == pytest.approx(stats[0], abs=1e-6)  # summary.json rounds to 6 places
    assert evaluation["map_50"] == pytest.approx(stats[1], abs=1e-6)
    assert evaluation["mar_100"] == pytest.approx(stats[8], abs=1e-6)
    labels = result.labels.set_index("label")
    for k, category in enumerate(CATEGORIES):
        per_iou = precision[:, :, k]
        assert (per_iou > -1).all()
        assert labels.loc[category, "ap"] == pytest.approx(per_iou[0].mean(), abs=1e-12)
        assert labels.loc[category, "ap_50_95"] == pytest.approx(per_iou.mean(), abs=1e-12)


def test_box_counts_at_each_threshold_follow_the_predictions(coco_run):
    _, _, result = coco_run
    predictions = result.predictions
    assert set(predictions["outcome"]) <= {"tp", "fp", "crowd"}
    assert set(predictions["label"]) <= set(CATEGORIES)
    counted = predictions[predictions["outcome"] != "crowd"]
    for row in result.metrics[result.metrics["threshold"].isin([10, 50, 85])].itertuples():
        mine = counted[(counted["label"] == row.label) & (counted["confidence"] >= row.threshold)]
        assert row.tp == (mine["outcome"] == "tp").sum()
        assert row.fp == (mine["outcome"] == "fp").sum()
        assert row.tp + row.fn == row.support
        assert row.tn == ((counted["label"] == row.label) & (counted["outcome"] == "fp")).sum() - row.fp
    missed = pd.read_csv(result.out_dir / "boxes_missed.csv")
    lowest = result.metrics["threshold"].min()
    best = result.metrics[result.metrics["threshold"] == lowest].set_index("label")
    for category in CATEGORIES:
        assert (missed["label"] == category).sum() == best.loc[category, "fn"]
    assert result.unjudged["name"].tolist() == ["Chair"]


def test_box_run_folder_reanalyses_without_the_dataset(coco_run, tmp_path):
    path, _, result = coco_run
    run_dir = result.out_dir
    for name in (
        "metrics.csv",
        "curves.parquet",
        "labels.csv",
        "thresholds.yaml",
        "summary.json",
        "report.md",
        "report.html",
        "ground_truth.jsonl",
        "predictions.csv",
        "boxes_missed.csv",
    ):
        assert (run_dir / name).is_file(), name
    assert "## Boxes (COCO evaluation)" in (run_dir / "report.md").read_text()
    path.unlink()
    shutil.rmtree(path.parent / "images")
    again = reanalyse(run_dir)
    pd.testing.assert_frame_equal(again.labels, result.labels)
    pd.testing.assert_frame_equal(again.metrics, result.metrics)
    stricter = reanalyse(run_dir, objective="recall-at-precision:0.9")
    assert stricter.summary["objective"] == "recall-at-precision:0.9"


def test_boxes_reuse_the_labels_answers(tmp_path, fake_rekognition, endpoint):
    path, _ = build_coco(tmp_path, fake_rekognition, count=6)
    common = {
        "endpoint_url": endpoint.url,
        "region": "us-east-1",
        "cache": tmp_path / "c.sqlite",
        "progress": False,
    }
    first = evaluate(path, **common)  # image labels from the same COCO file
    assert first.summary["api_calls"] == 6
    boxes = evaluate(path, operation="boxes", label_map=label_map_file(tmp_path), **common)
    assert boxes.summary["api_calls"] == 0 and boxes.summary["cache_hits"] == 6


def test_a_detection_manifest_is_ground_truth_for_boxes(tmp_path, fake_rekognition, endpoint):
    data = png_bytes(200, 100, seed=5)
    (tmp_path / "a.png").write_bytes(data)
    line = {
        "source-ref": "a.png",
        "bb": {
            "image_size": [{"width": 200, "height": 100, "depth": 3}],
            "annotations": [{"class_id": 0, "left": 20, "top": 10, "width": 100, "height": 50}],
        },
        "bb-metadata": {
            "class-map": {"0": "Car"},
            "type": "groundtruth/object-detection",
            "objects": [{"confidence": 1}],
        },
    }
    manifest = tmp_path / "boxes.manifest"
    manifest.write_text(json.dumps(line) + "\n")
    box = {"BoundingBox": {"Left": 0.1, "Top": 0.1, "Width": 0.5, "Height": 0.5}, "Confidence": 88.0}
    # a label as unsure as 5: the service returns labels that low, so the floor stays low
    fake_rekognition.answer_for_bytes(data, [label("Car", 90.0, instances=(box,)), label("Road", 5.0)])
    result = evaluate(
        manifest,
        operation="boxes",
        endpoint_url=endpoint.url,
        region="us-east-1",
        cache=tmp_path / "c.sqlite",
        progress=False,
        min_support=1,
    )
    row = result.labels.set_index("label").loc["Car"]
    assert (row["tp"], row["fp"], row["fn"]) == (1, 0, 0)
    assert row["threshold"] == 88.0
    assert row["ap"] == pytest.approx(1.0)


def test_a_dataset_without_boxes_is_refused_for_boxes(tmp_path, endpoint):
    (tmp_path / "a.png").write_bytes(png_bytes(100, 100))
    (tmp_path / "d.csv").write_text("image,labels\na.png,Car\n")
    with pytest.raises(UserError, match="--operation boxes needs ground-truth boxes"):
        evaluate(
            tmp_path / "d.csv",
            operation="boxes",
            endpoint_url=endpoint.url,
            region="us-east-1",
            cache=tmp_path / "c.sqlite",
            progress=False,
        )


def test_the_local_model_cannot_answer_boxes(tmp_path):
    path, _ = build_coco(tmp_path, FakeRekognition(), count=2)
    with pytest.raises(UserError, match="the local backend cannot answer --operation boxes"):
        evaluate(path, operation="boxes", backend="local", cache=tmp_path / "c.sqlite", progress=False)


def test_report_page_derives_each_labels_true_negatives_from_its_own_detections(coco_run):
    from evaluation.reports.html import page_data

    _, _, result = coco_run
    data = page_data(result)
    first = result.metrics.drop_duplicates("label").set_index("label")
    for entry in data["labels"]:
        judged = entry.get("n", data["n_images"])
        row = first.loc[entry["name"]]
        assert judged == row["tn"] + row["fp"] + row["support"]
    assert any("n" in entry for entry in data["labels"])  # the labels' counts differ here


def test_instances_below_the_lowest_label_are_kept_and_ap_equals_cocoeval(
    tmp_path, fake_rekognition, endpoint
):
    """Issue 18 item 5: every label returned at 60 or more (so the labels' floor is 60), boxes from 30 up:
    the instances below 60 are part of COCOeval's AP, and so of ours; counts per threshold start at 60."""
    pytest.importorskip("pycocotools")
    path, results = build_coco(tmp_path, fake_rekognition, label_floor=60.0)
    assert min(r["score"] for r in results) < 60
    result = evaluate(
        path,
        operation="boxes",
        endpoint_url=endpoint.url,
        region="us-east-1",
        cache=tmp_path / "cache.sqlite",
        label_map=label_map_file(tmp_path),
        min_support=1,
        progress=False,
        out=tmp_path / "run",
    )
    assert result.summary["floor"]["evaluated_from"] == 60.0
    stats, precision = cocoeval(path, results)
    assert result.summary["evaluation"]["map_50_95"] == pytest.approx(stats[0], abs=1e-6)
    assert result.summary["evaluation"]["map_50"] == pytest.approx(stats[1], abs=1e-6)
    labels = result.labels.set_index("label")
    for k, category in enumerate(CATEGORIES):
        assert labels.loc[category, "ap"] == pytest.approx(precision[0, :, k].mean(), abs=1e-12)
    assert result.metrics["threshold"].min() == 60
    counted = result.predictions[result.predictions["outcome"] != "crowd"]
    for row in result.metrics[result.metrics["threshold"].isin([60, 75])].itertuples():
        mine = counted[(counted["label"] == row.label) & (counted["confidence"] >= row.threshold)]
        assert (row.tp, row.fp) == ((mine["outcome"] == "tp").sum(), (mine["outcome"] == "fp").sum())
        assert row.tp + row.fn == row.support
    missed = pd.read_csv(result.out_dir / "boxes_missed.csv")
    at_floor = result.metrics[result.metrics["threshold"] == 60].set_index("label")
    for category in CATEGORIES:
        assert (missed["label"] == category).sum() == at_floor.loc[category, "fn"]


def test_the_issues_example_a_car_at_60_with_one_exact_box_at_40(tmp_path, fake_rekognition, endpoint):
    data = png_bytes(100, 100, seed=3)
    (tmp_path / "a.png").write_bytes(data)
    box = {"Left": 0.1, "Top": 0.2, "Width": 0.5, "Height": 0.4}
    fake_rekognition.answer_for_bytes(
        data, [label("Car", 60.0, instances=({"BoundingBox": box, "Confidence": 40.0},))]
    )
    coco = {
        "images": [{"id": 1, "file_name": "a.png", "width": 100, "height": 100}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 20, 50, 40], "area": 2000, "iscrowd": 0}
        ],
        "categories": [{"id": 1, "name": "Car"}],
    }
    (tmp_path / "coco.json").write_text(json.dumps(coco))
    result = evaluate(
        tmp_path / "coco.json",
        operation="boxes",
        endpoint_url=endpoint.url,
        region="us-east-1",
        cache=tmp_path / "cache.sqlite",
        min_support=1,
        progress=False,
    )
    assert result.labels.set_index("label").loc["Car", "ap"] == pytest.approx(1.0)
    assert result.summary["evaluation"]["map_50"] == pytest.approx(1.0)
