"""Video ground truth: `video,labels` CSVs and JSON Lines with segments, and the stack's video outputs."""

from __future__ import annotations

import json

import pytest

from evaluation.aws.stack_outputs import parse_stack_outputs
from evaluation.datasets import GroundTruthSegment, load_dataset
from evaluation.errors import DatasetError


def test_video_csv_and_segments(tmp_path):
    csv = tmp_path / "videos.csv"
    csv.write_text("video,labels\ns3://b/a.mp4,Dog;Cat\ns3://b/b.mov,\n")
    dataset = load_dataset(csv)
    assert [item.labels for item in dataset.items] == [frozenset({"Dog", "Cat"}), frozenset()]
    lines = tmp_path / "videos.jsonl"
    lines.write_text(
        json.dumps({"video": "s3://b/a.mp4", "segments": [{"label": "Dog", "start_ms": 0, "end_ms": 1500}]})
        + "\n"
        + json.dumps({"video": "s3://b/b.mp4", "segments": []})
        + "\n"
    )
    dataset = load_dataset(lines)
    assert dataset.items[0].segments == (GroundTruthSegment("Dog", 0, 1500),)
    assert dataset.items[0].labels == frozenset({"Dog"}) and dataset.items[1].labels == frozenset()


@pytest.mark.parametrize(
    ("segment", "problem"),
    [
        ({"label": "Dog", "start_ms": 500, "end_ms": 500}, "end_ms > start_ms"),
        ({"label": "Dog", "start_ms": "0", "end_ms": 5}, "must be a number"),
        ({"start_ms": 0, "end_ms": 5}, "expected"),
    ],
)
def test_bad_segments_are_bad_lines(tmp_path, segment, problem):
    lines = tmp_path / "videos.jsonl"
    lines.write_text(json.dumps({"video": "s3://b/a.mp4", "segments": [segment]}) + "\n")
    with pytest.raises(DatasetError, match=problem):
        load_dataset(lines)


def test_stack_video_outputs_make_the_notification_channel():
    document = {
        "bucketName": "b",
        "bucketArn": "arn:aws:s3:::b",
        "roleArn": "arn:aws:iam::123456789012:role/eval",
        "region": "us-east-1",
        "videoTopicArn": "arn:aws:sns:us-east-1:123456789012:AmazonRekognition-eval",
        "videoNotificationRoleArn": "arn:aws:iam::123456789012:role/video",
        "videoQueueUrl": "https://sqs.us-east-1.amazonaws.com/123456789012/eval-video",
    }
    outputs = parse_stack_outputs(document)
    assert outputs.video_channel == (
        document["videoTopicArn"],
        document["videoNotificationRoleArn"],
        document["videoQueueUrl"],
    )
    del document["videoQueueUrl"]
    assert parse_stack_outputs(document).video_channel is None
