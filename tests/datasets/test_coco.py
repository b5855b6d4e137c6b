"""The COCO JSON reader: boxes as ratios, crowd regions kept, image-id order, and its errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evaluation.datasets import load_dataset
from evaluation.errors import DatasetError


def coco(tmp_path: Path, annotations: list[dict], images: list[dict] | None = None) -> Path:
    document = {
        "info": {"description": "test"},
        "images": images
        if images is not None
        else [
            {"id": 7, "file_name": "b.jpg", "width": 200, "height": 100},
            {"id": 3, "file_name": "a.jpg", "width": 400, "height": 300},
        ],
        "annotations": annotations,
        "categories": [{"id": 1, "name": "person"}, {"id": 2, "name": "car"}],
    }
    path = tmp_path / "instances.json"
    path.write_text(json.dumps(document))
    return path


def test_boxes_become_ratios_and_crowds_are_kept(tmp_path):
    path = coco(
        tmp_path,
        [
            {"id": 1, "image_id": 3, "category_id": 1, "bbox": [40, 30, 100, 150], "iscrowd": 0},
            {"id": 2, "image_id": 3, "category_id": 1, "bbox": [0, 0, 400, 300], "iscrowd": 1},
            {"id": 3, "image_id": 7, "category_id": 2, "bbox": [10, 10, 50, 20]},
        ],
    )
    dataset = load_dataset(path)
    assert dataset.format == "coco"
    first, second = dataset.items
    assert Path(first.image.uri).name == "a.jpg"  # id 3 before id 7, as COCOeval walks them
    assert first.labels == {"person"}
    real, crowd = first.boxes
    assert (real.left, real.top, real.width, real.height, real.crowd) == (0.1, 0.1, 0.25, 0.5, False)
    assert crowd.crowd and crowd.width == 1.0
    assert second.boxes[0].label == "car" and second.boxes[0].width == 0.25
    assert dataset.vocabulary == ("car", "person")


def test_an_image_without_annotations_is_a_negative(tmp_path):
    dataset = load_dataset(coco(tmp_path, []))
    assert all(item.labels == frozenset() and item.boxes == () for item in dataset.items)


def test_a_zero_width_box_makes_its_image_a_bad_line(tmp_path):
    path = coco(tmp_path, [{"id": 9, "image_id": 7, "category_id": 1, "bbox": [10, 10, 0, 20]}])
    with pytest.raises(
        DatasetError, match=r"images\[1\]: annotation 9: box width and height must be positive"
    ):
        load_dataset(path)
    dataset = load_dataset(path, skip_bad_lines=True)
    assert len(dataset.items) == 1 and len(dataset.bad_lines) == 1


def test_unknown_categories_and_images_are_refused(tmp_path):
    with pytest.raises(DatasetError, match=r"category_id 5 is not in categories"):
        load_dataset(coco(tmp_path, [{"id": 1, "image_id": 7, "category_id": 5, "bbox": [1, 1, 2, 2]}]))
    with pytest.raises(DatasetError, match=r"image id\(s\) in annotations are not in images"):
        load_dataset(coco(tmp_path, [{"id": 1, "image_id": 99, "category_id": 1, "bbox": [1, 1, 2, 2]}]))
    with pytest.raises(DatasetError, match=r'"width" must be a positive number'):
        load_dataset(coco(tmp_path, [], images=[{"id": 1, "file_name": "a.jpg", "height": 10}]))


def test_a_json_manifest_is_still_a_manifest(tmp_path):
    line = {
        "source-ref": "a.jpg",
        "c": 0,
        "c-metadata": {"class-name": "Dog", "type": "groundtruth/image-classification"},
    }
    path = tmp_path / "data.json"
    path.write_text(json.dumps(line) + "\n")
    dataset = load_dataset(path)
    assert dataset.format == "manifest" and dataset.items[0].labels == {"Dog"}
