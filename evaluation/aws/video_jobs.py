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

Videos, durations and uploads: evaluation.aws.video_media; the plan of a run: evaluation.aws.video_plan.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from evaluation.aws.job_guard import JobLedger
from evaluation.aws.video_media import (
    VideoObject,
    head_video,
)
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
from evaluation.images import DETECT_LABELS_LIMITS

log = logging.getLogger(__name__)

__all__ = [
    "PollPolicy",
    "VideoJobs",
    "VideoObject",
    "fetch_videos",
    "plan_videos",
]

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
