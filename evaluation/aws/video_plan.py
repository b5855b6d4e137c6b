"""The plan of a stored-video run: the backend built from a RunRequest (local videos uploaded first, or
refused), every video checked and looked up in the cache, the durations of those still to analyse, and
their per-minute price; what --dry-run prints and --max-cost checks. No job is started here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evaluation.aws.video_jobs import PollPolicy, VideoJobs, plan_videos
from evaluation.aws.video_media import VideoObject, durations, minutes_of, upload_local_videos
from evaluation.calls.cache import ResponseCache
from evaluation.calls.runner import ImageOutcome, RunStats
from evaluation.datasets import Dataset
from evaluation.errors import UserError

__all__ = ["VideoPlan", "build_video_jobs", "plan_video_run"]


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
    if request.max_concurrent_jobs is not None and request.max_concurrent_jobs < 1:
        raise UserError(f"--max-concurrent-jobs must be at least 1, got {request.max_concurrent_jobs}")
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
