"""The batch state machine's ASL, checked part by part: states, ItemReader, ItemSelector, the child's
Retry and Catch, concurrency, ResultWriter; and the constants the harness repeats."""

from __future__ import annotations

import json

import pytest

from evaluation.aws import batch as harness
from evaluation.calls.backends.rekognition import RekognitionLabels
from infra.batch_definition import (
    BATCH_ITEMS_PREFIX,
    BATCH_MAX_LABELS,
    BATCH_MIN_CONFIDENCE,
    BATCH_RESULTS_PREFIX,
    DETECT_STATE,
    MAP_RUN_LABEL,
    MAP_STATE,
    RECORD_ERROR_STATE,
    batch_definition,
    state_machine_arn,
    state_machine_name_for,
)

BUCKET = "rekognition-eval-data-0a1b2c3"


@pytest.fixture(scope="module")
def definition() -> dict:
    return batch_definition(bucket=BUCKET, max_concurrency=40)


def map_state(definition: dict) -> dict:
    return definition["States"][MAP_STATE]


def child(definition: dict) -> dict:
    return map_state(definition)["ItemProcessor"]


def test_one_distributed_map_is_the_whole_workflow(definition: dict) -> None:
    assert definition["StartAt"] == MAP_STATE
    assert list(definition["States"]) == [MAP_STATE]
    state = map_state(definition)
    assert state["Type"] == "Map"
    assert state["End"] is True
    assert state["Label"] == MAP_RUN_LABEL
    assert child(definition)["ProcessorConfig"] == {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}
    assert json.loads(json.dumps(definition)) == definition  # plain JSON, as Step Functions stores it


def test_item_reader_reads_the_submitted_item_list_from_the_stack_bucket(definition: dict) -> None:
    assert map_state(definition)["ItemReader"] == {
        "Resource": "arn:aws:states:::s3:getObject",
        "ReaderConfig": {"InputType": "JSON"},
        "Parameters": {"Bucket": BUCKET, "Key.$": "$.itemsKey"},
    }


def test_each_item_carries_the_image_and_the_harness_request(definition: dict) -> None:
    assert map_state(definition)["ItemSelector"] == {
        "Bucket": BUCKET,
        "Key.$": "$$.Map.Item.Value.Key",
        "MinConfidence": 0.0,
        "MaxLabels": 1000,
    }


def test_the_task_calls_detect_labels_through_the_sdk_integration_with_those_parameters(
    definition: dict,
) -> None:
    states = child(definition)["States"]
    assert child(definition)["StartAt"] == DETECT_STATE
    assert set(states) == {DETECT_STATE, RECORD_ERROR_STATE}
    task = states[DETECT_STATE]
    assert task["Type"] == "Task"
    assert task["Resource"] == "arn:aws:states:::aws-sdk:rekognition:detectLabels"
    # The AWS SDK integration takes the API's own (PascalCase) parameter names.
    assert task["Parameters"] == {
        "Image": {"S3Object": {"Bucket.$": "$.Bucket", "Name.$": "$.Key"}},
        "MinConfidence.$": "$.MinConfidence",
        "MaxLabels.$": "$.MaxLabels",
    }
    assert task["ResultPath"] == "$.Response"  # the item stays beside its answer
    assert task["TimeoutSeconds"] == 60
    assert task["End"] is True


def test_throttling_is_retried_long_with_full_jitter_and_service_errors_a_few_times(definition: dict) -> None:
    throttling, service = child(definition)["States"][DETECT_STATE]["Retry"]

    assert throttling["ErrorEquals"] == [
        "Rekognition.ThrottlingException",
        "Rekognition.ProvisionedThroughputExceededException",
    ]
    assert (throttling["IntervalSeconds"], throttling["BackoffRate"], throttling["MaxAttempts"]) == (
        2,
        2.0,
        8,
    )
    assert throttling["MaxDelaySeconds"] == 60
    assert throttling["JitterStrategy"] == "FULL"
    assert service["ErrorEquals"] == [
        "Rekognition.InternalServerError",
        "Rekognition.InternalServerErrorException",
        "States.Timeout",
    ]
    assert (service["IntervalSeconds"], service["MaxAttempts"], service["JitterStrategy"]) == (1, 3, "FULL")
    retried = {name for retrier in (throttling, service) for name in retrier["ErrorEquals"]}
    for permanent in ("Rekognition.InvalidImageFormatException", "Rekognition.AccessDeniedException"):
        assert permanent not in retried


def test_every_other_error_is_caught_and_becomes_the_image_result(definition: dict) -> None:
    states = child(definition)["States"]

    assert states[DETECT_STATE]["Catch"] == [
        {"ErrorEquals": ["States.ALL"], "ResultPath": "$.Error", "Next": RECORD_ERROR_STATE}
    ]
    assert states[RECORD_ERROR_STATE]["Type"] == "Pass"
    assert states[RECORD_ERROR_STATE]["End"] is True
    assert map_state(definition)["ToleratedFailurePercentage"] == 100


@pytest.mark.parametrize("concurrency", [1, 40, 10_000])
def test_concurrency_is_the_configured_value(concurrency: int) -> None:
    assert (
        map_state(batch_definition(bucket=BUCKET, max_concurrency=concurrency))["MaxConcurrency"]
        == concurrency
    )


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"max_concurrency": 0}, "max_concurrency"),
        ({"max_concurrency": 10_001}, "max_concurrency"),
        ({"min_confidence": 101.0}, "min_confidence"),
        ({"max_labels": 0}, "max_labels"),
        ({"bucket": ""}, "bucket"),
    ],
)
def test_impossible_settings_are_refused(changes: dict, message: str) -> None:
    arguments = {"bucket": BUCKET, "max_concurrency": 5, **changes}

    with pytest.raises(ValueError, match=message):
        batch_definition(**arguments)


def test_result_writer_writes_under_the_results_prefix(definition: dict) -> None:
    assert map_state(definition)["ResultWriter"] == {
        "Resource": "arn:aws:states:::s3:putObject",
        "Parameters": {"Bucket": BUCKET, "Prefix": "cache/batch/results"},
    }


def test_other_partitions_get_their_own_resource_arns() -> None:
    document = json.dumps(batch_definition(bucket=BUCKET, max_concurrency=5, partition="aws-cn"))

    assert "arn:aws:states:::" not in document
    assert document.count("arn:aws-cn:states:::") == 3


def test_names_are_valid_for_step_functions_and_unique_per_stack() -> None:
    assert state_machine_name_for("rekognition-eval", "dev") == "rekognition-eval-dev-batch"
    assert state_machine_name_for("rekognition-eval", "team.prod") == "rekognition-eval-team-prod-batch"
    long = state_machine_name_for("rekognition-eval", "x" * 200)
    assert len(long) == 80 and long.endswith("-batch")
    assert state_machine_arn(partition="aws", region="eu-west-1", account_id="123456789012", name="m") == (
        "arn:aws:states:eu-west-1:123456789012:stateMachine:m"
    )


def test_the_harness_repeats_the_layout_and_the_request_exactly() -> None:
    """evaluation/ never imports infra/: what both must agree on is checked here."""
    assert harness.ITEMS_PREFIX == BATCH_ITEMS_PREFIX
    assert harness.RESULTS_PREFIX == BATCH_RESULTS_PREFIX
    assert (harness.BATCH_MIN_CONFIDENCE, harness.BATCH_MAX_LABELS) == (
        BATCH_MIN_CONFIDENCE,
        BATCH_MAX_LABELS,
    )
    local = RekognitionLabels(client=None)
    assert (local.min_confidence, local.max_labels) == (BATCH_MIN_CONFIDENCE, BATCH_MAX_LABELS)
