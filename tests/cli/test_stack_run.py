"""`run --stack-outputs`: the Pulumi stack's bucket, region and role, with S3 and STS on moto."""

import json

import boto3
import pytest
from moto import mock_aws

from evaluation.cli import main
from tests.support.cli import run_cli, run_words
from tests.support.fake_rekognition import label

BUCKET = "rekognition-eval-data-1234"


def run_pets(outputs, endpoint, tmp_path, out) -> int:
    """`run` of the stack bucket's datasets/pets/data.csv (named relative to the bucket) into `out`."""
    return run_cli(
        *run_words(
            "pets/data.csv",
            "--stack-outputs",
            str(outputs),
            "--min-support",
            "1",
            endpoint_url=endpoint.url,
            cache=tmp_path / "c.sqlite",
            out=out,
        )
    )


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
    code = run_pets(outputs, endpoint, tmp_path, out)
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


def test_only_the_files_the_run_wrote_are_uploaded(stack, endpoint, fake_rekognition, tmp_path):
    """--out already holds a .git folder, a dotfile, the user's notes, and symlinks to secrets outside:
    none of it is sent, only the run's own files (issue 18, item 19)."""
    import os

    from evaluation.aws.upload import upload_run

    s3, outputs = stack
    fake_rekognition.answer_for_s3("datasets/pets/a.jpg", [label("Cat", 91.0)])
    s3.put_object(
        Bucket=BUCKET,
        Key="datasets/pets/data.csv",
        Body=f"image,labels\ns3://{BUCKET}/datasets/pets/a.jpg,Cat\n".encode(),
    )
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "id_rsa").write_text("PRIVATE KEY")
    out = tmp_path / "pets-run"
    (out / ".git").mkdir(parents=True)
    (out / ".git" / "config").write_text("[remote]")
    (out / ".env").write_text("AWS_SECRET_ACCESS_KEY=x")
    (out / "notes.txt").write_text("mine")
    (out / "key.csv").symlink_to(secret / "id_rsa")
    (out / "linked").symlink_to(secret, target_is_directory=True)
    code = run_pets(outputs, endpoint, tmp_path, out)
    assert code == 0
    keys = {obj["Key"] for obj in s3.list_objects_v2(Bucket=BUCKET, Prefix="reports/")["Contents"]}
    names = {key.removeprefix("reports/pets-run/") for key in keys}
    assert {"summary.json", "report.html", "report.md", "run.json", "images.csv", "plots/global.png"} <= names
    assert not {name for name in names if name.startswith(".") or "/." in name}
    assert not {"notes.txt", "key.csv"} & names and not any(name.startswith("linked") for name in names)
    for key in keys:
        assert b"PRIVATE KEY" not in s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    # the user's files are still there, untouched
    assert (out / "notes.txt").read_text() == "mine" and (out / ".git" / "config").is_file()
    assert os.path.islink(out / "key.csv")

    # even when told to, the upload never follows a link nor sends a dotfile
    s3.delete_objects(Bucket=BUCKET, Delete={"Objects": [{"Key": key} for key in keys]})
    upload_run(
        out,
        s3,
        bucket=BUCKET,
        prefix="reports/",
        files=["key.csv", "linked/id_rsa", ".env", "../secret/id_rsa", "summary.json"],
    )
    keys = {obj["Key"] for obj in s3.list_objects_v2(Bucket=BUCKET, Prefix="reports/")["Contents"]}
    assert keys == {"reports/pets-run/summary.json"}
