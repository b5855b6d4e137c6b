"""`--operation faces`: the adapter, face boxes matched by IoU worked by hand, attributes reported."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from evaluation.cli import main
from evaluation.operations.answers import ResponseShapeError
from evaluation.operations.faces import read_faces
from evaluation.pipeline import evaluate
from tests.support.fake_rekognition import face_detail
from tests.support.images import png_bytes
from tests.support.operations import check_run_folder

ATTRIBUTES = {
    "AgeRange": {"Low": 25, "High": 35},
    "Gender": {"Value": "Female", "Confidence": 99.1},
    "Emotions": [{"Type": "CALM", "Confidence": 80.0}, {"Type": "HAPPY", "Confidence": 15.0}],
    "Smile": {"Value": False, "Confidence": 90.0},
    "Eyeglasses": {"Value": True, "Confidence": 97.0},
}


def test_the_adapter_reads_the_documented_example():
    """botocore's own example answer for DetectFaces (Attributes DEFAULT: no estimates)."""
    example = {
        "FaceDetails": [
            {
                "BoundingBox": {"Height": 0.18, "Left": 0.5555, "Top": 0.3366, "Width": 0.24},
                "Confidence": 100,
                "Landmarks": [{"Type": "eyeLeft", "X": 0.6394, "Y": 0.4081}],
                "Pose": {"Pitch": 4.05, "Roll": 0.99, "Yaw": 13.69},
                "Quality": {"Brightness": 37.6, "Sharpness": 80},
            }
        ],
        "OrientationCorrection": "ROTATE_0",
    }
    answer = read_faces(example)
    assert answer.faces[0].box == (0.5555, 0.3366, 0.24, 0.18)
    assert answer.faces[0].confidence == 100.0 and answer.faces[0].attributes == {}
    with_all = read_faces({"FaceDetails": [face_detail((0.1, 0.1, 0.2, 0.2), 99.0, **ATTRIBUTES)]})
    assert with_all.faces[0].attributes == {
        "age_low": 25,
        "age_high": 35,
        "gender": "Female",
        "gender_confidence": 99.1,
        "emotion": "CALM",
        "emotion_confidence": 80.0,
        "smile": False,
        "smile_confidence": 90.0,
        "eyeglasses": True,
        "eyeglasses_confidence": 97.0,
    }
    with pytest.raises(ResponseShapeError):
        read_faces({"FaceDetails": [{"Confidence": 99.0}]})


@pytest.fixture
def dataset(tmp_path, fake_rekognition):
    """Image a (256x128): two faces; found exactly at 99.9, found at IoU 0.6 at 60, and a false face at 40.
    Image b: one face, never found."""
    a, b = png_bytes(256, 128, seed=3), png_bytes(256, 128, seed=4)
    (tmp_path / "a.png").write_bytes(a)
    (tmp_path / "b.png").write_bytes(b)
    fake_rekognition.script(
        "DetectFaces",
        a,
        [
            face_detail((0.125, 0.25, 0.25, 0.5), 99.9, **ATTRIBUTES),
            face_detail((0.5, 0.25, 0.25, 0.5), 60.0, **ATTRIBUTES),  # truth at 0.5625: IoU 0.6
            face_detail((0.8, 0.0, 0.1, 0.1), 40.0, **ATTRIBUTES),
        ],
    )
    fake_rekognition.script("DetectFaces", b, [])

    def line(name: str, boxes: list[tuple[int, int, int, int]]) -> dict:
        return {
            "source-ref": name,
            "faces": {
                "image_size": [{"width": 256, "height": 128, "depth": 3}],
                "annotations": [
                    {"class_id": 0, "left": x, "top": y, "width": w, "height": h} for x, y, w, h in boxes
                ],
            },
            "faces-metadata": {"class-map": {"0": "Face"}, "type": "groundtruth/object-detection"},
        }

    manifest = tmp_path / "faces.manifest"
    manifest.write_text(
        json.dumps(line("a.png", [(32, 32, 64, 64), (144, 32, 64, 64)]))
        + "\n"
        + json.dumps(line("b.png", [(10, 10, 50, 50)]))
        + "\n"
    )
    return manifest


def test_faces_worked_by_hand(dataset, endpoint, tmp_path, fake_rekognition):
    result = evaluate(
        dataset,
        operation="faces",
        endpoint_url=endpoint.url,
        region="us-east-1",
        cache=tmp_path / "c.sqlite",
        progress=False,
        min_support=1,
        out=tmp_path / "run",
    )
    assert list(result.labels["label"]) == ["Face"]
    curves = result.curves.set_index("threshold")
    assert tuple(curves.loc[99.9, ["tp", "fp", "fn", "tn"]]) == (1, 0, 2, 1)
    assert tuple(curves.loc[60.0, ["tp", "fp", "fn", "tn"]]) == (2, 0, 1, 1)
    assert tuple(curves.loc[40.0, ["tp", "fp", "fn", "tn"]]) == (2, 1, 1, 0)
    faces = pd.read_csv(tmp_path / "run" / "faces_attributes.csv")
    assert faces["outcome"].tolist() == ["tp", "tp", "fp"]
    assert faces.loc[1, "iou"] == pytest.approx(0.6)
    assert faces.loc[0, "emotion"] == "CALM" and faces.loc[0, "age_low"] == 25
    evaluation = result.summary["evaluation"]
    assert evaluation["ground_truth_faces"] == 3 and evaluation["faces_returned"] == 3
    assert evaluation["attributes"] == {
        "faces": 2,
        "age_range_width_mean": 10.0,
        "gender": {"Female": 2},
        "emotion": {"CALM": 2},
    }
    # precision 1, 1 then 2/3 at recall 1/3, 2/3, 2/3: AP50 = 67/101 (recall points 0 to 0.66 read 1)
    assert result.labels["ap"].iloc[0] == pytest.approx(67 / 101)
    assert all(request["Attributes"] == ["ALL"] for request in fake_rekognition.requests)
    assert "reported, not scored" in (tmp_path / "run" / "report.md").read_text()


def test_run_operation_faces(dataset, endpoint, tmp_path):
    out = tmp_path / "cli"
    code = main(
        [
            "--quiet",
            "run",
            "--operation",
            "faces",
            "--dataset",
            str(dataset),
            "--endpoint-url",
            endpoint.url,
            "--region",
            "us-east-1",
            "--cache",
            str(tmp_path / "c.sqlite"),
            "--out",
            str(out),
            "--min-support",
            "1",
        ]
    )
    assert code == 0
    summary = check_run_folder(out, "faces", tmp_path)
    assert summary["api"] == "DetectFaces"
    assert json.loads((out / "run.json").read_text())["request"] == {
        "Attributes": ["ALL"],
        "Endpoint": endpoint.url,
    }


def test_which_boxes_are_faces():
    from evaluation.errors import UserError
    from evaluation.operations.faces import OPERATION

    truths = [{"boxes": [["person", 0, 0, 1, 1, 0], ["FACE", 0, 0, 0.5, 0.5, 0]]}]
    assert OPERATION.vocabulary(("FACE", "person"), truths) == ("FACE",)
    assert OPERATION.vocabulary(("head",), [{"boxes": [["head", 0, 0, 1, 1, 0]]}]) == ("head",)
    two = [{"boxes": [["head", 0, 0, 1, 1, 0], ["person", 0, 0, 1, 1, 0]]}]
    assert OPERATION.vocabulary(("head",), two) == ("head",)  # --labels head: only its boxes
    with pytest.raises(UserError, match="pass --labels with the face label"):
        OPERATION.vocabulary(
            ("head", "person"), [{"boxes": [["head", 0, 0, 1, 1, 0], ["person", 0, 0, 1, 1, 0]]}]
        )


def test_attributes_are_scored_where_the_ground_truth_gives_them(tmp_path, fake_rekognition, endpoint):
    """Both faces found, each estimated Female, 25-35, CALM, not smiling. Truth: a 30-year-old happy,
    smiling woman (age and gender right, emotion and smile wrong) and a 50-year-old man (both wrong: 20
    years from the range's middle)."""
    data = png_bytes(256, 128, seed=8)
    (tmp_path / "a.png").write_bytes(data)
    fake_rekognition.script(
        "DetectFaces",
        data,
        [
            face_detail((0.125, 0.25, 0.25, 0.5), 99.0, **ATTRIBUTES),
            face_detail((0.5, 0.25, 0.25, 0.5), 98.0, **ATTRIBUTES),
        ],
    )
    coco = {
        "images": [{"id": 1, "file_name": "a.png", "width": 256, "height": 128}],
        "annotations": [
            {
                "id": 1,
                "image_id": 1,
                "category_id": 1,
                "bbox": [32, 32, 64, 64],
                "iscrowd": 0,
                "attributes": {"age": 30, "gender": "female", "emotion": "happy", "smile": True},
            },
            {
                "id": 2,
                "image_id": 1,
                "category_id": 1,
                "bbox": [128, 32, 64, 64],
                "iscrowd": 0,
                "attributes": {"age": 50, "Gender": "Male"},
            },
        ],
        "categories": [{"id": 1, "name": "face"}],
    }
    (tmp_path / "faces.json").write_text(json.dumps(coco))
    evaluate(
        tmp_path / "faces.json",
        operation="faces",
        endpoint_url=endpoint.url,
        region="us-east-1",
        cache=tmp_path / "c.sqlite",
        progress=False,
        min_support=1,
        out=tmp_path / "run",
    )
    scores = pd.read_csv(tmp_path / "run" / "faces_attribute_scores.csv").set_index("attribute")
    assert scores.loc["age", ["faces", "correct", "mean_abs_error"]].tolist() == [2, 1, 10.0]
    assert scores.loc["gender", ["faces", "correct"]].tolist() == [2, 1]
    assert scores.loc["emotion", ["faces", "correct"]].tolist() == [1, 0]
    assert scores.loc["smile", ["faces", "correct"]].tolist() == [1, 0]
    assert "scored where the ground truth gives them" in (tmp_path / "run" / "report.md").read_text()
