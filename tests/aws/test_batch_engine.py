"""The batch end to end on moto's Step Functions engine: submit, run the real definition, ingest, report.

moto (with `execute_state_machine`) runs the very document infra/batch_definition.py builds: the
ItemReader reads the item list `batch submit` uploaded to moto's S3, the Distributed Map starts a child
per image, each child calls DetectLabels through the AWS SDK integration, the Retry and Catch behave as
declared, and the execution ends with ResultWriter's details. The children's calls go to the local
Rekognition endpoint (tests/conftest.py) through botocore's AWS_ENDPOINT_URL_REKOGNITION, so the batch and
a local run get their answers from the same scripted service.

What moto's engine lacks, and how this test stands in for it (each patch is applied to moto only):
  - ResultWriter: moto writes manifest.json with empty ResultFiles and drops the children's results. The
    patch below writes them as SUCCEEDED_0.json in AWS's documented shape (each child's Output as JSON
    text; its Input rebuilt from the item the Output carries, since moto does not hand inputs over).
    The shape itself, with FAILED files too, is tested in tests/aws/test_batch.py.
  - Error names: moto names an SDK integration's errors with the lower-case service name
    ("rekognition.ThrottlingException") unless it knows the service; AWS names them
    "Rekognition.ThrottlingException", as the definition's Retry expects. The test registers the name.
  - ToleratedFailurePercentage has no effect in moto (nothing here fails uncaught), and the Retry's
    waits are recorded instead of slept.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import boto3
import pandas as pd
import pytest
from moto import mock_aws

from evaluation.aws import batch
from evaluation.calls.cache import ResponseCache
from evaluation.datasets import load_dataset
from evaluation.options import AnalysisOptions, RunRequest
from evaluation.pipeline import evaluate, evaluate_batch
from evaluation.server.protocol import ServiceError
from infra.batch_definition import batch_definition
from tests.support.fake_rekognition import label

pytest.importorskip(
    "antlr4", reason="moto's Step Functions engine needs moto[stepfunctions] (pyproject's test extra)"
)

REGION = "us-east-1"
BUCKET = "rekognition-eval-data-engine"
ROLE = "arn:aws:iam::123456789012:role/rekognition-eval-batch"
IMAGES: dict[str, tuple[str, list[dict] | None]] = {
    "cat1.jpg": ("Cat", [label("Cat", 97.0, ("Animal",)), label("Dog", 12.5)]),
    "cat2.jpg": ("Cat", [label("Cat", 61.0), label("Dog", 30.0)]),  # throttled once, then answered
    "dog1.jpg": ("Dog", [label("Dog", 88.0, ("Animal",))]),
    "dog2.jpg": ("Dog", [label("Dog", 45.0), label("Cat", 44.0)]),
    "broken.jpg": ("Dog", None),  # the service refuses it: caught, recorded
}
CSV = "image,labels\n" + "\n".join(
    f"s3://{BUCKET}/datasets/pets/{key},{truth}" for key, (truth, _) in IMAGES.items()
)
DATASET = f"s3://{BUCKET}/datasets/pets/pets.csv"


@pytest.fixture
def engine(monkeypatch: pytest.MonkeyPatch, endpoint, fake_rekognition) -> Iterator[SimpleNamespace]:
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.result_writer.resource_eval import (
        resource_eval_s3,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_aws_sdk,
    )

    waits: list[float] = []
    monkeypatch.setattr(retrier_decl, "time", SimpleNamespace(sleep=waits.append))
    monkeypatch.setitem(state_task_service_aws_sdk._SERVICE_ERROR_NAMES, "rekognition", "Rekognition")
    monkeypatch.setattr(resource_eval_s3.ResourceEvalS3, "_handle_put_object", staticmethod(_write_results))
    monkeypatch.setenv("AWS_ENDPOINT_URL_REKOGNITION", endpoint.url)
    for key, (_, labels) in IMAGES.items():
        if labels is not None:
            fake_rekognition.answer_for_s3(f"datasets/pets/{key}", labels)

    def throttle_once(identity: str, attempt: int) -> ServiceError | None:
        if identity == "s3:datasets/pets/cat2.jpg" and attempt == 1:
            return ServiceError("ThrottlingException", "Rate exceeded")
        return None

    fake_rekognition.fault = throttle_once
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET)
        s3.put_object(Bucket=BUCKET, Key="datasets/pets/pets.csv", Body=CSV.encode())
        sfn = boto3.client("stepfunctions", region_name=REGION)
        machine = sfn.create_state_machine(
            name="rekognition-eval-dev-batch",
            definition=json.dumps(batch_definition(bucket=BUCKET, max_concurrency=4)),
            roleArn=ROLE,
        )["stateMachineArn"]
        yield SimpleNamespace(s3=s3, sfn=sfn, machine=machine, waits=waits, service=fake_rekognition)


def _write_results(env: Any, resource_runtime_part: Any, state_credentials: Any) -> None:
    """moto's ResultWriter, completed: the children's results as AWS writes them (see the module doc)."""
    from moto.stepfunctions.parser.asl.utils.boto_client import boto_client_for

    parameters = env.stack.pop()
    results = env.stack.pop()
    s3 = boto_client_for(
        service="s3", region=resource_runtime_part.region, state_credentials=state_credentials
    )
    map_run_arn = env.map_run_record_pool_manager.get_all()[-1].map_run_arn
    prefix = f"{parameters['Prefix'].rstrip('/')}/{map_run_arn.split(':')[-1]}/"
    records = [
        {
            "Input": json.dumps({k: output[k] for k in ("Bucket", "Key", "MinConfidence", "MaxLabels")}),
            "InputDetails": {"Included": True},
            "Output": json.dumps(output),
            "OutputDetails": {"Included": True},
            "Status": "SUCCEEDED",
        }
        for output in results
    ]
    body = json.dumps(records).encode()
    s3.put_object(Bucket=parameters["Bucket"], Key=f"{prefix}SUCCEEDED_0.json", Body=body)
    manifest = {
        "DestinationBucket": parameters["Bucket"],
        "MapRunArn": map_run_arn,
        "ResultFiles": {
            "FAILED": [],
            "PENDING": [],
            "SUCCEEDED": [{"Key": f"{prefix}SUCCEEDED_0.json", "Size": len(body)}],
        },
    }
    s3.put_object(
        Bucket=parameters["Bucket"], Key=f"{prefix}manifest.json", Body=json.dumps(manifest).encode()
    )
    env.stack.append(
        {
            "MapRunArn": map_run_arn,
            "ResultWriterDetails": {"Bucket": parameters["Bucket"], "Key": f"{prefix}manifest.json"},
        }
    )


def wait_for(sfn: Any, arn: str, seconds: float = 30.0) -> dict:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        described = sfn.describe_execution(executionArn=arn)
        if described["status"] != "RUNNING":
            return described
        time.sleep(0.02)
    raise AssertionError(f"{arn} still running after {seconds} s")


def test_a_batch_runs_on_moto_s_engine_and_ingests_to_the_local_run_s_metrics(
    engine, endpoint, tmp_path
) -> None:
    dataset = load_dataset(DATASET, s3_client=engine.s3)

    submission = batch.submit(
        dataset,
        bucket=BUCKET,
        state_machine_arn=engine.machine,
        sfn=engine.sfn,
        s3=engine.s3,
        cache_path=None,
    )
    described = wait_for(engine.sfn, submission.execution.arn)

    assert described["status"] == "SUCCEEDED", described
    output = json.loads(described["output"])
    assert output["ResultWriterDetails"]["Bucket"] == BUCKET
    assert output["ResultWriterDetails"]["Key"].startswith("cache/batch/results/")
    # Each image was asked once with the harness's request, the throttled one once more after a wait.
    service = engine.service
    assert dict(service.calls) == {f"s3:datasets/pets/{key}": 2 if key == "cat2.jpg" else 1 for key in IMAGES}
    assert all(request == {"MinConfidence": 0.0, "MaxLabels": 1000} for request in service.requests)
    assert len(engine.waits) == 1 and 0 <= engine.waits[0] <= 2  # IntervalSeconds 2, full jitter
    status = batch.batch_status(engine.sfn, submission.execution.arn)
    assert status.item_counts["total"] == status.item_counts["succeeded"] == len(IMAGES)

    with ResponseCache(tmp_path / "batch.sqlite") as store:
        ingested = batch.ingest(engine.sfn, engine.s3, submission.execution.arn, store)
    assert ingested.stored == 4
    assert set(ingested.failures) == {f"s3://{BUCKET}/datasets/pets/broken.jpg"}
    failure = ingested.failures[f"s3://{BUCKET}/datasets/pets/broken.jpg"]
    assert failure.error == "Rekognition.InvalidImageFormatException"
    assert "Request has invalid image format" in failure.cause

    batch_result = evaluate_batch(
        ingested,
        RunRequest(dataset=DATASET, backend="replay", cache=tmp_path / "batch.sqlite", progress=False),
        AnalysisOptions.build(min_support=1),
        s3_client=engine.s3,
    )
    service.fault = None
    local = evaluate(
        DATASET,
        endpoint_url=endpoint.url,
        region=REGION,
        cache=tmp_path / "local.sqlite",
        s3_client=engine.s3,
        progress=False,
        min_support=1,
    )
    pd.testing.assert_frame_equal(batch_result.metrics, local.metrics)
    assert batch_result.summary["labels"] == local.summary["labels"]
    assert [(e["image"], e["error_code"]) for e in batch_result.summary["errors"]] == [
        (f"s3://{BUCKET}/datasets/pets/broken.jpg", "Rekognition.InvalidImageFormatException")
    ]
