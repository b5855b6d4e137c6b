"""The plan of a stored-video run: the backend built from a RunRequest (local videos uploaded first, or
refused), every video checked and looked up in the cache, the durations of those still to analyse, and
their per-minute price; what --dry-run prints and --max-cost checks. No job is started here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evaluation.aws.video_jobs import PollPolicy, VideoJobs, plan_videos
from evaluation.aws.video_media import VideoObject, durations, upload_local_videos
from evaluation.calls.cache import ResponseCache
from evaluation.calls.prices import (
    DEFAULT_VIDEO_ROUNDING,
    VIDEO_ROUNDING,
    PriceTable,
    billed_minutes,
)
from evaluation.calls.runner import ImageOutcome, RunStats
from evaluation.datasets import Dataset
from evaluation.errors import UserError

__all__ = ["VideoPlan", "build_video_jobs", "plan_video_run"]


@dataclass
class VideoPlan:
    """What a video run would do: the backend, the videos (None: rejected), their durations, and what
    each job is billed: `billed_minutes` under the price table's `rounding`, at `usd_per_minute` (None:
    no price, or not AWS's endpoint). A video of unknown duration has unknown cost, never zero."""

    backend: VideoJobs
    dataset: Dataset
    videos: list[VideoObject | None]
    durations_ms: list[float | None]
    duration_sources: list[str]
    uploaded: list[str]
    rounding: str = DEFAULT_VIDEO_ROUNDING
    billed_minutes: list[float | None] = field(default_factory=list)
    usd_per_minute: float | None = None
    priced: bool = False  # AWS's endpoint: the jobs are billed (a local endpoint's are not)

    def video_costs(self, indexes: Sequence[int]) -> list[dict[str, Any]]:
        """One row per video: its URI, duration, billed minutes and list price (None: unknown)."""
        rows = []
        for i in indexes:
            minutes = self.billed_minutes[i] if i < len(self.billed_minutes) else None
            usd = None
            if minutes is not None and self.usd_per_minute is not None:
                usd = round(minutes * self.usd_per_minute, 6)
            duration = self.durations_ms[i]
            rows.append(
                {
                    "video": self.dataset.items[i].image.uri,
                    "duration_s": None if duration is None else round(duration / 1000.0, 3),
                    "billed_minutes": minutes,
                    "usd": usd if self.priced else None,
                    **({"unknown": self.duration_sources[i]} if minutes is None else {}),
                }
            )
        return rows

    def totals(self, indexes: Sequence[int]) -> dict[str, Any]:
        """Billed minutes and cost of jobs on `indexes` (one API), the unknown ones named, never free."""
        rows = self.video_costs(indexes)
        known = [row for row in rows if row["billed_minutes"] is not None]
        billed = sum(row["billed_minutes"] for row in known)
        unknown = [row["video"] for row in rows if row["billed_minutes"] is None]
        usd = None
        if self.priced and self.usd_per_minute is not None and not unknown:
            usd = round(billed * self.usd_per_minute, 6)
        return {
            "api": self.backend.operation,
            "videos": len(rows),
            "video_minutes": round(sum((self.durations_ms[i] or 0.0) for i in indexes) / 60000.0, 4),
            "billed_minutes": round(billed, 4),
            "usd_per_minute": self.usd_per_minute if self.priced else None,
            "estimated_usd": usd,
            "known_usd": round(billed * self.usd_per_minute, 6)
            if self.priced and self.usd_per_minute is not None
            else None,
            "unknown_cost_videos": unknown,
            "rounding": self.rounding,
            "rounding_rule": VIDEO_ROUNDING[self.rounding],
        }

    def describe(self, to_call: Sequence[int]) -> list[str]:
        """The dry run's lines about jobs, waits, minutes and cost, per video and in total."""
        known = [self.durations_ms[i] or 0.0 for i in to_call if self.durations_ms[i] is not None]
        totals = self.totals(to_call)
        api = self.backend.operation
        lines = [
            f"Jobs needed: {len(to_call)} (at most {self.backend.max_concurrent_jobs} at once)",
            f"Waiting for jobs by: {self.backend.describe()['waits_by']}",
            f"Video minutes to analyse: {sum(known) / 60000:,.2f} ({len(known)} of {len(to_call)} durations "
            f"known), billed as {totals['billed_minutes']:,.4g} minute(s) of {api}: "
            f"{totals['rounding_rule']} (prices.yaml video.rounding: {self.rounding})",
        ]
        if to_call:
            price = (
                f"USD {self.usd_per_minute:g} a billed minute"
                if self.priced and self.usd_per_minute is not None
                else "no per-minute price"
                if self.priced
                else "not AWS's endpoint: not billed"
            )
            lines.append(f"Per video ({api}, {price}):")
        for row in self.video_costs(to_call):
            if row["billed_minutes"] is None:
                lines.append(f"  {row['video']}: duration unknown ({row['unknown']}): cost unknown")
                continue
            cost = f", USD {row['usd']:,.4f}" if row["usd"] is not None else ""
            lines.append(
                f"  {row['video']}: {row['duration_s']:,.3f} s -> {row['billed_minutes']:g} billed "
                f"minute(s){cost}"
            )
        if self.priced and to_call:
            unknown = totals["unknown_cost_videos"]
            if totals["known_usd"] is None:
                total = "unknown (no per-minute price: pass --price-table FILE)"
            elif unknown:
                total = (
                    f"unknown: USD {totals['known_usd']:,.4f} for the {len(to_call) - len(unknown)} videos "
                    f"of known duration, plus {len(unknown)} video(s) of unknown duration (not free)"
                )
            else:
                total = f"USD {totals['estimated_usd']:,.4f}"
            lines.append(f"Video cost in total: {total}")
        return lines + [f"  uploaded {uri}" for uri in self.uploaded]

    def cost(
        self, price_table: Any, to_call: Sequence[int], estimate: Any, stats: RunStats
    ) -> dict[str, Any]:
        """What this run's jobs are billed: the videos whose jobs it started or resumed, in billed minutes
        (the price table's rounding, per video and per API) at the table's per-minute price."""
        ran = self.backend.job_stats.get("job_videos")
        if ran is None:
            ran = list(to_call) if stats.calls else []
        ran = sorted(set(ran))
        totals = self.totals(ran)
        notes = [f"billed minutes: {totals['rounding_rule']} (assumed: AWS does not document it)"]
        if not self.priced:
            notes.append("no price: not an AWS endpoint")
        elif totals["unknown_cost_videos"]:
            notes.append(f"{len(totals['unknown_cost_videos'])} video(s) of unknown duration: cost unknown")
        elif self.usd_per_minute is None:
            notes.append(f"no per-minute price for {self.backend.operation}")
        source = estimate.source if estimate is not None else None
        return {
            "estimated_usd": totals["estimated_usd"],
            "calls": stats.calls,
            "minutes": totals["video_minutes"],
            "billed_minutes": totals["billed_minutes"],
            "rounding": self.rounding,
            "by_api": {self.backend.operation: totals},
            "videos": self.video_costs(ran),
            "source": source,
            "notes": notes,
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
    table = PriceTable.load(request.price_table)
    rounding = table.video_rounding()
    billed = [billed_minutes(duration, rounding) for duration in durations_ms]
    described = backend.describe()
    region = described.get("region") or request.region
    priced = is_aws_endpoint(str(described.get("endpoint_url") or ""))
    price, _ = table.video_price(operation.api, region)
    plan = VideoPlan(
        backend, dataset, videos, durations_ms, sources, uploaded, rounding, billed, price, priced
    )
    estimate = None
    if priced:
        unknown = any(billed[i] is None for i in to_call)
        minutes = None if unknown else sum(billed[i] or 0.0 for i in to_call)
        estimate = table.estimate_video(operation.api, region, len(to_call), minutes, rounding=rounding)
    return plan, outcomes, to_call, estimate


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
