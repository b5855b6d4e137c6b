"""The one shape check (evaluation.calls.answers) against botocore's model, API by API."""

from __future__ import annotations

import pytest

from evaluation.calls.answers import BadAnswer, answer_problem, check_answer
from tests.support.fake_rekognition import face_detail, label, moderation_label, text_detection

BOX = {"BoundingBox": {"Left": 0.1, "Top": 0.2, "Width": 0.3, "Height": 0.4}, "Confidence": 40.0}


@pytest.mark.parametrize(
    ("api", "answer"),
    [
        ("DetectLabels", {"Labels": []}),
        (
            "DetectLabels",
            {"Labels": [label("Dog", 80.0, ("Animal",), ("Canine",), (BOX,))], "LabelModelVersion": "3.0"},
        ),
        ("DetectLabels", {"Labels": [label("Dog", 0.0), label("Cat", 100)]}),  # the ends of 0-100
        ("DetectLabels", {"Labels": [{"Name": "Dog", "Confidence": 55.0, "NewField": [1]}]}),  # newer service
        ("DetectModerationLabels", {"ModerationLabels": [moderation_label("Violence", 88.0)]}),
        ("DetectText", {"TextDetections": [text_detection("STOP", "LINE", 0, 99.0, (0.1, 0.1, 0.2, 0.1))]}),
        (
            "DetectFaces",
            {"FaceDetails": [face_detail((0.1, 0.1, 0.3, 0.3), 99.9, AgeRange={"Low": 20, "High": 30})]},
        ),
        ("DetectCustomLabels", {"CustomLabels": [{"Name": "widget", "Confidence": 12.5, "Geometry": {}}]}),
    ],
)
def test_documented_answers_pass(api, answer):
    check_answer(api, answer)


@pytest.mark.parametrize(
    ("api", "answer", "reason"),
    [
        ("DetectLabels", {}, "Labels is missing"),
        ("DetectLabels", {"Labels": None}, "Labels is missing"),
        ("DetectLabels", {"Labels": {"Name": "Dog"}}, "Labels is an object, not a list"),
        ("DetectLabels", {"Labels": [None]}, r"Labels\[0\] is null"),
        ("DetectLabels", {"Labels": [{"Name": "Dog"}]}, r"Labels\[0\]\.Confidence is missing"),
        ("DetectLabels", {"Labels": [{"Name": "Dog", "Confidence": True}]}, "not a number"),
        ("DetectLabels", {"Labels": [{"Name": "Dog", "Confidence": float("nan")}]}, "not a finite number"),
        ("DetectLabels", {"Labels": [{"Name": "Dog", "Confidence": -0.5}]}, "outside 0-100"),
        ("DetectLabels", {"Labels": [{"Name": "Dog", "Confidence": 100.01}]}, "outside 0-100"),
        ("DetectLabels", {"Labels": [{"Name": 7, "Confidence": 50}]}, r"Labels\[0\]\.Name is 7, not a name"),
        ("DetectLabels", {"Labels": [{"Name": "  ", "Confidence": 50}]}, "not a name"),
        (
            "DetectLabels",
            {"Labels": [{**label("Dog", 50), "Instances": [{**BOX, "Confidence": 140}]}]},
            r"Labels\[0\]\.Instances\[0\]\.Confidence is 140, outside 0-100",
        ),
        (
            "DetectLabels",
            {"Labels": [{**label("Dog", 50), "Aliases": [{"Name": None}]}]},
            "Aliases\\[0\\]\\.Name is missing",
        ),
        ("DetectLabels", {"Labels": [], "LabelModelVersion": 3}, "LabelModelVersion is 3, not text"),
        ("DetectLabels", ["Labels"], "not a JSON object"),
        ("DetectModerationLabels", {"ModerationLabels": [{"Name": "X", "Confidence": "90"}]}, "not a number"),
        ("DetectText", {"TextDetections": [{"DetectedText": "a", "Type": "WORD"}]}, "Confidence is missing"),
        ("DetectFaces", {"FaceDetails": [{"Confidence": 99.0}]}, "BoundingBox is missing"),
        ("DetectCustomLabels", {"CustomLabels": [{"Confidence": 99.0}]}, "Name is missing"),
    ],
)
def test_anything_else_is_a_bad_answer_with_its_reason(api, answer, reason):
    with pytest.raises(BadAnswer, match=reason):
        check_answer(api, answer)
    assert answer_problem(api, answer).startswith(f"malformed {api} answer: ")


def test_an_api_botocore_does_not_know_needs_only_an_object():
    assert answer_problem("DetectSomethingNew", {"Whatever": [1]}) is None
    assert answer_problem("DetectSomethingNew", "text") is not None
