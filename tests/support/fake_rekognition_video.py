"""Rekognition Video's stored-video jobs, for RekognitionProtocolServer: StartLabelDetection /
GetLabelDetection and StartContentModeration / GetContentModeration on videos held in (moto's) S3.

A job is IN_PROGRESS for `polls_to_finish` Get calls (or, with `finish_after_s`, that many seconds, then
it publishes its completion to the NotificationChannel's SNS topic, as the service does), then SUCCEEDED
or FAILED (scripted). Answers are paginated (`page_size` at most, MaxResults honoured, NextToken), by
TIMESTAMPS (a detection every `sample_ms` inside each scripted span) or SEGMENTS (the spans), with
MinConfidence applied. More than `max_concurrent` jobs in progress: LimitExceededException. The same
ClientRequestToken answers the same JobId without a new job.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from evaluation.server.protocol import ServiceError


@dataclass
class Span:
    name: str
    confidence: float
    start_ms: int
    end_ms: int
    parents: tuple[str, ...] = ()  # labels
    parent: str = ""  # moderation
    level: int = 1


@dataclass
class Job:
    job_id: str
    api: str
    key: str
    min_confidence: float
    channel: dict[str, str] | None
    tag: str | None
    polls: int = 0
    status: str = "IN_PROGRESS"
    started: float = field(default_factory=time.monotonic)


class FakeRekognitionVideo:
    def __init__(
        self,
        s3_client: Any,
        *,
        sns_client: Any = None,
        max_concurrent: int = 20,
        polls_to_finish: int = 2,
        finish_after_s: float | None = None,
        page_size: int = 2,
        sample_ms: int = 500,
    ) -> None:
        self.s3 = s3_client
        self.sns = sns_client
        self.max_concurrent = max_concurrent
        self.polls_to_finish = polls_to_finish
        self.finish_after_s = finish_after_s
        self.page_size = page_size
        self.sample_ms = sample_ms
        self.scripted: dict[str, list[Span]] = {}
        self.durations: dict[str, int] = {}
        self.failing: set[str] = set()
        self.jobs: dict[str, Job] = {}
        self.tokens: dict[str, str] = {}
        self.started_jobs: list[str] = []  # every job created, in order
        self.max_in_progress = 0
        self.limit_answers = 0
        self.pages_served = 0
        self.hold = False  # True: no job finishes (an interrupted run's jobs stay running)
        self._lock = threading.Lock()

    def script(self, key: str, spans: list[Span], *, duration_ms: int, fail: bool = False) -> None:
        self.scripted[key] = spans
        self.durations[key] = duration_ms
        if fail:
            self.failing.add(key)

    def in_progress(self) -> int:
        return sum(job.status == "IN_PROGRESS" for job in self.jobs.values())

    def __call__(self, operation: str, request: dict[str, Any]) -> dict[str, Any]:
        if operation in ("StartLabelDetection", "StartContentModeration"):
            return self._start(operation, request)
        if operation in ("GetLabelDetection", "GetContentModeration"):
            return self._get(operation, request)
        raise ServiceError("UnknownOperationException", f"{operation} is not scripted")

    def _start(self, api: str, request: dict[str, Any]) -> dict[str, Any]:
        s3 = (request.get("Video") or {}).get("S3Object") or {}
        if not s3.get("Bucket") or not s3.get("Name"):
            raise ServiceError("InvalidParameterException", "Video.S3Object is required")
        try:
            self.s3.head_object(Bucket=s3["Bucket"], Key=s3["Name"])
        except Exception:
            raise ServiceError("InvalidS3ObjectException", "Unable to get object metadata from S3") from None
        with self._lock:
            token = request.get("ClientRequestToken")
            if token and token in self.tokens:
                return {"JobId": self.tokens[token]}
            if self.in_progress() >= self.max_concurrent:
                self.limit_answers += 1
                raise ServiceError("LimitExceededException", "too many concurrent jobs")
            job = Job(
                uuid.uuid4().hex,
                api,
                s3["Name"],
                float(request.get("MinConfidence", 50.0)),
                request.get("NotificationChannel"),
                request.get("JobTag"),
            )
            self.jobs[job.job_id] = job
            self.started_jobs.append(job.job_id)
            if token:
                self.tokens[token] = job.job_id
            self.max_in_progress = max(self.max_in_progress, self.in_progress())
        if self.finish_after_s is not None:
            threading.Timer(self.finish_after_s, self._finish, args=(job,)).start()
        return {"JobId": job.job_id}

    def _finish(self, job: Job) -> None:
        with self._lock:
            if job.status != "IN_PROGRESS" or self.hold:
                return
            job.status = "FAILED" if job.key in self.failing else "SUCCEEDED"
        if job.channel and self.sns is not None:
            message = {
                "JobId": job.job_id,
                "Status": job.status,
                "API": job.api,
                "JobTag": job.tag,
                "Timestamp": int(time.time() * 1000),
                "Video": {"S3ObjectName": job.key, "S3Bucket": "bucket"},
            }
            self.sns.publish(TopicArn=job.channel["SNSTopicArn"], Message=json.dumps(message))

    def _get(self, api: str, request: dict[str, Any]) -> dict[str, Any]:
        job = self.jobs.get(str(request.get("JobId")))
        if job is None or job.api != api.replace("Get", "Start"):
            raise ServiceError("ResourceNotFoundException", "job not found")
        token = request.get("NextToken")
        if token is None:
            job.polls += 1
            if self.finish_after_s is None and job.polls >= self.polls_to_finish and not self.hold:
                self._finish(job)
        moderation = api == "GetContentModeration"
        version = {"ModerationModelVersion": "7.0"} if moderation else {"LabelModelVersion": "3.0"}
        base = {"JobStatus": job.status, **version, "JobId": job.job_id}
        if job.status == "IN_PROGRESS":
            return base
        if job.status == "FAILED":
            return {**base, "StatusMessage": "Unsupported codec"}
        items = self._items(job, moderation, request.get("AggregateBy") or "TIMESTAMPS")
        size = min(self.page_size, int(request.get("MaxResults") or 1000))
        offset = int(str(token).split(":")[1]) if token else 0
        page = items[offset : offset + size]
        with self._lock:
            self.pages_served += 1
        answer = {
            **base,
            "VideoMetadata": {
                "Codec": "h264",
                "DurationMillis": self.durations[job.key],
                "Format": "QuickTime / MOV",
                "FrameRate": 10.0,
                "FrameHeight": 32,
                "FrameWidth": 32,
            },
            ("ModerationLabels" if moderation else "Labels"): page,
        }
        if offset + size < len(items):
            answer["NextToken"] = f"{job.job_id}:{offset + size}"
        return answer

    def _items(self, job: Job, moderation: bool, aggregate: str) -> list[dict[str, Any]]:
        entries = []
        for span in self.scripted.get(job.key, []):
            if span.confidence < job.min_confidence:
                continue
            if moderation:
                inner: dict[str, Any] = {
                    "Name": span.name,
                    "Confidence": span.confidence,
                    "ParentName": span.parent,
                    "TaxonomyLevel": span.level,
                }
                key = "ModerationLabel"
            else:
                inner = {
                    "Name": span.name,
                    "Confidence": span.confidence,
                    "Instances": [],
                    "Parents": [{"Name": p} for p in span.parents],
                    "Aliases": [],
                    "Categories": [],
                }
                key = "Label"
            if aggregate == "SEGMENTS":
                entries.append(
                    {
                        "Timestamp": span.start_ms,
                        key: inner,
                        "StartTimestampMillis": span.start_ms,
                        "EndTimestampMillis": span.end_ms,
                        "DurationMillis": span.end_ms - span.start_ms,
                    }
                )
            else:
                first = -(-span.start_ms // self.sample_ms) * self.sample_ms
                entries += [{"Timestamp": t, key: inner} for t in range(first, span.end_ms, self.sample_ms)]
        return sorted(entries, key=lambda entry: entry["Timestamp"])
