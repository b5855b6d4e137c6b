"""Batches inside AWS: submit a dataset to the stack's Step Functions state machine, watch it, ingest it.

For millions of images the DetectLabels calls run in AWS (infra/batch.py: a Distributed Map next to the
images), and the harness only analyses. `batch ingest` stores every answer in the local ResponseCache under
exactly the key a local run would use (the image's s3:// URI, DetectLabels, {MinConfidence, MaxLabels}; no
Endpoint, since the answers are AWS's), so `run --backend replay`, or a normal run, finds them all and
`report` works as for a local run.

The logic is pure functions (item lists, execution input, result files, answers); the boto3 calls are a
thin layer around them with the clients passed in.
"""

from __future__ import annotations

import codecs
import hashlib
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from evaluation.aws.stack_outputs import CACHE_PREFIX, DATASETS_PREFIX
from evaluation.calls.answers import answer_problem
from evaluation.calls.backends.base import NotCached
from evaluation.calls.backends.rekognition import detect_labels_params
from evaluation.calls.cache import ResponseCache, cache_key
from evaluation.datasets import Dataset
from evaluation.errors import UserError
from evaluation.images import DETECT_LABELS_LIMITS, LoadedImage

OPERATION = "DetectLabels"

# The bucket layout of a batch, as infra/batch_definition.py grants and writes it; a test keeps them in step.
BATCH_PREFIX = f"{CACHE_PREFIX}batch/"
ITEMS_PREFIX = f"{BATCH_PREFIX}items/"
RESULTS_PREFIX = f"{BATCH_PREFIX}results/"
DATASET_COPIES_PREFIX = f"{BATCH_PREFIX}datasets/"

# The request every batch sends (infra/batch_definition.py: the harness's defaults); a test keeps them in
# step. Each result also carries the request it answered, and ingest keys the answer by that.
BATCH_MIN_CONFIDENCE = 0.0
BATCH_MAX_LABELS = 1000

_NAME_CHARS = re.compile(r"[^A-Za-z0-9_-]+")
_EXECUTION_ARN = re.compile(
    r"^arn:(?P<partition>aws[a-z-]*):states:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):execution:"
    r"(?P<machine>[A-Za-z0-9_-]+):(?P<name>[A-Za-z0-9_-]+)$"
)
_CONSOLE_HOSTS = {
    "aws": "console.aws.amazon.com",
    "aws-cn": "console.amazonaws.cn",
    "aws-us-gov": "console.amazonaws-us-gov.com",
}


def batch_params(min_confidence: float = BATCH_MIN_CONFIDENCE, max_labels: int = BATCH_MAX_LABELS) -> dict:
    """The cache-key parameters of a batch's answers: a local run's, without an endpoint (they are AWS's)."""
    return detect_labels_params(min_confidence=min_confidence, max_labels=max_labels, endpoint=None)


# --- submitting ---------------------------------------------------------------------------------------------


def batch_item_keys(dataset: Dataset, *, bucket: str) -> list[str]:
    """The object keys of the dataset's images, each once, in dataset order.

    The batch's role reads images only under datasets/ of the stack's bucket (Rekognition reads them with
    its permissions), so anything else is refused here, naming the first offender, before anything is
    uploaded or started.
    """
    keys: list[str] = []
    seen: set[str] = set()
    local, elsewhere = [], []
    for item in dataset.items:
        ref = item.image
        if not ref.is_s3:
            local.append(ref.uri)
        elif ref.bucket != bucket or not ref.key.startswith(DATASETS_PREFIX):
            elsewhere.append(ref.uri)
        elif ref.key not in seen:
            seen.add(ref.key)
            keys.append(ref.key)
    if local:
        raise UserError(
            f"{len(local)} image(s) of {dataset.source} are local files (e.g. {local[0]}): a batch runs in "
            f"AWS and reads images from S3; upload them under s3://{bucket}/{DATASETS_PREFIX} and point the "
            "dataset at them, or evaluate them with `rekognition-eval run`"
        )
    if elsewhere:
        raise UserError(
            f"{len(elsewhere)} image(s) of {dataset.source} are not under s3://{bucket}/{DATASETS_PREFIX} "
            f"(e.g. {elsewhere[0]}): the batch may read images there only"
        )
    return keys


def keys_to_submit(keys: Iterable[str], *, bucket: str, cached: Iterable[str]) -> list[str]:
    """The keys whose answer (with the batch's request) is not among the cached cache keys."""
    stored = set(cached)
    params = batch_params()
    return [key for key in keys if cache_key(f"s3://{bucket}/{key}", OPERATION, params) not in stored]


def item_list(keys: Iterable[str]) -> bytes:
    """The ItemReader's input: a JSON array of {"Key": ...}; the bucket is the state machine's own."""
    return json.dumps([{"Key": key} for key in keys], separators=(",", ":")).encode("utf-8")


def item_list_key(body: bytes) -> str:
    """Named by content: submitting the same images twice reuses one object."""
    return f"{ITEMS_PREFIX}{hashlib.sha256(body).hexdigest()[:32]}.json"


def dataset_copy_key(path: Path, body: bytes) -> str:
    """Where a local manifest or CSV is kept in the bucket, so `batch ingest` can read it from anywhere."""
    return f"{DATASET_COPIES_PREFIX}{hashlib.sha256(body).hexdigest()[:16]}/{path.name}"


def execution_input(
    *, items_key: str, dataset_uri: str, dataset_format: str, skip_bad_lines: bool, images: int
) -> dict[str, Any]:
    """What an execution starts with: the item list (the state machine reads `itemsKey`) and, for
    `batch ingest`, where the dataset and its ground truth are."""
    return {
        "itemsKey": items_key,
        "dataset": dataset_uri,
        "datasetFormat": dataset_format,
        "skipBadLines": skip_bad_lines,
        "images": images,
    }


def execution_name(dataset_name: str, now: datetime) -> str:
    """`<dataset>-<UTC time>`: readable in the console, unique, and within Step Functions' 80 characters."""
    stamp = now.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    base = _NAME_CHARS.sub("-", dataset_name).strip("-_") or "batch"
    return f"{base[: 80 - len(stamp) - 1]}-{stamp}"


@dataclass(frozen=True)
class ExecutionRef:
    """The parts of an execution ARN: the region to talk to and the state machine it belongs to."""

    arn: str
    partition: str
    region: str
    account: str
    state_machine: str
    name: str

    @classmethod
    def parse(cls, arn: str) -> ExecutionRef:
        match = _EXECUTION_ARN.match(arn.strip())
        if match is None:
            raise UserError(
                f"not a Step Functions execution ARN (arn:aws:states:<region>:<account>:execution:<state "
                f"machine>:<name>): {arn!r}; `batch submit` prints it"
            )
        return cls(
            arn=arn.strip(),
            partition=match["partition"],
            region=match["region"],
            account=match["account"],
            state_machine=match["machine"],
            name=match["name"],
        )

    @property
    def state_machine_arn(self) -> str:
        return f"arn:{self.partition}:states:{self.region}:{self.account}:stateMachine:{self.state_machine}"

    @property
    def console_url(self) -> str:
        """The execution's page in the Step Functions console (the Map Run's progress is linked from it)."""
        host = _CONSOLE_HOSTS.get(self.partition, _CONSOLE_HOSTS["aws"])
        return (
            f"https://{self.region}.{host}/states/home?region={self.region}#/v2/executions/details/{self.arn}"
        )


@dataclass(frozen=True)
class Submission:
    """What `batch submit` did."""

    images: int
    already_cached: int
    execution: ExecutionRef | None
    items_uri: str | None
    dataset_uri: str


def submit(
    dataset: Dataset,
    *,
    bucket: str,
    state_machine_arn: str,
    sfn: Any,
    s3: Any,
    cache_path: Path | None,
    skip_bad_lines: bool = False,
    now: datetime | None = None,
) -> Submission:
    """Upload the item list (and a local dataset file), then start one execution.

    Images whose answer is already in the local cache (with the batch's request) are left out, as a local
    run would not call for them either; `cache_path=None` submits every image.
    """
    keys = batch_item_keys(dataset, bucket=bucket)
    if cache_path is not None and Path(cache_path).is_file():
        params = batch_params()
        wanted = [cache_key(f"s3://{bucket}/{key}", OPERATION, params) for key in keys]
        with ResponseCache(cache_path) as store:
            cached = store.get_many(wanted)
        todo = keys_to_submit(keys, bucket=bucket, cached=cached)
    else:
        todo = keys
    dataset_uri = _dataset_uri(dataset, bucket=bucket, s3=s3)
    if not todo:
        return Submission(0, len(keys), None, None, dataset_uri)
    body = item_list(todo)
    items_key = item_list_key(body)
    _put(s3, bucket, items_key, body, "application/json")
    name = execution_name(dataset.name, now or datetime.now(timezone.utc))
    document = execution_input(
        items_key=items_key,
        dataset_uri=dataset_uri,
        dataset_format=dataset.format,
        skip_bad_lines=skip_bad_lines,
        images=len(todo),
    )
    try:
        started = sfn.start_execution(
            stateMachineArn=state_machine_arn, name=name, input=json.dumps(document)
        )
    except ClientError as error:
        raise UserError(
            f"cannot start the batch state machine {state_machine_arn}: {_client_error(error)}"
        ) from None
    return Submission(
        images=len(todo),
        already_cached=len(keys) - len(todo),
        execution=ExecutionRef.parse(started["executionArn"]),
        items_uri=f"s3://{bucket}/{items_key}",
        dataset_uri=dataset_uri,
    )


def _dataset_uri(dataset: Dataset, *, bucket: str, s3: Any) -> str:
    """An S3 dataset as it is; a local manifest or CSV copied under cache/batch/datasets/ first."""
    if dataset.source.startswith("s3://"):
        return dataset.source
    path = Path(dataset.source)
    if not path.is_file():
        raise UserError(
            f"{dataset.source}: a batch needs a manifest or CSV file (or an s3:// dataset), not a folder"
        )
    body = path.read_bytes()
    key = dataset_copy_key(path, body)
    _put(s3, bucket, key, body, "text/plain")
    return f"s3://{bucket}/{key}"


def _put(s3: Any, bucket: str, key: str, body: bytes, content_type: str) -> None:
    try:
        s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type)
    except ClientError as error:
        raise UserError(f"cannot upload s3://{bucket}/{key}: {_client_error(error)}") from None


def _client_error(error: ClientError) -> str:
    details = error.response.get("Error", {})
    return f"{details.get('Code', 'ClientError')}: {details.get('Message', '')}".rstrip(": ")


# --- watching -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BatchStatus:
    """An execution's state and, once its Map Run exists, how many images are done."""

    execution: ExecutionRef
    status: str
    started: datetime | None
    stopped: datetime | None
    input: dict[str, Any]
    output: dict[str, Any] | None
    error: str | None
    cause: str | None
    item_counts: dict[str, int] = field(default_factory=dict)

    def describe(self) -> list[str]:
        lines = [f"Execution: {self.execution.arn}", f"Status: {self.status}"]
        if self.started is not None:
            lines.append(f"Started: {self.started.isoformat(timespec='seconds')}")
        if self.stopped is not None:
            lines.append(f"Stopped: {self.stopped.isoformat(timespec='seconds')}")
        counts = self.item_counts
        if counts:
            done = counts.get("succeeded", 0) + counts.get("failed", 0) + counts.get("timedOut", 0)
            # A child that caught its image's error still succeeded: those errors show after ingest.
            outright = counts.get("failed", 0) + counts.get("timedOut", 0)
            lines.append(
                f"Images: {done:,} of {counts.get('total', 0):,} done, {counts.get('running', 0):,} running, "
                f"{counts.get('pending', 0):,} pending; {outright:,} failed outright"
            )
        elif "images" in self.input:
            lines.append(f"Images: {self.input['images']:,} submitted")
        if self.error or self.cause:
            lines.append(f"Error: {self.error}: {self.cause}")
        lines.append(f"Console: {self.execution.console_url}")
        return lines


def batch_status(sfn: Any, execution_arn: str) -> BatchStatus:
    ref = ExecutionRef.parse(execution_arn)
    try:
        described = sfn.describe_execution(executionArn=ref.arn)
    except ClientError as error:
        raise UserError(f"cannot describe {ref.arn}: {_client_error(error)}") from None
    counts: dict[str, int] = {}
    try:
        runs = sfn.list_map_runs(executionArn=ref.arn).get("mapRuns", [])
        if runs:
            counts = dict(sfn.describe_map_run(mapRunArn=runs[0]["mapRunArn"]).get("itemCounts", {}))
    except (ClientError, BotoCoreError):
        counts = {}  # progress is a nicety; the execution's own status is what matters
    return BatchStatus(
        execution=ref,
        status=described["status"],
        started=described.get("startDate"),
        stopped=described.get("stopDate"),
        input=_json_object(described.get("input")) or {},
        output=_json_object(described.get("output")),
        error=described.get("error"),
        cause=described.get("cause"),
        item_counts=counts,
    )


# --- ingesting ----------------------------------------------------------------------------------------------


class BatchResultError(UserError):
    """A result file that is not what ResultWriter writes; the message names the file."""


@dataclass(frozen=True)
class BatchAnswer:
    """One image's outcome in a batch: its DetectLabels answer, or the error it ended with."""

    image: str
    min_confidence: float
    max_labels: int
    response: dict[str, Any] | None = None
    error: str | None = None
    cause: str | None = None

    @property
    def params(self) -> dict[str, Any]:
        return batch_params(self.min_confidence, self.max_labels)

    @property
    def cache_key(self) -> str:
        """Exactly the key a local run over the same s3:// image with the same request computes."""
        return cache_key(self.image, OPERATION, self.params)

    @property
    def answered(self) -> bool:
        return self.response is not None


def result_file_keys(manifest: Mapping[str, Any]) -> dict[str, list[str]]:
    """ResultWriter's manifest.json: the result files' keys by status (SUCCEEDED, FAILED, PENDING)."""
    files = manifest.get("ResultFiles")
    if not isinstance(files, Mapping):
        raise BatchResultError("the results manifest has no ResultFiles: not written by a Distributed Map")
    keys: dict[str, list[str]] = {}
    for status, entries in files.items():
        keys[str(status)] = [str(entry["Key"]) for entry in entries or []]
    return keys


def iter_records(chunks: Iterable[bytes], *, where: str = "result file") -> Iterator[dict[str, Any]]:
    """The records of a result file, read as it streams in: a JSON array (ResultWriter's default) or JSON
    Lines (WriterConfig OutputType JSONL). A million answers never sit in memory at once."""
    decoder = json.JSONDecoder()
    text = codecs.getincrementaldecoder("utf-8")()
    buffer = ""
    state = "start"  # start -> array | lines -> done
    for chunk in _with_end(iter(chunks)):
        final = chunk is None
        buffer += text.decode(b"" if final else chunk, final=final)
        position = 0
        while True:
            position = _skip_separators(buffer, position)
            if position >= len(buffer):
                break
            if state == "start":
                state = "array" if buffer[position] == "[" else "lines"
                if state == "array":
                    position += 1
                continue
            if state == "done":
                raise BatchResultError(f"{where}: text after the closing ']'")
            if state == "array" and buffer[position] == "]":
                state = "done"
                position += 1
                continue
            try:
                value, end = decoder.raw_decode(buffer, position)
            except json.JSONDecodeError as error:
                if final:
                    raise BatchResultError(f"{where}: not JSON ({error.msg})") from None
                break  # the record continues in the next chunk
            if not isinstance(value, dict):
                raise BatchResultError(f"{where}: a record is not a JSON object: {str(value)[:80]}")
            yield value
            position = end
        buffer = buffer[position:]
    if state == "array":
        raise BatchResultError(f"{where}: the JSON array is not closed (a truncated file?)")


def _with_end(chunks: Iterator[bytes]) -> Iterator[bytes | None]:
    yield from chunks
    yield None


def _skip_separators(buffer: str, position: int) -> int:
    while position < len(buffer) and buffer[position] in " \t\r\n,":
        position += 1
    return position


def answer_from_record(record: Mapping[str, Any], *, where: str = "result file") -> BatchAnswer:
    """One ResultWriter record as an image's answer or error.

    A succeeded child's Output is the item plus `Response` (the answer) or `Error` (caught after the
    retries); a failed child (an uncatchable error such as an answer over the 256 KiB payload limit) has
    only its Input, and the Error and Cause of the failure.
    """
    status = str(record.get("Status", ""))
    output = _json_object(record.get("Output"))
    source = output if status == "SUCCEEDED" and output is not None else _json_object(record.get("Input"))
    if source is None:
        raise BatchResultError(f"{where}: a {status or 'record'} without its item (Input/Output)")
    try:
        image = f"s3://{source['Bucket']}/{source['Key']}"
        min_confidence = float(source["MinConfidence"])
        max_labels = int(source["MaxLabels"])
    except (KeyError, TypeError, ValueError):
        raise BatchResultError(
            f"{where}: a record whose item lacks Bucket, Key, MinConfidence or MaxLabels: {str(source)[:120]}"
        ) from None
    if status == "SUCCEEDED" and isinstance(source.get("Response"), dict):
        return BatchAnswer(image, min_confidence, max_labels, response=source["Response"])
    if status == "SUCCEEDED" and isinstance(source.get("Error"), dict):
        caught = source["Error"]
        return BatchAnswer(
            image, min_confidence, max_labels, error=str(caught.get("Error")), cause=caught.get("Cause")
        )
    if status == "SUCCEEDED":
        raise BatchResultError(f"{where}: a succeeded record with neither Response nor Error for {image}")
    return BatchAnswer(
        image,
        min_confidence,
        max_labels,
        error=str(record.get("Error") or f"States.{status or 'Unknown'}"),
        cause=record.get("Cause"),
    )


def _json_object(value: Any) -> dict[str, Any] | None:
    """Step Functions hands inputs and outputs over as JSON text; objects are accepted as they are."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return None
    return value if isinstance(value, dict) else None


@dataclass
class Ingested:
    """What `batch ingest` stored, and what the run folder needs to show the batch's errors."""

    status: BatchStatus
    stored: int = 0
    failures: dict[str, BatchAnswer] = field(default_factory=dict)
    pending: int = 0
    min_confidence: float = BATCH_MIN_CONFIDENCE
    max_labels: int = BATCH_MAX_LABELS
    result_files: int = 0

    @property
    def calls(self) -> int:
        """DetectLabels calls the batch made that ended in an answer or a service error (billed or not)."""
        return self.stored + len(self.failures)


def store_answers(answers: Iterable[BatchAnswer], cache: ResponseCache, ingested: Ingested) -> None:
    """Every answer into the cache under the local run's key; every error kept for the run folder."""
    for answer in answers:
        request = (answer.min_confidence, answer.max_labels)
        if ingested.calls and request != (ingested.min_confidence, ingested.max_labels):
            raise BatchResultError(
                f"the batch's results mix requests (MinConfidence, MaxLabels) {request} and "
                f"{(ingested.min_confidence, ingested.max_labels)}: one request per batch"
            )
        ingested.min_confidence, ingested.max_labels = request
        problem = None if answer.response is None else answer_problem(OPERATION, answer.response)
        if problem is not None:  # never stored: a run reports it as a failed image, a rerun asks again
            answer = replace(answer, response=None, error="MalformedAnswer", cause=problem)
        if answer.response is None:
            ingested.failures[answer.image] = answer
            continue
        ingested.failures.pop(answer.image, None)
        cache.put(
            answer.cache_key,
            image_id=answer.image,
            operation=OPERATION,
            params=answer.params,
            response=answer.response,
            model_version=_model_version(answer.response),
        )
        ingested.stored += 1


def _model_version(response: Mapping[str, Any]) -> str | None:
    version = response.get("LabelModelVersion")
    return str(version) if version else None


def ingest(sfn: Any, s3: Any, execution_arn: str, cache: ResponseCache) -> Ingested:
    """Read a finished execution's ResultWriter output from S3 into the cache."""
    status = batch_status(sfn, execution_arn)
    if status.status == "RUNNING":
        raise UserError(
            f"the batch is still running ({'; '.join(status.describe()[2:-1]) or 'no progress yet'}); "
            f"ingest it once it has finished: rekognition-eval batch status {status.execution.arn}"
        )
    details = (status.output or {}).get("ResultWriterDetails")
    if not isinstance(details, Mapping) or not details.get("Key"):
        raise UserError(
            f"the batch ended {status.status} without results to ingest"
            + (f" ({status.error}: {status.cause})" if status.error or status.cause else "")
        )
    bucket = str(details["Bucket"])
    manifest = _json_object(_read(s3, bucket, str(details["Key"])).decode("utf-8"))
    if manifest is None:
        raise BatchResultError(f"s3://{bucket}/{details['Key']}: not a JSON results manifest")
    files = result_file_keys(manifest)
    ingested = Ingested(status=status, pending=_pending(status))
    for kind in ("SUCCEEDED", "FAILED"):
        for key in files.get(kind, []):
            where = f"s3://{bucket}/{key}"
            chunks = _stream(s3, bucket, key)
            records = (
                answer_from_record(record, where=where) for record in iter_records(chunks, where=where)
            )
            store_answers(records, cache, ingested)
            ingested.result_files += 1
    return ingested


def _pending(status: BatchStatus) -> int:
    counts = status.item_counts
    return int(counts.get("pending", 0) + counts.get("running", 0) + counts.get("aborted", 0))


def _read(s3: Any, bucket: str, key: str) -> bytes:
    try:
        return s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as error:
        raise UserError(f"cannot read s3://{bucket}/{key}: {_client_error(error)}") from None


def _stream(s3: Any, bucket: str, key: str, chunk_size: int = 1 << 20) -> Iterator[bytes]:
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"]
    except ClientError as error:
        raise UserError(f"cannot read s3://{bucket}/{key}: {_client_error(error)}") from None
    yield from body.iter_chunks(chunk_size=chunk_size)


# --- the run folder of a batch ------------------------------------------------------------------------------


class BatchResults:
    """A backend that answers from a batch: its answers are in the cache, its errors are raised as they
    happened in AWS, so a run over the dataset reports them per image exactly as a local run would."""

    name = "batch"
    operation = OPERATION
    limits = DETECT_LABELS_LIMITS

    def __init__(self, ingested: Ingested) -> None:
        self.ingested = ingested

    def request_params(self) -> dict[str, Any]:
        return batch_params(self.ingested.min_confidence, self.ingested.max_labels)

    def call(self, image: LoadedImage) -> dict[str, Any]:
        failure = self.ingested.failures.get(image.image_id)
        if failure is not None:
            # The Step Functions error name ("Rekognition.<exception>", "States.<error>") is the code: it
            # says the error happened in the batch, and the runner does not retry it here.
            raise ClientError(
                {"Error": {"Code": failure.error or "BatchError", "Message": failure.cause or ""}}, OPERATION
            )
        raise NotCached(
            f"no answer in batch {self.ingested.status.execution.name} (not submitted, or not finished); "
            "submit the dataset again to call for it"
        )

    def cost(self, price_table: str | Path | None = None) -> dict[str, Any]:
        """The batch's DetectLabels calls in its region (made in AWS, not by this process)."""
        from evaluation.calls.prices import PriceTable

        region = self.ingested.status.execution.region
        estimate = PriceTable.load(price_table).estimate(OPERATION, region, self.ingested.calls)
        return {
            "estimated_usd": estimate.usd,
            "calls": self.ingested.calls,
            "source": estimate.source,
            "notes": [
                *estimate.notes,
                "DetectLabels calls made in AWS by the batch; Step Functions state transitions not included",
            ],
        }

    def describe(self) -> dict[str, Any]:
        execution = self.ingested.status.execution
        return {
            "backend": self.name,
            "operation": OPERATION,
            "region": execution.region,
            "endpoint_url": None,
            "execution_arn": execution.arn,
            "state_machine_arn": execution.state_machine_arn,
            "min_confidence": self.ingested.min_confidence,
            "max_labels": self.ingested.max_labels,
        }


def recorded_dataset(ingested: Ingested) -> tuple[str, str | None, bool] | None:
    """The dataset `batch submit` recorded in the execution input: (source, format, skip_bad_lines)."""
    document = ingested.status.input
    source = document.get("dataset")
    if not isinstance(source, str) or not source:
        return None
    dataset_format = document.get("datasetFormat")
    return (
        source,
        dataset_format if isinstance(dataset_format, str) else None,
        bool(document.get("skipBadLines")),
    )
