"""`rekognition-eval batch`: item lists, execution input, result files; ingest gives a local run's metrics.

The end-to-end tests put a ResultWriter output, in the shape AWS documents (manifest.json listing
SUCCEEDED_<n>.json / FAILED_<n>.json, each a JSON array of child executions whose Input and Output are
JSON text), into moto's S3, with answers taken from the local Rekognition endpoint for the same images a
local run calls it for; Step Functions' own API is a botocore Stubber (it checks parameter names and
response shapes against the real service model). tests/aws/test_batch_engine.py runs the real definition on
moto's Step Functions engine.
"""

from __future__ import annotations

import io
import json
import tempfile
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import boto3
import pandas as pd
import pytest
from botocore.stub import ANY, Stubber
from moto import mock_aws

from evaluation.aws import batch
from evaluation.aws.batch import (
    BatchAnswer,
    BatchResultError,
    ExecutionRef,
    answer_from_record,
    batch_item_keys,
    execution_name,
    item_list,
    item_list_key,
    iter_records,
    keys_to_submit,
)
from evaluation.calls.backends.rekognition import RekognitionLabels
from evaluation.calls.cache import ResponseCache
from evaluation.calls.runner import plan
from evaluation.cli import main
from evaluation.datasets import load_dataset
from evaluation.errors import UserError
from evaluation.images import ImageRef
from evaluation.pipeline import evaluate
from tests.support.fake_rekognition import label

REGION = "eu-west-1"
ACCOUNT = "123456789012"
BUCKET = "rekognition-eval-data-1234"
MACHINE = "rekognition-eval-dev-batch"
STATE_MACHINE_ARN = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{MACHINE}"
EXECUTION_ARN = f"arn:aws:states:{REGION}:{ACCOUNT}:execution:{MACHINE}:pets-20260101T000000Z"
MAP_RUN_ARN = f"arn:aws:states:{REGION}:{ACCOUNT}:mapRun:{MACHINE}/Images:5e3c0f6a"
RESULTS = "cache/batch/results/5e3c0f6a"
STARTED = datetime(2026, 1, 1, tzinfo=timezone.utc)

# image key -> (ground truth, the service's labels; None: the service refuses the image)
IMAGES: dict[str, tuple[list[str], list[dict] | None]] = {
    "cat1.jpg": (["Cat"], [label("Cat", 97.0, ("Animal",)), label("Dog", 12.5)]),
    "cat2.jpg": (["Cat"], [label("Cat", 61.0), label("Dog", 30.0)]),
    "dog1.jpg": (["Dog"], [label("Dog", 88.0, ("Animal",))]),
    "both.jpg": (["Cat", "Dog"], [label("Dog", 75.0), label("Cat", 40.0)]),
    "none.jpg": ([], [label("Tree", 55.0)]),
    "broken.jpg": (["Dog"], None),
}


def manifest_line(key: str, names: list[str]) -> str:
    ids = list(range(len(names)))
    return json.dumps(
        {
            "source-ref": f"s3://{BUCKET}/datasets/pets/{key}",
            "pets": ids,
            "pets-metadata": {
                "class-map": {str(i): name for i, name in zip(ids, names, strict=True)},
                "type": "groundtruth/image-classification-multilabel",
                "human-annotated": "yes",
                "creation-date": "2026-01-01T00:00:00",
                "job-name": "labeling-job/pets",
                "confidence-map": {str(i): 1.0 for i in ids},
            },
        }
    )


MANIFEST = "\n".join(manifest_line(key, truth) for key, (truth, _) in IMAGES.items()) + "\n"
DATASET = f"s3://{BUCKET}/datasets/pets/test.manifest"


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name=REGION)
        client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        client.put_object(Bucket=BUCKET, Key="datasets/pets/test.manifest", Body=MANIFEST.encode())
        yield client


@pytest.fixture
def scripted(fake_rekognition) -> Any:
    for key, (_, labels) in IMAGES.items():
        if labels is not None:
            fake_rekognition.answer_for_s3(f"datasets/pets/{key}", labels)
    return fake_rekognition


# --- pure parts ---------------------------------------------------------------------------------------------


def test_item_keys_are_the_dataset_images_once_in_order(tmp_path: Path) -> None:
    lines = [manifest_line(key, truth) for key, (truth, _) in IMAGES.items()]
    path = tmp_path / "pets.manifest"
    path.write_text("\n".join([*lines, lines[0]]) + "\n")  # the same line twice is one image

    keys = batch_item_keys(load_dataset(path), bucket=BUCKET)

    assert keys == [f"datasets/pets/{key}" for key in IMAGES]
    assert json.loads(item_list(keys)) == [{"Key": key} for key in keys]
    assert item_list_key(item_list(keys)) == item_list_key(item_list(list(keys)))
    assert item_list_key(item_list(keys)).startswith("cache/batch/items/")
    assert item_list_key(item_list(keys[:2])) != item_list_key(item_list(keys))


@pytest.mark.parametrize(
    ("image", "message"),
    [
        ("images/cat.jpg", r"1 image\(s\) .* are local files .*upload them under s3://"),
        ("s3://another-bucket/datasets/cat.jpg", r"not under s3://rekognition-eval-data-1234/datasets/"),
        (f"s3://{BUCKET}/reports/cat.jpg", r"e\.g\. s3://rekognition-eval-data-1234/reports/cat\.jpg"),
    ],
)
def test_images_the_batch_cannot_read_are_refused_naming_one(
    tmp_path: Path, image: str, message: str
) -> None:
    path = tmp_path / "data.csv"
    path.write_text(f"image,labels\ns3://{BUCKET}/datasets/ok.jpg,Cat\n{image},Dog\n")

    with pytest.raises(UserError, match=message):
        batch_item_keys(load_dataset(path), bucket=BUCKET)


def test_images_answered_in_the_cache_are_not_submitted_again() -> None:
    keys = ["datasets/a.jpg", "datasets/b.jpg", "datasets/c.jpg"]
    answered = BatchAnswer(f"s3://{BUCKET}/datasets/b.jpg", 0.0, 1000, response={"Labels": []})
    other_request = BatchAnswer(f"s3://{BUCKET}/datasets/c.jpg", 50.0, 1000, response={"Labels": []})

    todo = keys_to_submit(keys, bucket=BUCKET, cached=[answered.cache_key, other_request.cache_key])

    assert todo == ["datasets/a.jpg", "datasets/c.jpg"]


def test_execution_names_and_console_links() -> None:
    name = execution_name("pets & birds", datetime(2026, 3, 4, 5, 6, 7, tzinfo=timezone.utc))
    assert name == "pets-birds-20260304T050607Z"
    assert len(execution_name("x" * 200, STARTED)) == 80

    ref = ExecutionRef.parse(EXECUTION_ARN)
    assert (ref.region, ref.account, ref.state_machine) == (REGION, ACCOUNT, MACHINE)
    assert ref.state_machine_arn == STATE_MACHINE_ARN
    assert ref.console_url == (
        f"https://{REGION}.console.aws.amazon.com/states/home?region={REGION}"
        f"#/v2/executions/details/{EXECUTION_ARN}"
    )
    china = ExecutionRef.parse(EXECUTION_ARN.replace("arn:aws:", "arn:aws-cn:").replace(REGION, "cn-north-1"))
    assert china.console_url.startswith("https://cn-north-1.console.amazonaws.cn/states/home")
    with pytest.raises(UserError, match="not a Step Functions execution ARN"):
        ExecutionRef.parse(STATE_MACHINE_ARN)


RECORDS = [
    {"Status": "SUCCEEDED", "Output": json.dumps({"n": n, "text": "é ü ✓ , ] [" * n})} for n in range(5)
]


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64, 10_000])
def test_result_files_are_read_as_they_stream_in_whatever_the_chunks(size: int) -> None:
    as_array = json.dumps(RECORDS, ensure_ascii=False, indent=1).encode()
    as_lines = "\n".join(json.dumps(r, ensure_ascii=False) for r in RECORDS).encode() + b"\n"

    for body in (as_array, as_lines):
        chunks = [body[i : i + size] for i in range(0, len(body), size)]  # splits UTF-8 characters too
        assert list(iter_records(chunks)) == RECORDS


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'[{"Status": "SUCCEEDED"}', "not closed"),
        (b'[{"Status": "SUCC', "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'[{"a": 1}] {"b": 2}', "after the closing"),
    ],
)
def test_broken_result_files_are_refused_naming_the_file(body: bytes, message: str) -> None:
    with pytest.raises(BatchResultError, match=f"s3://b/k: .*{message}"):
        list(iter_records([body], where="s3://b/k"))


def test_empty_result_files_have_no_records() -> None:
    assert list(iter_records([b"[]"])) == []
    assert list(iter_records([b""])) == []


ITEM = {"Bucket": BUCKET, "Key": "datasets/pets/cat1.jpg", "MinConfidence": 0.0, "MaxLabels": 1000}


def test_a_succeeded_child_is_an_answer_keyed_like_a_local_aws_run() -> None:
    response = {"Labels": [label("Cat", 97.0)], "LabelModelVersion": "3.0"}
    record = {
        "Status": "SUCCEEDED",
        "Input": json.dumps(ITEM),
        "Output": json.dumps({**ITEM, "Response": response}),
    }

    answer = answer_from_record(record)

    assert answer.image == f"s3://{BUCKET}/datasets/pets/cat1.jpg"
    assert answer.response == response
    assert answer.params == {"MinConfidence": 0.0, "MaxLabels": 1000}
    # The key a run with --backend rekognition against AWS (no Endpoint in the key) gives the same image.
    client = boto3.client("rekognition", region_name=REGION)
    with ResponseCache(Path(tempfile.mkdtemp()) / "c.sqlite") as cache:
        outcomes, _ = plan([ImageRef(answer.image)], RekognitionLabels(client), cache)
    assert outcomes[0].cache_key == answer.cache_key


def test_a_caught_error_and_a_failed_child_are_errors_of_their_image() -> None:
    caught = {
        "Status": "SUCCEEDED",
        "Output": {
            **ITEM,
            "Error": {"Error": "Rekognition.InvalidImageFormatException", "Cause": "bad format"},
        },
    }
    failed = {
        "Status": "FAILED",
        "Input": json.dumps(ITEM),
        "Error": "States.DataLimitExceeded",
        "Cause": "The state/task returned a result with a size exceeding the maximum number of bytes.",
    }
    timed_out = {"Status": "TIMED_OUT", "Input": json.dumps(ITEM)}

    assert answer_from_record(caught) == BatchAnswer(
        ITEM_IMAGE, 0.0, 1000, error="Rekognition.InvalidImageFormatException", cause="bad format"
    )
    assert answer_from_record(failed).error == "States.DataLimitExceeded"
    assert answer_from_record(failed).cause.startswith("The state/task returned")
    assert answer_from_record(timed_out).error == "States.TIMED_OUT"


ITEM_IMAGE = f"s3://{BUCKET}/datasets/pets/cat1.jpg"


@pytest.mark.parametrize(
    "record",
    [
        {"Status": "SUCCEEDED", "Output": json.dumps({"Bucket": BUCKET})},
        {"Status": "SUCCEEDED", "Output": json.dumps(ITEM)},
        {"Status": "FAILED"},
    ],
)
def test_records_without_their_item_are_refused(record: dict) -> None:
    with pytest.raises(BatchResultError):
        answer_from_record(record)


# --- end to end against a ResultWriter output in moto's S3 -------------------------------------------------


def service_answers(endpoint_url: str) -> dict[str, dict[str, Any]]:
    """What the (local) service answers for each image, with the batch's request: the answers the batch's
    children would have received, so the local run and the batch see the very same responses."""
    client = boto3.client("rekognition", region_name=REGION, endpoint_url=endpoint_url)
    answers = {}
    for key, (_, labels) in IMAGES.items():
        if labels is None:
            continue
        image = {"S3Object": {"Bucket": BUCKET, "Name": f"datasets/pets/{key}"}}
        response = client.detect_labels(Image=image, MinConfidence=0.0, MaxLabels=1000)
        response.pop("ResponseMetadata")
        answers[key] = response
    return answers


def child_record(key: str, output: dict[str, Any] | None, *, status: str = "SUCCEEDED", **extra: Any) -> dict:
    """One child execution as ResultWriter writes it (Transformation NONE): Input and Output as JSON text."""
    item = {"Bucket": BUCKET, "Key": f"datasets/pets/{key}", "MinConfidence": 0.0, "MaxLabels": 1000}
    record = {
        "ExecutionArn": f"arn:aws:states:{REGION}:{ACCOUNT}:execution:{MACHINE}/Images:5e3c0f6a:{key}",
        "Input": json.dumps(item),
        "InputDetails": {"Included": True},
        "Name": key.replace(".", "-"),
        "RedriveCount": 0,
        "RedriveStatus": "NOT_REDRIVABLE",
        "RedriveStatusReason": f"Execution is {status} and cannot be redriven",
        "StartDate": "2026-01-01T00:00:01.000Z",
        "StateMachineArn": f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{MACHINE}/Images",
        "Status": status,
        "StopDate": "2026-01-01T00:00:02.000Z",
        **extra,
    }
    if output is not None:
        record["Output"] = json.dumps({**item, **output})
        record["OutputDetails"] = {"Included": True}
    return record


def write_results(s3: Any, files: dict[str, list[dict]]) -> str:
    """ResultWriter's files for one Map Run; returns the manifest's key."""
    listed: dict[str, list[dict]] = {"FAILED": [], "PENDING": [], "SUCCEEDED": []}
    for name, records in files.items():
        body = json.dumps(records, indent=2).encode()
        s3.put_object(Bucket=BUCKET, Key=f"{RESULTS}/{name}", Body=body)
        listed[name.split("_")[0]].append({"Key": f"{RESULTS}/{name}", "Size": len(body)})
    manifest = {"DestinationBucket": BUCKET, "MapRunArn": MAP_RUN_ARN, "ResultFiles": listed}
    s3.put_object(Bucket=BUCKET, Key=f"{RESULTS}/manifest.json", Body=json.dumps(manifest).encode())
    return f"{RESULTS}/manifest.json"


def batch_results(s3: Any, endpoint_url: str, *, uncaught: str | None = None) -> str:
    answers = service_answers(endpoint_url)
    records = []
    for key in IMAGES:
        if key == uncaught:
            continue
        if key in answers:
            records.append(child_record(key, {"Response": answers[key]}))
        else:
            cause = (
                "Request has invalid image format (Service: Rekognition, Status Code: 400, Request ID: 1f2e)"
            )
            error = {"Error": "Rekognition.InvalidImageFormatException", "Cause": cause}
            records.append(child_record(key, {"Error": error}))
    files = {"SUCCEEDED_0.json": records[:3], "SUCCEEDED_1.json": records[3:]}
    if uncaught is not None:
        files["FAILED_0.json"] = [
            child_record(
                uncaught,
                None,
                status="FAILED",
                Error="States.DataLimitExceeded",
                Cause="The state/task returned a result with a size exceeding the maximum number of bytes.",
            )
        ]
    return write_results(s3, files)


def stubbed_sfn(*, status: str = "SUCCEEDED", manifest_key: str | None = None, dataset: str = DATASET) -> Any:
    """Step Functions' answers about one execution (and its Map Run), checked against the service model."""
    client = boto3.client("stepfunctions", region_name=REGION)
    stubber = Stubber(client)
    output = {"MapRunArn": MAP_RUN_ARN, "ResultWriterDetails": {"Bucket": BUCKET, "Key": manifest_key}}
    described = {
        "executionArn": EXECUTION_ARN,
        "stateMachineArn": STATE_MACHINE_ARN,
        "name": "pets-20260101T000000Z",
        "status": status,
        "startDate": STARTED,
        "input": json.dumps(
            {
                "itemsKey": "cache/batch/items/x.json",
                "dataset": dataset,
                "datasetFormat": "manifest",
                "images": 6,
            }
        ),
    }
    if status != "RUNNING":
        described["stopDate"] = STARTED
    if manifest_key is not None:
        described["output"] = json.dumps(output)
    counts = {
        "pending": 0 if status != "RUNNING" else 2,
        "running": 0 if status != "RUNNING" else 1,
        "succeeded": 6 if status != "RUNNING" else 3,
        "failed": 0,
        "timedOut": 0,
        "aborted": 0,
        "total": 6,
        "resultsWritten": 6 if status != "RUNNING" else 0,
    }
    for _ in range(2):  # one status call by `batch ingest`, one spare for the test's own checks
        stubber.add_response("describe_execution", described, {"executionArn": EXECUTION_ARN})
        stubber.add_response(
            "list_map_runs",
            {
                "mapRuns": [
                    {
                        "executionArn": EXECUTION_ARN,
                        "mapRunArn": MAP_RUN_ARN,
                        "stateMachineArn": f"{STATE_MACHINE_ARN}/Images",
                        "startDate": STARTED,
                    }
                ]
            },
            {"executionArn": EXECUTION_ARN},
        )
        stubber.add_response(
            "describe_map_run",
            {
                "mapRunArn": MAP_RUN_ARN,
                "executionArn": EXECUTION_ARN,
                "status": "SUCCEEDED" if status != "RUNNING" else "RUNNING",
                "startDate": STARTED,
                "maxConcurrency": 40,
                "toleratedFailurePercentage": 100.0,
                "toleratedFailureCount": 0,
                "itemCounts": counts,
                "executionCounts": counts,
            },
            {"mapRunArn": MAP_RUN_ARN},
        )
    stubber.activate()
    return client


class FakeSession:
    """What the CLI gets in place of a boto3 session: moto's S3 and a stubbed Step Functions."""

    def __init__(self, sfn: Any) -> None:
        self.sfn = sfn

    def client(self, service: str, region_name: str | None = None) -> Any:
        if service == "stepfunctions":
            return self.sfn
        return boto3.client(service, region_name=region_name or REGION)


@pytest.fixture
def session(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Route the batch commands' AWS clients to the fakes a test sets with `session.sfn = ...`."""
    fake = FakeSession(None)
    monkeypatch.setattr("evaluation.cli.batch._session", lambda args, region: (None, fake))
    return fake


def local_run(endpoint_url: str, s3: Any, tmp_path: Path) -> Any:
    return evaluate(
        DATASET,
        endpoint_url=endpoint_url,
        region=REGION,
        cache=tmp_path / "local.sqlite",
        s3_client=s3,
        min_support=1,
        progress=False,
        out=tmp_path / "local-run",
    )


def metrics(run_dir: Path) -> pd.DataFrame:
    return pd.read_csv(run_dir / "metrics.csv")


def test_ingest_then_report_and_replay_give_the_local_run_s_metrics(
    s3, endpoint, scripted, session, tmp_path, capsys
) -> None:
    local = local_run(endpoint.url, s3, tmp_path)
    assert local.summary["images"]["by_status"] == {"called": 5, "failed": 1}
    manifest_key = batch_results(s3, endpoint.url)
    session.sfn = stubbed_sfn(manifest_key=manifest_key)
    cache = tmp_path / "batch.sqlite"
    capsys.readouterr()

    code = main(
        [
            "--quiet",
            "batch",
            "ingest",
            EXECUTION_ARN,
            "--cache",
            str(cache),
            "--out",
            str(tmp_path / "batch-run"),
            "--min-support",
            "1",
        ]
    )

    printed = capsys.readouterr().out
    assert code == 1  # one image was not evaluated: like the local run, the report names it
    assert "Ingested 5 answer(s) from 2 result file(s)" in printed
    assert "1 image(s) failed in the batch" in printed
    pd.testing.assert_frame_equal(metrics(tmp_path / "batch-run"), metrics(tmp_path / "local-run"))
    summary = json.loads((tmp_path / "batch-run" / "summary.json").read_text())
    assert summary["backend"] == "batch"
    assert summary["labels"] == local.summary["labels"]
    assert summary["global"] == local.summary["global"]
    assert summary["errors"] == [
        {
            "image": f"s3://{BUCKET}/datasets/pets/broken.jpg",
            "status": "failed",
            "error_code": "Rekognition.InvalidImageFormatException",
            "reason": "Rekognition.InvalidImageFormatException: Request has invalid image format (Service: "
            "Rekognition, Status Code: 400, Request ID: 1f2e)",
        }
    ]
    assert [e["error_code"] for e in local.summary["errors"]] == ["InvalidImageFormatException"]
    assert summary["cost"]["calls"] == 6
    assert summary["api_calls"] == 0  # nothing was called from here
    with ResponseCache(cache) as store:
        stored = {entry.image_id: entry for entry in store.get_many(_keys(store)).values()}
    assert set(stored) == {
        f"s3://{BUCKET}/datasets/pets/{key}" for key, (_, labels) in IMAGES.items() if labels
    }
    assert {entry.params["MinConfidence"] for entry in stored.values()} == {0.0}
    assert {entry.model_version for entry in stored.values()} == {"3.0"}

    # `report` recomputes the batch's run folder from run.json, images.csv and the cache.
    assert main(["--quiet", "report", str(tmp_path / "batch-run"), "--out", str(tmp_path / "reported")]) == 1
    pd.testing.assert_frame_equal(metrics(tmp_path / "reported"), metrics(tmp_path / "local-run"))

    # A run with --backend replay over the same dataset finds every answer the batch stored.
    code = main(
        [
            "--quiet",
            "run",
            "--backend",
            "replay",
            "--dataset",
            DATASET,
            "--region",
            REGION,
            "--cache",
            str(cache),
            "--out",
            str(tmp_path / "replayed"),
            "--min-support",
            "1",
        ]
    )
    assert code == 1  # broken.jpg has no answer
    pd.testing.assert_frame_equal(metrics(tmp_path / "replayed"), metrics(tmp_path / "local-run"))
    replayed = json.loads((tmp_path / "replayed" / "summary.json").read_text())
    assert replayed["images"]["by_status"] == {"cached": 5, "missing": 1}


def _keys(store: ResponseCache) -> list[str]:
    import sqlite3

    with sqlite3.connect(store.path) as connection:
        return [row[0] for row in connection.execute("SELECT key FROM responses")]


def test_a_child_that_failed_outright_is_an_error_of_its_image(
    s3, endpoint, scripted, session, tmp_path
) -> None:
    manifest_key = batch_results(s3, endpoint.url, uncaught="dog1.jpg")
    session.sfn = stubbed_sfn(manifest_key=manifest_key)

    reports = tmp_path / "reports"
    code = main(
        [
            "--quiet",
            "batch",
            "ingest",
            EXECUTION_ARN,
            "--cache",
            str(tmp_path / "c.sqlite"),
            "--reports-dir",
            str(reports),
            "--dataset",  # the same as recorded: given explicitly, as when ingesting elsewhere
            DATASET,
        ]
    )

    assert code == 1
    (summary_file,) = reports.glob("*test-*/summary.json")  # reports/<dataset>-<time>, as for `run`
    summary = json.loads(summary_file.read_text())
    errors = {e["image"].rsplit("/", 1)[-1]: e["error_code"] for e in summary["errors"]}
    assert errors == {
        "broken.jpg": "Rekognition.InvalidImageFormatException",
        "dog1.jpg": "States.DataLimitExceeded",
    }


def test_ingest_without_a_run_only_fills_the_cache_and_says_how_to_analyse(
    s3, endpoint, scripted, session, tmp_path, capsys
) -> None:
    session.sfn = stubbed_sfn(manifest_key=batch_results(s3, endpoint.url))

    code = main(["batch", "ingest", EXECUTION_ARN, "--cache", str(tmp_path / "c.sqlite"), "--no-run"])

    assert code == 0
    printed = capsys.readouterr().out
    assert "Ingested 5 answer(s)" in printed
    assert "--backend replay" in printed and "--min-confidence 0 --max-labels 1000" in printed
    assert not (tmp_path / "reports").exists()


def test_a_running_batch_is_not_ingested(s3, session, tmp_path, capsys) -> None:
    session.sfn = stubbed_sfn(status="RUNNING")

    code = main(["batch", "ingest", EXECUTION_ARN, "--cache", str(tmp_path / "c.sqlite")])

    assert code == 2
    error = capsys.readouterr().err
    assert "the batch is still running" in error and "3 of 6 done" in error
    assert f"rekognition-eval batch status {EXECUTION_ARN}" in error


def test_a_failed_batch_without_results_says_why(s3, session, tmp_path, capsys) -> None:
    client = boto3.client("stepfunctions", region_name=REGION)
    stubber = Stubber(client)
    stubber.add_response(
        "describe_execution",
        {
            "executionArn": EXECUTION_ARN,
            "stateMachineArn": STATE_MACHINE_ARN,
            "status": "FAILED",
            "startDate": STARTED,
            "error": "States.ItemReaderFailed",
            "cause": "Access Denied",
        },
    )
    stubber.add_response("list_map_runs", {"mapRuns": []})
    stubber.activate()
    session.sfn = client

    assert main(["batch", "ingest", EXECUTION_ARN, "--cache", str(tmp_path / "c.sqlite")]) == 2
    assert (
        "ended FAILED without results to ingest (States.ItemReaderFailed: Access Denied)"
        in capsys.readouterr().err
    )


def test_status_shows_progress_and_the_console_link(session, capsys) -> None:
    session.sfn = stubbed_sfn(status="RUNNING")

    assert main(["batch", "status", EXECUTION_ARN]) == 0

    printed = capsys.readouterr().out
    assert f"Execution: {EXECUTION_ARN}" in printed
    assert "Status: RUNNING" in printed
    assert "Images: 3 of 6 done, 1 running, 2 pending; 0 failed outright" in printed
    assert f"#/v2/executions/details/{EXECUTION_ARN}" in printed


# --- submit -------------------------------------------------------------------------------------------------


@pytest.fixture
def outputs_file(tmp_path: Path) -> Path:
    path = tmp_path / "outputs.json"
    path.write_text(
        json.dumps(
            {
                "bucketName": BUCKET,
                "bucketArn": f"arn:aws:s3:::{BUCKET}",
                "roleArn": f"arn:aws:iam::{ACCOUNT}:role/rekognition-eval",
                "region": REGION,
                "stateMachineArn": STATE_MACHINE_ARN,
            }
        )
    )
    return path


def test_submit_uploads_the_items_and_a_local_manifest_and_starts_one_execution(
    s3, outputs_file, tmp_path, capsys, monkeypatch
) -> None:
    local_manifest = tmp_path / "pets.manifest"
    local_manifest.write_text(MANIFEST)
    cache = tmp_path / "c.sqlite"
    with ResponseCache(cache) as store:  # one image is already answered: it is not sent again
        done = BatchAnswer(f"s3://{BUCKET}/datasets/pets/cat2.jpg", 0.0, 1000, response={"Labels": []})
        store.put(done.cache_key, image_id=done.image, operation="DetectLabels", params=done.params,
                  response={"Labels": []}, model_version=None)  # fmt: skip
    sfn = boto3.client("stepfunctions", region_name=REGION)
    stubber = Stubber(sfn)
    started: dict[str, Any] = {}
    stubber.add_response(
        "start_execution",
        {"executionArn": EXECUTION_ARN, "startDate": STARTED},
        {"stateMachineArn": STATE_MACHINE_ARN, "name": ANY, "input": ANY},
    )
    stubber.activate()
    original = sfn.start_execution

    def recording_start(**kwargs: Any) -> Any:
        started.update(kwargs)
        return original(**kwargs)

    monkeypatch.setattr(sfn, "start_execution", recording_start)
    fake = FakeSession(sfn)
    monkeypatch.setattr("evaluation.cli.common.stack", lambda *_, **__: (_outputs(outputs_file), fake))

    code = main(
        [
            "batch",
            "submit",
            "--dataset",
            str(local_manifest),
            "--stack-outputs",
            str(outputs_file),
            "--cache",
            str(cache),
        ]
    )

    assert code == 0
    printed = capsys.readouterr().out
    assert "Submitted 5 image(s)" in printed and "(1 already answered in the cache left out)" in printed
    assert f"Execution: {EXECUTION_ARN}" in printed
    assert f"Console: https://{REGION}.console.aws.amazon.com/states/home" in printed
    document = json.loads(started["input"])
    assert started["name"].startswith("pets-") and len(started["name"]) <= 80
    assert document["images"] == 5
    assert document["datasetFormat"] == "manifest"
    items = json.loads(s3.get_object(Bucket=BUCKET, Key=document["itemsKey"])["Body"].read())
    assert items == [{"Key": f"datasets/pets/{key}"} for key in IMAGES if key != "cat2.jpg"]
    assert document["dataset"].startswith(f"s3://{BUCKET}/cache/batch/datasets/")
    copy_key = document["dataset"].removeprefix(f"s3://{BUCKET}/")
    assert s3.get_object(Bucket=BUCKET, Key=copy_key)["Body"].read().decode() == MANIFEST
    stubber.assert_no_pending_responses()


def _outputs(path: Path) -> Any:
    from evaluation.aws.stack_outputs import load_stack_outputs

    return load_stack_outputs(str(path))


def test_submit_with_everything_cached_starts_nothing(
    s3, outputs_file, tmp_path, capsys, monkeypatch
) -> None:
    cache = tmp_path / "c.sqlite"
    with ResponseCache(cache) as store:
        for key in IMAGES:
            done = BatchAnswer(f"s3://{BUCKET}/datasets/pets/{key}", 0.0, 1000, response={"Labels": []})
            store.put(done.cache_key, image_id=done.image, operation="DetectLabels", params=done.params,
                      response={"Labels": []}, model_version=None)  # fmt: skip
    sfn = boto3.client("stepfunctions", region_name=REGION)
    Stubber(sfn).activate()  # any call would fail: none may be made
    session = FakeSession(sfn)
    monkeypatch.setattr("evaluation.cli.common.stack", lambda *_, **__: (_outputs(outputs_file), session))

    code = main(
        ["batch", "submit", "--dataset", DATASET, "--stack-outputs", str(outputs_file), "--cache", str(cache)]
    )

    assert code == 0
    assert "already answered" in capsys.readouterr().out
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET, Prefix="cache/batch/")


def test_submit_needs_the_batch_state_machine(s3, tmp_path, capsys, monkeypatch) -> None:
    path = tmp_path / "outputs.json"
    path.write_text(
        json.dumps(
            {
                "bucketName": BUCKET,
                "bucketArn": f"arn:aws:s3:::{BUCKET}",
                "roleArn": f"arn:aws:iam::{ACCOUNT}:role/rekognition-eval",
                "region": REGION,
            }
        )
    )

    code = main(["batch", "submit", "--dataset", DATASET, "--stack-outputs", str(path), "--no-assume-role"])

    assert code == 2
    assert "pulumi config set batch true" in capsys.readouterr().err


def test_ingest_io_reads_a_manifest_with_no_result_files(s3, endpoint, scripted, tmp_path) -> None:
    """A batch whose images were all answered before: ResultWriter's manifest lists no file."""
    manifest_key = write_results(s3, {})
    with ResponseCache(tmp_path / "c.sqlite") as store:
        ingested = batch.ingest(stubbed_sfn(manifest_key=manifest_key), s3, EXECUTION_ARN, store)
    assert (ingested.stored, ingested.failures, ingested.result_files) == (0, {}, 0)


def test_results_mixing_two_requests_are_refused(tmp_path: Path) -> None:
    answers = [
        BatchAnswer("s3://b/datasets/a.jpg", 0.0, 1000, response={"Labels": []}),
        BatchAnswer("s3://b/datasets/b.jpg", 50.0, 1000, response={"Labels": []}),
    ]
    status = batch.BatchStatus(
        ExecutionRef.parse(EXECUTION_ARN), "SUCCEEDED", None, None, {}, None, None, None
    )
    with ResponseCache(tmp_path / "c.sqlite") as store, pytest.raises(BatchResultError, match="mix requests"):
        batch.store_answers(iter(answers), store, batch.Ingested(status=status))


def test_stream_is_read_in_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """The S3 body is consumed with iter_chunks, never read whole."""

    class Body(io.BytesIO):
        def iter_chunks(self, chunk_size: int) -> Iterator[bytes]:
            assert chunk_size == 1 << 20
            while chunk := self.read(chunk_size):
                yield chunk

    class S3:
        def get_object(self, Bucket: str, Key: str) -> dict:
            return {"Body": Body(b'[{"a": 1}]')}

    assert list(iter_records(batch._stream(S3(), "b", "k"))) == [{"a": 1}]
