"""Stored-video jobs: every video of a dataset analysed once by Rekognition Video, answers cached.

Rekognition Video is asynchronous: Start* returns a JobId, the job runs for minutes, then Get* pages
through the answer (or an SNS notification says it is done). This module is the video counterpart of
evaluation.calls.runner:

- plan: every video is checked in S3 (HeadObject: it exists, .mp4/.mov/.avi, at most 10 GB; its ETag and
  version make its identity) and looked up in the response cache, by its S3 URI, ETag and request;
- fetch: at most `max_concurrent_jobs` jobs at once (the account's quota is 20 by default; a
  LimitExceededException lowers the number in flight and the video is started later), each job started
  through the ledger (evaluation.aws.job_guard: never twice), then polled with backoff or woken by its
  notification on the SQS queue, and its complete answer (every page, NextToken to the end) joined and
  stored with its model version. An interrupt keeps every started job in the ledger: a rerun polls them.
- durations: from the S3 object's metadata (x-amz-meta-duration-ms or -duration seconds) when present,
  else read from the file with PyAV (FFmpeg's demuxers: MP4, MOV and AVI, the three formats the service
  takes, read through ranged GETs so only the container's index is downloaded); for --dry-run's
  minutes and cost.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import logging
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from evaluation.aws.job_guard import JobLedger
from evaluation.calls.cache import ResponseCache, cache_key
from evaluation.calls.runner import (
    CACHED,
    CALLED,
    FAILED,
    MISSING,
    REJECTED,
    ImageOutcome,
    Interrupted,
    RunStats,
)
from evaluation.datasets import Dataset
from evaluation.errors import UserError
from evaluation.images import DETECT_LABELS_LIMITS, ImageRef

log = logging.getLogger(__name__)

__all__ = [
    "VIDEO_EXTENSIONS",
    "PollPolicy",
    "VideoJobs",
    "VideoObject",
    "fetch_videos",
    "plan_videos",
    "upload_local_videos",
    "video_duration_ms",
]

VIDEO_EXTENSIONS = (".mp4", ".mov", ".avi")  # the Video shape's documented formats
MAX_VIDEO_BYTES = 10 * 1024**3  # 10 GB (VideoTooLargeException)
DURATION_METADATA = ("duration-ms", "duration")  # x-amz-meta-duration-ms (ms), x-amz-meta-duration (s)
JOB_TAG = "rekognition-eval"
RETRYABLE = frozenset(
    {
        "ThrottlingException",
        "ProvisionedThroughputExceededException",
        "InternalServerError",
        "ServiceUnavailable",
    }
)
GONE = frozenset({"ResourceNotFoundException", "InvalidParameterException"})  # a job id the service forgot


@dataclass(frozen=True)
class PollPolicy:
    """Wait `first_s`, then 1.5x longer each poll, at most `cap_s` (with a notification channel, polls are
    only the safety net for a lost message: every `cap_s`)."""

    first_s: float = 5.0
    factor: float = 1.5
    cap_s: float = 60.0
    limit_rounds: int = 30  # waits for a free job slot when none of ours runs, before giving up


@dataclass(frozen=True)
class VideoObject:
    """A video in S3 as the service will read it."""

    uri: str
    bucket: str
    key: str
    etag: str
    size: int
    version: str | None
    metadata: dict[str, str]

    @property
    def video_id(self) -> str:
        """The identity of the content: URI, ETag (and version): a changed object is another video."""
        return f"{self.uri}#etag={self.etag}" + (f"&version={self.version}" if self.version else "")

    def s3_object(self) -> dict[str, str]:
        return {
            "Bucket": self.bucket,
            "Name": self.key,
            **({"Version": self.version} if self.version else {}),
        }


class VideoJobs:
    """The backend of the video operations: what is asked, of whom; jobs are run by `fetch_videos`."""

    name = "rekognition"
    limits = DETECT_LABELS_LIMITS  # unused: videos are checked by plan_videos

    def __init__(
        self,
        client: Any,
        *,
        operation: Any,
        s3_client: Any,
        aggregate_by: str,
        min_confidence: float = 0.0,
        max_concurrent_jobs: int = 20,
        notification_channel: tuple[str, str, str] | None = None,
        sqs_client: Any = None,
        poll: PollPolicy | None = None,
        region: str | None = None,
    ) -> None:
        self.client = client
        self.video_operation = operation
        self.operation = operation.start_api
        self.s3_client = s3_client
        self.aggregate_by = aggregate_by
        self.min_confidence = float(min_confidence)
        self.max_concurrent_jobs = int(max_concurrent_jobs)
        self.notification_channel = notification_channel
        self.sqs_client = sqs_client
        self.poll = poll or PollPolicy()
        self.region = region
        self.job_stats: dict[str, Any] = {}

    def start_params(self) -> dict[str, Any]:
        return {"MinConfidence": self.min_confidence}

    def request_params(self) -> dict[str, Any]:
        return {**self.start_params(), "AggregateBy": self.aggregate_by}

    def call(self, image: Any) -> dict[str, Any]:
        raise NotImplementedError("video operations run as jobs: evaluation.aws.video_jobs.fetch_videos")

    def describe(self) -> dict[str, Any]:
        meta = getattr(self.client, "meta", None)
        return {
            "name": self.name,
            "operation": self.operation,
            "get": self.video_operation.get_api,
            "region": getattr(meta, "region_name", None) or self.region,
            "endpoint_url": getattr(meta, "endpoint_url", None),
            "max_concurrent_jobs": self.max_concurrent_jobs,
            "waits_by": "SNS notifications on SQS" if self.notification_channel else "polling",
        }


# ----------------------------------------------------------------------------------------------- plan


def head_video(uri: str, s3_client: Any) -> VideoObject:
    """HeadObject of an s3:// video; ValueError with the reason the service would refuse it."""
    bucket, _, key = uri[5:].partition("/")
    if not key.lower().endswith(VIDEO_EXTENSIONS):
        raise ValueError(f"not a video Rekognition reads (it takes {', '.join(VIDEO_EXTENSIONS)})")
    try:
        head = s3_client.head_object(Bucket=bucket, Key=key)
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        raise ValueError(f"cannot read the S3 object ({code or error})") from None
    size = int(head.get("ContentLength", 0))
    if size > MAX_VIDEO_BYTES:
        raise ValueError(f"{size / 1024**3:.1f} GB, over the service's 10 GB a video")
    if size == 0:
        raise ValueError("the S3 object is empty")
    return VideoObject(
        uri,
        bucket,
        key,
        str(head.get("ETag", "")).strip('"'),
        size,
        head.get("VersionId") or None,
        {str(k).lower(): str(v) for k, v in (head.get("Metadata") or {}).items()},
    )


def plan_videos(
    dataset: Dataset, backend: VideoJobs, cache: ResponseCache
) -> tuple[list[ImageOutcome], list[int], list[VideoObject | None]]:
    """Check every video and find its stored answer, without a job; outcomes, indexes to run, objects."""
    params = backend.request_params()
    outcomes: list[ImageOutcome] = []
    videos: list[VideoObject | None] = []
    for item in dataset.items:
        if not item.image.is_s3:
            raise UserError(
                f"{item.image.uri} is a local file, and Rekognition Video reads videos only from S3: pass "
                "--upload (with --stack-outputs) to copy local videos to the stack's datasets/ prefix, or "
                "upload them yourself and name them by s3:// URI"
            )
        try:
            video = head_video(item.image.uri, backend.s3_client)
        except ValueError as problem:
            outcomes.append(ImageOutcome(image=item.image.uri, status=REJECTED, reason=str(problem)))
            videos.append(None)
            log.warning("%s: rejected: %s", item.image.uri, problem)
            continue
        key = cache_key(video.video_id, backend.operation, params)
        outcomes.append(ImageOutcome(image=video.uri, status=MISSING, cache_key=key, image_id=video.video_id))
        videos.append(video)
    stored = cache.get_many(o.cache_key for o in outcomes if o.cache_key)
    to_call, seen = [], set()
    for index, outcome in enumerate(outcomes):
        if outcome.cache_key is None:
            continue
        if outcome.cache_key in stored:
            outcome.status = CACHED
        elif outcome.cache_key not in seen:
            seen.add(outcome.cache_key)
            to_call.append(index)
    return outcomes, to_call, videos


# --------------------------------------------------------------------------------------------- fetch


@dataclass
class _Job:
    index: int
    job_key: str
    job_id: str
    delay: float
    due: float
    resumed: bool


@dataclass
class _Counts:
    started: int = 0
    resumed: int = 0
    polls: int = 0
    pages: int = 0
    limit_exceeded: int = 0
    max_in_flight: int = 0
    notifications: int = 0
    failed_jobs: int = 0
    started_jobs: list[str] = field(default_factory=list)


def fetch_videos(
    planned: tuple[list[ImageOutcome], list[int], list[VideoObject | None]],
    backend: VideoJobs,
    cache: ResponseCache,
    *,
    progress: bool = True,
    sleep: Any = time.sleep,
    clock: Any = time.monotonic,
) -> tuple[list[ImageOutcome], RunStats]:
    """Run (or resume) one job per video still to answer, storing each complete answer as it arrives."""
    started_at = clock()
    outcomes, to_call, videos = planned
    operation = backend.video_operation
    start_params = backend.start_params()
    params = backend.request_params()
    counts = _Counts()
    queue: deque[int] = deque(to_call)
    running: dict[int, _Job] = {}
    limit = backend.max_concurrent_jobs
    waited_for_slot = 0
    last_log = clock()
    ledger = JobLedger(cache.path)

    def job_key_of(index: int) -> str:
        video = videos[index]
        assert video is not None
        return cache_key(video.video_id, backend.operation, start_params)

    def fail(index: int, code: str, reason: str) -> None:
        outcomes[index].status, outcomes[index].error_code, outcomes[index].reason = FAILED, code, reason
        log.error("%s %s: %s", backend.operation, outcomes[index].image, reason)

    def start(index: int) -> _Job | str | None:
        """A job for the video: one from the ledger, or a new one; "limit" when the quota is full."""
        video = videos[index]
        assert video is not None
        key = job_key_of(index)
        record = ledger.get(key)
        if record is not None and record.reusable and record.job_id:
            counts.resumed += 1
            return _Job(index, key, record.job_id, backend.poll.first_s, clock(), True)
        if record is None or not record.reusable:
            attempt = 1 if record is None else record.attempt + 1
            record = ledger.starting(key, api=backend.operation, video=video.video_id, attempt=attempt)
            fresh = True
        else:  # STARTING without a JobId: a run stopped between Start and recording; same token, same job
            fresh = False
        request: dict[str, Any] = {
            "Video": {"S3Object": video.s3_object()},
            **start_params,
            "ClientRequestToken": record.token,
            "JobTag": JOB_TAG,
        }
        if backend.notification_channel:
            topic, role, _queue = backend.notification_channel
            request["NotificationChannel"] = {"SNSTopicArn": topic, "RoleArn": role}
        try:
            answer = getattr(backend.client, _snake(operation.start_api))(**request)
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            if code == "LimitExceededException":
                counts.limit_exceeded += 1
                return "limit"
            if code in RETRYABLE:
                return "limit"  # the same wait: try again later
            ledger.finished(key, "NOT_STARTED", _message(error))
            fail(index, code or "ClientError", _message(error))
            return None
        except BotoCoreError as error:
            ledger.finished(key, "NOT_STARTED", str(error))
            fail(index, type(error).__name__, f"{type(error).__name__}: {error}")
            return None
        job_id = str(answer["JobId"])
        ledger.started(key, job_id)
        if fresh:
            counts.started += 1
            counts.started_jobs.append(job_id)
        else:
            counts.resumed += 1
        return _Job(index, key, job_id, backend.poll.first_s, clock() + backend.poll.first_s, not fresh)

    def get(job: _Job, token: str | None = None) -> dict[str, Any]:
        request = {
            "JobId": job.job_id,
            "MaxResults": 1000,
            "SortBy": "TIMESTAMP",
            "AggregateBy": backend.aggregate_by,
        }
        if token:
            request["NextToken"] = token
        return getattr(backend.client, _snake(operation.get_api))(**request)

    def poll(job: _Job) -> bool:
        """True when the job is done with (answered, failed or to be started again)."""
        counts.polls += 1
        try:
            first = get(job)
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            if code in RETRYABLE:
                reschedule(job)
                return False
            if code in GONE and job.resumed:
                ledger.finished(job.job_key, "EXPIRED", _message(error))
                queue.appendleft(job.index)  # its results are gone: start it again (attempt + 1)
                return True
            ledger.finished(job.job_key, "GET_FAILED", _message(error))
            fail(job.index, code or "ClientError", _message(error))
            return True
        status = first.get("JobStatus")
        if status == "IN_PROGRESS":
            reschedule(job)
            return False
        if status != "SUCCEEDED":
            message = str(first.get("StatusMessage") or status)
            ledger.finished(job.job_key, str(status), message)
            counts.failed_jobs += 1
            fail(job.index, f"Job{str(status).title()}", f"job {job.job_id} {status}: {message}")
            return True
        answer = _join_pages(first, lambda token: get(job, token), operation.items_key, counts)
        answer["AggregateBy"] = backend.aggregate_by
        version = answer.get(operation.version_key)
        outcome = outcomes[job.index]
        cache.put(
            outcome.cache_key or "",
            image_id=outcome.image_id or "",
            operation=backend.operation,
            params=params,
            response=answer,
            model_version=str(version) if version is not None else None,
        )
        ledger.finished(job.job_key, "SUCCEEDED")
        outcome.status = CALLED
        return True

    def reschedule(job: _Job) -> None:
        job.delay = min(backend.poll.cap_s, job.delay * backend.poll.factor)
        wait = backend.poll.cap_s if backend.notification_channel else job.delay
        job.due = clock() + wait

    def wake_from_notifications(timeout: float) -> None:
        _topic, _role, queue_url = backend.notification_channel or ("", "", "")
        by_id = {job.job_id: job for job in running.values()}
        response = backend.sqs_client.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=max(0, min(20, int(timeout)))
        )
        for message in response.get("Messages", []):
            job_id, status = _notification(message.get("Body", ""))
            job = by_id.get(job_id or "")
            if job is not None or (job_id and _known(ledger, job_id)):
                backend.sqs_client.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            if job is not None:
                counts.notifications += 1
                log.info("job %s: %s (notification)", job_id, status)
                job.due = clock()

    try:
        while queue or running:
            while queue and len(running) < limit:
                index = queue[0]
                job = start(index)
                if job == "limit":
                    limit = max(1, len(running))
                    break
                queue.popleft()
                if isinstance(job, _Job):
                    running[index] = job
                    counts.max_in_flight = max(counts.max_in_flight, len(running))
            if not running:
                if not queue:
                    break
                waited_for_slot += 1
                if waited_for_slot > backend.poll.limit_rounds:
                    for index in queue:
                        fail(
                            index,
                            "LimitExceededException",
                            "no job slot came free: the account's concurrent video jobs are all in use",
                        )
                    queue.clear()
                    break
                sleep(
                    min(
                        backend.poll.cap_s,
                        backend.poll.first_s * backend.poll.factor ** min(waited_for_slot, 10),
                    )
                )
                continue
            waited_for_slot = 0
            now = clock()
            due = [job for job in running.values() if job.due <= now]
            if not due:
                next_due = min(job.due for job in running.values())
                if backend.notification_channel and backend.sqs_client is not None:
                    wake_from_notifications(next_due - now)
                else:
                    sleep(max(0.0, next_due - now))
                continue
            for job in due:
                if poll(job):
                    del running[job.index]
                    limit = min(backend.max_concurrent_jobs, limit + 1)
            if progress and clock() - last_log >= 5.0:
                last_log = clock()
                done = sum(o.status in (CALLED, FAILED) for o in outcomes)
                log.info("video jobs: %d done, %d running, %d waiting", done, len(running), len(queue))
    except KeyboardInterrupt:
        for job in running.values():
            outcomes[job.index].reason = f"job {job.job_id} still running: run again to collect it"
        for index in queue:
            outcomes[index].reason = "not started: the run was interrupted"
        stats = _stats(outcomes, counts, clock() - started_at)
        stats.interrupted = True
        backend.job_stats = dataclasses.asdict(counts)
        ledger.close()
        raise Interrupted(outcomes, stats) from None
    ledger.close()
    backend.job_stats = dataclasses.asdict(counts)
    return outcomes, _stats(outcomes, counts, clock() - started_at)


def _join_pages(first: dict[str, Any], page: Any, items_key: str, counts: _Counts) -> dict[str, Any]:
    """Every page of a Get* answer, NextToken to the end, as one answer."""
    answer = {k: v for k, v in first.items() if k not in ("NextToken", "ResponseMetadata")}
    items = list(first.get(items_key) or [])
    pages, token = 1, first.get("NextToken")
    while token:
        following = page(token)
        items.extend(following.get(items_key) or [])
        pages += 1
        token = following.get("NextToken")
    counts.pages += pages
    answer[items_key] = items
    answer["Pages"] = pages
    return answer


def _notification(body: str) -> tuple[str | None, str | None]:
    """(JobId, Status) of a Rekognition Video notification, raw or in its SNS envelope."""
    try:
        document = json.loads(body)
        if isinstance(document, dict) and isinstance(document.get("Message"), str):
            document = json.loads(document["Message"])
    except (ValueError, TypeError):
        return None, None
    if not isinstance(document, dict):
        return None, None
    return (str(document["JobId"]) if document.get("JobId") else None), document.get("Status")


def _known(ledger: JobLedger, job_id: str) -> bool:
    return any(record.job_id == job_id for record in ledger.all())


def _stats(outcomes: Sequence[ImageOutcome], counts: _Counts, wall: float) -> RunStats:
    codes: dict[str, int] = {}
    for outcome in outcomes:
        if outcome.error_code:
            codes[outcome.error_code] = codes.get(outcome.error_code, 0) + 1
    return RunStats(
        images=len(outcomes),
        calls=sum(o.status == CALLED for o in outcomes),
        cache_hits=sum(o.status == CACHED for o in outcomes),
        rejected=sum(o.status == REJECTED for o in outcomes),
        failed=sum(o.status == FAILED for o in outcomes),
        missing=sum(o.status == MISSING for o in outcomes),
        throttled=counts.limit_exceeded,
        wall_s=round(wall, 3),
        error_codes=codes,
    )


def _snake(api: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in api).lstrip("_")


def _message(error: ClientError) -> str:
    detail = error.response.get("Error", {})
    return f"{detail.get('Code', 'ClientError')}: {detail.get('Message', '')}".rstrip(": ")


# --------------------------------------------------------------------------------------- durations


def video_duration_ms(video: VideoObject | Path, s3_client: Any = None) -> tuple[float | None, str]:
    """The video's duration and where it came from: S3 metadata, else the container read by PyAV."""
    if isinstance(video, VideoObject):
        for name in DURATION_METADATA:
            value = video.metadata.get(name)
            try:
                if value is not None and float(value) > 0:
                    return float(value) * (1.0 if name == "duration-ms" else 1000.0), f"x-amz-meta-{name}"
            except ValueError:
                pass
        source: Any = _S3RangeReader(s3_client, video.bucket, video.key, video.size, video.version)
    else:
        source = str(video)
    try:
        import av
    except ImportError:
        return (
            None,
            "no duration in the S3 metadata and PyAV is not installed "
            "(pip install 'rekognition-eval[video]')",
        )
    try:
        with av.open(source, mode="r") as container:
            if container.duration:
                return container.duration / 1000.0, "container (PyAV)"
            streams = [s for s in container.streams if s.duration and s.time_base]
            if streams:
                return max(float(s.duration * s.time_base) for s in streams) * 1000.0, "streams (PyAV)"
    except (av.FFmpegError, OSError, ClientError) as error:
        return None, f"cannot read the duration: {error}"
    return None, "the container states no duration"


class _S3RangeReader(io.RawIOBase):
    """A seekable, read-only file over an S3 object by ranged GETs: a demuxer reads only what it needs
    (an MP4's moov box, an AVI's header), not the whole video."""

    def __init__(self, s3_client: Any, bucket: str, key: str, size: int, version: str | None) -> None:
        self.client, self.bucket, self.key, self.size, self.version = s3_client, bucket, key, size, version
        self.position = 0
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: self.size}[whence]
        self.position = max(0, base + offset)
        return self.position

    def readinto(self, buffer: Any) -> int:
        if self.position >= self.size or not len(buffer):
            return 0
        end = min(self.size, self.position + len(buffer)) - 1
        extra = {"VersionId": self.version} if self.version else {}
        body = self.client.get_object(
            Bucket=self.bucket, Key=self.key, Range=f"bytes={self.position}-{end}", **extra
        )["Body"].read()
        buffer[: len(body)] = body
        self.position += len(body)
        self.bytes_read += len(body)
        return len(body)


def minutes_of(durations_ms: Sequence[float | None]) -> float:
    """Minutes of video (how the service rounds a video's minutes is not documented: none here)."""
    return sum(d for d in durations_ms if d) / 60000.0


# ------------------------------------------------------------------------------------------- upload


def upload_local_videos(dataset: Dataset, s3_client: Any, prefix: str) -> tuple[Dataset, list[str]]:
    """Copy the dataset's local videos to `prefix` (s3://bucket/datasets/videos/), content-addressed:
    s3://.../<sha256 first 16>/<file name>, with the duration in x-amz-meta-duration-ms when PyAV reads
    it. An object already there with the same size is not sent again. Returns the dataset with S3 URIs."""
    bucket, _, base = prefix[5:].partition("/")
    base = base.rstrip("/") + "/" if base else ""
    items, sent = [], []
    for item in dataset.items:
        if item.image.is_s3:
            items.append(item)
            continue
        path = Path(item.image.uri)
        if path.suffix.lower() not in VIDEO_EXTENSIONS:
            raise UserError(f"{path}: not a video Rekognition reads ({', '.join(VIDEO_EXTENSIONS)})")
        digest = _sha256(path)
        key = f"{base}{digest[:16]}/{path.name}"
        try:
            head = s3_client.head_object(Bucket=bucket, Key=key)
            present = int(head.get("ContentLength", -1)) == path.stat().st_size
        except ClientError:
            present = False
        if not present:
            duration, _ = video_duration_ms(path)
            metadata = {"sha256": digest, **({"duration-ms": f"{duration:.0f}"} if duration else {})}
            try:
                with path.open("rb") as body:
                    s3_client.upload_fileobj(body, bucket, key, ExtraArgs={"Metadata": metadata})
            except (ClientError, BotoCoreError) as error:
                raise UserError(f"cannot upload {path} to s3://{bucket}/{key}: {error}") from None
            sent.append(f"s3://{bucket}/{key}")
        items.append(dataclasses.replace(item, image=ImageRef(f"s3://{bucket}/{key}")))
    return dataclasses.replace(dataset, items=items), sent


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# ----------------------------------------------------------------------------------------- building


@dataclass
class VideoPlan:
    """What a video run would do: the backend, the videos (None: rejected), their durations."""

    backend: VideoJobs
    dataset: Dataset
    videos: list[VideoObject | None]
    durations_ms: list[float | None]
    duration_sources: list[str]
    uploaded: list[str]

    def describe(self, to_call: Sequence[int]) -> list[str]:
        """The dry run's lines about jobs, waits, minutes and uploads."""
        known = [self.durations_ms[i] or 0.0 for i in to_call if self.durations_ms[i] is not None]
        lines = [
            f"Jobs needed: {len(to_call)} (at most {self.backend.max_concurrent_jobs} at once)",
            f"Waiting for jobs by: {self.backend.describe()['waits_by']}",
            f"Video minutes to analyse: {sum(known) / 60000:,.2f} ({len(known)} of {len(to_call)} durations "
            "known)",
        ]
        unknown = sorted({self.duration_sources[i] for i in to_call if self.durations_ms[i] is None})
        lines += [f"  duration unknown: {reason}" for reason in unknown]
        return lines + [f"  uploaded {uri}" for uri in self.uploaded]

    def cost(
        self, price_table: Any, to_call: Sequence[int], estimate: Any, stats: RunStats
    ) -> dict[str, Any]:
        """Minutes of the videos this run's jobs answered, at the table's per-minute price."""
        from evaluation.calls.prices import PriceTable

        answered = [i for i in to_call if self.durations_ms[i] is not None]
        minutes = minutes_of([self.durations_ms[i] for i in answered]) if stats.calls else 0.0
        spent = None
        if estimate is not None:
            spent = PriceTable.load(price_table).estimate_video(
                self.backend.operation, estimate.region, stats.calls, minutes
            )
        return {
            "estimated_usd": spent.usd if spent else None,
            "calls": stats.calls,
            "minutes": round(minutes, 4),
            "source": spent.source if spent else None,
            "notes": spent.notes if spent else ["no price: not an AWS endpoint"],
        }


def plan_video_run(
    request: Any,
    dataset: Dataset,
    operation: Any,
    cache_path: Path,
    *,
    client: Any = None,
    session: Any = None,
    s3_client: Any = None,
    upload_s3_client: Any = None,
) -> tuple[VideoPlan, list[ImageOutcome], list[int], Any]:
    """Upload (or refuse) local videos, check every video in S3, look up the cache, read the durations of
    the videos still to analyse and price them; no job is started."""
    from evaluation.calls.backends.rekognition import is_aws_endpoint
    from evaluation.calls.prices import PriceTable

    backend, dataset, uploaded = build_video_jobs(
        request,
        dataset,
        operation,
        client=client,
        session=session,
        s3_client=s3_client,
        upload_s3_client=upload_s3_client,
    )
    with ResponseCache(cache_path) as store:
        outcomes, to_call, videos = plan_videos(dataset, backend, store)
    durations_ms, sources = durations(videos, backend.s3_client, to_call)
    estimate = None
    described = backend.describe()
    if is_aws_endpoint(str(described.get("endpoint_url") or "")):
        unknown = any(durations_ms[i] is None for i in to_call)
        minutes = None if unknown else minutes_of([durations_ms[i] for i in to_call])
        estimate = PriceTable.load(request.price_table).estimate_video(
            operation.api, described.get("region") or request.region, len(to_call), minutes
        )
    return VideoPlan(backend, dataset, videos, durations_ms, sources, uploaded), outcomes, to_call, estimate


def build_video_jobs(
    request: Any,
    dataset: Dataset,
    operation: Any,
    *,
    client: Any = None,
    session: Any = None,
    s3_client: Any = None,
    sqs_client: Any = None,
    upload_s3_client: Any = None,
) -> tuple[VideoJobs, Dataset, list[str]]:
    """The video backend for a RunRequest; local videos uploaded to request.upload_to first (or refused)."""
    import boto3

    from evaluation.calls.backends import make_client
    from evaluation.calls.prices import default_concurrent_jobs

    if request.backend != "rekognition":
        raise UserError(
            f"--operation {operation.name} runs jobs on Rekognition Video: use --backend rekognition"
        )
    base = session or boto3.Session(profile_name=request.profile, region_name=request.region)
    if s3_client is None:
        s3_client = base.client("s3", region_name=request.region)
    uploaded: list[str] = []
    if request.upload_to and any(not item.image.is_s3 for item in dataset.items):
        dataset, uploaded = upload_local_videos(dataset, upload_s3_client or s3_client, request.upload_to)
    if client is None:
        # one attempt per call: botocore counts LimitExceededException as throttling and would wait out
        # the account's job quota inside one Start call; the job loop waits for a free slot instead
        client = make_client(
            session=session,
            region=request.region,
            profile=request.profile,
            endpoint_url=request.endpoint_url,
            max_attempts=1,
        )
    if request.notification_channel and sqs_client is None:
        sqs_client = base.client("sqs", region_name=request.region)
    jobs = request.max_concurrent_jobs or default_concurrent_jobs()[0]
    backend = VideoJobs(
        client,
        operation=operation,
        s3_client=s3_client,
        aggregate_by=operation.aggregate_for(dataset),
        min_confidence=request.min_confidence,
        max_concurrent_jobs=jobs,
        notification_channel=request.notification_channel,
        sqs_client=sqs_client,
        poll=PollPolicy(
            first_s=request.poll_interval_s,
            cap_s=max(request.poll_interval_s, 60.0)
            if request.poll_interval_s >= 1
            else request.poll_interval_s * 12,
        ),
        region=request.region,
    )
    return backend, dataset, uploaded


def durations(
    videos: Sequence[VideoObject | None], s3_client: Any, wanted: Sequence[int]
) -> tuple[list[float | None], list[str]]:
    """The duration of each wanted video (the others: None), and where each came from."""
    found: list[float | None] = [None] * len(videos)
    sources = [""] * len(videos)
    for index in wanted:
        video = videos[index]
        if video is not None:
            found[index], sources[index] = video_duration_ms(video, s3_client)
    return found, sources
