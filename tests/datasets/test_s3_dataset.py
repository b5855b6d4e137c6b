"""A Ground Truth manifest and its images in S3 (moto): images go to Rekognition as S3Object, not as bytes."""

import json

import boto3
import pytest
from moto import mock_aws

from evaluation import evaluate
from tests.support.fake_rekognition import label

BUCKET = "eval-data"


def classification_line(key: str, class_names: list[str]) -> str:
    ids = list(range(len(class_names)))
    return json.dumps(
        {
            "source-ref": f"s3://{BUCKET}/datasets/pets/{key}",
            "pets": ids,
            "pets-metadata": {
                "class-map": {str(i): name for i, name in zip(ids, class_names, strict=True)},
                "type": "groundtruth/image-classification-multilabel",
                "human-annotated": "yes",
                "creation-date": "2026-01-01T00:00:00",
                "job-name": "labeling-job/pets",
                "confidence-map": {str(i): 1.0 for i in ids},
            },
        }
    )


@pytest.fixture
def s3():
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


def test_s3_manifest_with_s3_images(s3, endpoint, fake_rekognition, tmp_path):
    truths = {"cat1.jpg": ["Cat"], "cat2.jpg": ["Cat"], "dog1.jpg": ["Dog"], "both.jpg": ["Cat", "Dog"]}
    answers = {
        "cat1.jpg": [label("Cat", 97.0, ("Animal",))],
        "cat2.jpg": [label("Cat", 61.0), label("Dog", 30.0)],
        "dog1.jpg": [label("Dog", 88.0)],
        "both.jpg": [label("Dog", 75.0)],
    }
    for key, labels in answers.items():
        fake_rekognition.answer_for_s3(f"datasets/pets/{key}", labels)
    manifest = "\n".join(classification_line(key, names) for key, names in truths.items()) + "\n"
    s3.put_object(Bucket=BUCKET, Key="datasets/pets/test.manifest", Body=manifest.encode())

    result = evaluate(
        f"s3://{BUCKET}/datasets/pets/test.manifest",
        endpoint_url=endpoint.url,
        region="us-east-1",
        cache=tmp_path / "cache.sqlite",
        s3_client=s3,
        min_support=1,
        progress=False,
        out=tmp_path / "run",
    )
    assert result.complete
    assert result.summary["api_calls"] == 4
    assert all(request == {"MinConfidence": 0.0, "MaxLabels": 1000} for request in fake_rekognition.requests)
    assert set(fake_rekognition.calls) == {f"s3:datasets/pets/{key}" for key in truths}
    cat = result.metrics.query("label == 'Cat' and threshold == 61").iloc[0]
    assert (cat.tp, cat.fp, cat.fn, cat.tn) == (2, 0, 1, 1)
    dog = result.metrics.query("label == 'Dog' and threshold == 30").iloc[0]
    assert (dog.tp, dog.fp, dog.fn, dog.tn) == (2, 1, 0, 1)
    assert (tmp_path / "run" / "metrics.csv").is_file()


def test_the_local_backend_reads_s3_images_itself(s3, tmp_path):
    """Unlike Rekognition, the local model runs here: it must fetch S3 images with an S3 client."""
    from pathlib import Path

    sample = Path(__file__).resolve().parents[2] / "datasets" / "sample" / "images"
    lines = []
    for name, truth in (("chelsea-a.jpg", "Cat"), ("coffee-a.jpg", "Coffee")):
        s3.put_object(Bucket=BUCKET, Key=f"datasets/pets/{name}", Body=(sample / name).read_bytes())
        lines.append(f"s3://{BUCKET}/datasets/pets/{name},{truth}")
    s3.put_object(
        Bucket=BUCKET, Key="datasets/pets/data.csv", Body=("image,labels\n" + "\n".join(lines)).encode()
    )
    result = evaluate(
        f"s3://{BUCKET}/datasets/pets/data.csv",
        backend="local",
        cache=tmp_path / "cache.sqlite",
        min_support=1,
        progress=False,
    )
    assert result.complete and result.summary["api_calls"] == 2
    cat = result.metrics.query("label == 'Cat' and threshold == 50").iloc[0]
    assert (cat.tp, cat.fp) == (1, 0)
