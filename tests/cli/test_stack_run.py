"""`run --stack-outputs`: the Pulumi stack's bucket, region and role, with S3 and STS on moto."""

import json

import boto3
import pytest
from moto import mock_aws

from evaluation.cli import main
from tests.support.fake_rekognition import label

BUCKET = "rekognition-eval-data-1234"


@pytest.fixture
def stack(tmp_path):
    with mock_aws():
        s3 = boto3.client("s3", region_name="eu-west-1")
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        outputs = {
            "bucketName": BUCKET,
            "bucketArn": f"arn:aws:s3:::{BUCKET}",
            "roleArn": "arn:aws:iam::123456789012:role/rekognition-eval",
            "region": "eu-west-1",
        }
        path = tmp_path / "outputs.json"
        path.write_text(json.dumps(outputs))
        yield s3, path


def test_dataset_from_the_stack_bucket_and_report_uploaded(stack, endpoint, fake_rekognition, tmp_path):
    s3, outputs = stack
    lines = []
    for name, truth, confidence in (("a.jpg", "Cat", 91.0), ("b.jpg", "Dog", 80.0)):
        fake_rekognition.answer_for_s3(f"datasets/pets/{name}", [label(truth, confidence)])
        lines.append(f"s3://{BUCKET}/datasets/pets/{name},{truth}")
    s3.put_object(
        Bucket=BUCKET, Key="datasets/pets/data.csv", Body=("image,labels\n" + "\n".join(lines)).encode()
    )
    out = tmp_path / "pets-run"
    code = main(
        [
            "--quiet",
            "run",
            "--dataset",
            "pets/data.csv",
            "--stack-outputs",
            str(outputs),
            "--endpoint-url",
            endpoint.url,
            "--cache",
            str(tmp_path / "c.sqlite"),
            "--out",
            str(out),
            "--min-support",
            "1",
        ]
    )
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["region"] == "eu-west-1"
    keys = {obj["Key"] for obj in s3.list_objects_v2(Bucket=BUCKET, Prefix="reports/")["Contents"]}
    assert {"reports/pets-run/metrics.csv", "reports/pets-run/summary.json"} <= keys


def test_bad_stack_outputs_are_a_one_line_error(tmp_path, capsys):
    path = tmp_path / "outputs.json"
    path.write_text('{"bucketName": "x"}')
    assert main(["run", "--dataset", "d.csv", "--stack-outputs", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "roleArn" in err and len(err.splitlines()) == 1
