"""The batch state machine's definition (Amazon States Language), as a pure function of its settings.

One Standard workflow with one Distributed Map state: its ItemReader reads the batch's item list (a JSON
array of `{"Key": ...}` written by `rekognition-eval batch submit`) from the bucket, each item becomes a
Standard child execution that calls DetectLabels through the AWS SDK integration with the harness's own
parameters, and ResultWriter writes every child's result under the results prefix for `batch ingest`.

Kept free of Pulumi so the tests read exactly the document `pulumi up` sends, and so moto's Step Functions
engine can run it.
"""

from __future__ import annotations

import re
from typing import Any

from infra.policies import CACHE_PREFIX, DATASETS_PREFIX

# Where a batch keeps its files in the bucket (evaluation/batch.py repeats them; a test keeps them in step).
BATCH_PREFIX = f"{CACHE_PREFIX}batch/"
BATCH_ITEMS_PREFIX = f"{BATCH_PREFIX}items/"
BATCH_RESULTS_PREFIX = f"{BATCH_PREFIX}results/"
IMAGES_PREFIX = DATASETS_PREFIX

# The harness's DetectLabels request (evaluation/backends/rekognition.py's defaults): one call answers every
# threshold above the floor, so a batch's answers serve every later analysis; a test keeps them in step.
BATCH_MIN_CONFIDENCE = 0.0
BATCH_MAX_LABELS = 1000

# Distributed Map runs at most 10,000 child executions at once.
MAX_CONCURRENCY_LIMIT = 10_000

MAP_STATE = "DetectLabelsForEveryImage"
MAP_RUN_LABEL = "Images"
DETECT_STATE = "DetectLabels"
RECORD_ERROR_STATE = "RecordError"

DETECT_LABELS_RESOURCE = "arn:{partition}:states:::aws-sdk:rekognition:detectLabels"
ITEM_READER_RESOURCE = "arn:{partition}:states:::s3:getObject"
RESULT_WRITER_RESOURCE = "arn:{partition}:states:::s3:putObject"

# Errors of the AWS SDK integration are named `Rekognition.<exception>`. Step Functions appends
# "Exception" to a name that lacks it, so InternalServerError is listed in both spellings.
THROTTLING_ERRORS: tuple[str, ...] = (
    "Rekognition.ThrottlingException",
    "Rekognition.ProvisionedThroughputExceededException",
)
SERVICE_ERRORS: tuple[str, ...] = (
    "Rekognition.InternalServerError",
    "Rekognition.InternalServerErrorException",
    "States.Timeout",
)
# A call that takes longer than this is abandoned and retried (a child execution would otherwise wait for
# it for as long as a Standard workflow may run: a year).
CALL_TIMEOUT_SECONDS = 60

_STATE_MACHINE_NAME_CHARS = re.compile(r"[^a-zA-Z0-9_-]+")


def state_machine_name_for(project: str, stack: str) -> str:
    """A state machine name Step Functions accepts ([a-zA-Z0-9_-], at most 80) and unique per stack.

    The name is fixed rather than generated so that the state machine's ARN is known before it exists:
    its own role must allow StartExecution on it (Distributed Map's child executions), and the evaluation
    role names it too.
    """
    suffix = "-batch"
    base = _STATE_MACHINE_NAME_CHARS.sub("-", f"{project}-{stack}").strip("-_") or "rekognition-eval"
    return base[: 80 - len(suffix)] + suffix


def state_machine_arn(*, partition: str, region: str, account_id: str, name: str) -> str:
    """The ARN Step Functions gives a state machine of this name."""
    return f"arn:{partition}:states:{region}:{account_id}:stateMachine:{name}"


def batch_definition(
    *,
    bucket: str,
    max_concurrency: int,
    min_confidence: float = BATCH_MIN_CONFIDENCE,
    max_labels: int = BATCH_MAX_LABELS,
    results_prefix: str = BATCH_RESULTS_PREFIX,
    partition: str = "aws",
) -> dict[str, Any]:
    """The state machine's ASL document.

    The execution input names the item list: `{"itemsKey": "cache/batch/items/<...>.json"}` (a JSON array
    of `{"Key": "datasets/..."}`; the bucket is always the stack's own). Each child's output is the item
    itself plus either `Response` (the DetectLabels answer, unchanged) or `Error` (`{"Error", "Cause"}`
    after the retries), so every result says which image and which request it answers.
    """
    if not 1 <= max_concurrency <= MAX_CONCURRENCY_LIMIT:
        raise ValueError(
            f"max_concurrency must be within 1 and {MAX_CONCURRENCY_LIMIT}, got {max_concurrency}"
        )
    if not 0.0 <= min_confidence <= 100.0:
        raise ValueError(f"min_confidence must be within 0 and 100, got {min_confidence}")
    if not 1 <= max_labels <= 1000:
        raise ValueError(f"max_labels must be within 1 and 1000, got {max_labels}")
    if not bucket:
        raise ValueError("the batch needs the bucket's name")
    return {
        "Comment": (
            "rekognition-eval batch: DetectLabels on every image of an item list, results under "
            f"s3://{bucket}/{results_prefix} for `rekognition-eval batch ingest`."
        ),
        "StartAt": MAP_STATE,
        "States": {
            MAP_STATE: {
                "Type": "Map",
                "Label": MAP_RUN_LABEL,
                "ItemReader": {
                    "Resource": ITEM_READER_RESOURCE.format(partition=partition),
                    "ReaderConfig": {"InputType": "JSON"},
                    "Parameters": {"Bucket": bucket, "Key.$": "$.itemsKey"},
                },
                "ItemSelector": {
                    "Bucket": bucket,
                    "Key.$": "$$.Map.Item.Value.Key",
                    "MinConfidence": float(min_confidence),
                    "MaxLabels": int(max_labels),
                },
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                    "StartAt": DETECT_STATE,
                    "States": _child_states(partition),
                },
                "MaxConcurrency": int(max_concurrency),
                # Every child catches its own errors; one that still fails (an answer over Step Functions'
                # 256 KiB payload limit) must not stop a batch of a million images. `batch ingest` reports
                # it. A float: moto's ASL parser reads this field as a number, not an integer.
                "ToleratedFailurePercentage": 100.0,
                "ResultWriter": {
                    "Resource": RESULT_WRITER_RESOURCE.format(partition=partition),
                    "Parameters": {"Bucket": bucket, "Prefix": results_prefix.rstrip("/")},
                },
                "End": True,
            }
        },
    }


def _child_states(partition: str) -> dict[str, Any]:
    """One call per image; throttling waits with full jitter, so thousands of children never retry in step."""
    return {
        DETECT_STATE: {
            "Type": "Task",
            "Resource": DETECT_LABELS_RESOURCE.format(partition=partition),
            "Parameters": {
                "Image": {"S3Object": {"Bucket.$": "$.Bucket", "Name.$": "$.Key"}},
                "MinConfidence.$": "$.MinConfidence",
                "MaxLabels.$": "$.MaxLabels",
            },
            "ResultPath": "$.Response",
            "TimeoutSeconds": CALL_TIMEOUT_SECONDS,
            "Retry": [
                {
                    "ErrorEquals": list(THROTTLING_ERRORS),
                    "IntervalSeconds": 2,
                    "BackoffRate": 2.0,
                    "MaxAttempts": 8,
                    "MaxDelaySeconds": 60,
                    "JitterStrategy": "FULL",
                },
                {
                    "ErrorEquals": list(SERVICE_ERRORS),
                    "IntervalSeconds": 1,
                    "BackoffRate": 2.0,
                    "MaxAttempts": 3,
                    "JitterStrategy": "FULL",
                },
            ],
            "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.Error", "Next": RECORD_ERROR_STATE}],
            "End": True,
        },
        RECORD_ERROR_STATE: {
            "Type": "Pass",
            "Comment": "The image's error, after the retries, becomes its result: the batch goes on.",
            "End": True,
        },
    }
