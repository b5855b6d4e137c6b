"""Both video operations end to end on 30 generated MP4s in moto's S3 through the local endpoint: metrics
equal to brute-force counts, one job per video, the concurrency limit, resume, SNS/SQS, dry run."""

from __future__ import annotations

import json
import math
import time

import boto3
import pandas as pd
import pytest

from evaluation.aws.job_guard import JobLedger, job_token
from evaluation.aws.video_jobs import fetch_videos
from evaluation.calls.cache import ResponseCache, cache_key
from evaluation.calls.runner import Interrupted
from evaluation.options import AnalysisOptions, RunRequest
from evaluation.pipeline import evaluate, plan_run, run_evaluation, write_run
from tests.video.conftest import BUCKET, VideoCase

TOLERANCE = 200


def request_for(world, **changes) -> RunRequest:
    values = dict(
        dataset=str(world.dataset),
        operation="video-labels",
        endpoint_url=world.server.url,
        region="us-east-1",
        cache=str(world.tmp / "cache.sqlite"),
        progress=False,
        poll_interval_s=0.01,
        max_concurrent_jobs=4,
    )
    values.update(changes)
    return RunRequest(**values)


def run(world, out="run", **changes):
    plan = plan_run(request_for(world, **changes))
    result = run_evaluation(plan, AnalysisOptions.build(segment_tolerance_ms=TOLERANCE, min_support=1))
    write_run(result, world.tmp / out)
    return plan, result


def brute_video(cases: list[VideoCase], label: str, threshold: float, claims) -> tuple[int, int, int]:
    tp = fp = fn = 0
    for case in cases:
        present = any(claims(name) == label or name == label for name, _, _ in case.truth)
        best = max(
            (s.confidence for s in case.spans if claims(s.name) == label or s.name == label), default=-1
        )
        predicted = best >= threshold
        tp += present and predicted
        fp += predicted and not present
        fn += present and not predicted
    return tp, fp, fn


def brute_segments(cases: list[VideoCase], label: str, threshold: float, names) -> tuple[int, int, int]:
    """Milliseconds, one by one: present-and-predicted, present-and-missed, predicted-and-absent."""
    tp = fn = fp = 0
    for case in cases:
        truth = [(s, e) for name, s, e in case.truth if name in names]
        edges = [edge for span in truth for edge in span]
        spans = [(s.start_ms, s.end_ms) for s in case.spans if s.name in names and s.confidence >= threshold]
        for ms in range(case.duration_ms):
            x = ms + 0.5
            if any(edge - TOLERANCE <= x < edge + TOLERANCE for edge in edges):
                continue
            present = any(s <= x < e for s, e in truth)
            predicted = any(s <= x < e for s, e in spans)
            tp += present and predicted
            fn += present and not predicted
            fp += predicted and not present
    return tp, fn, fp


def test_video_labels_metrics_equal_brute_force_and_one_job_per_video(world):
    plan, result = run(world)
    assert len(world.cases) == 30
    assert len(world.fake.started_jobs) == 30  # one job per video
    assert world.fake.max_in_progress <= 4  # never more than --max-concurrent-jobs
    assert world.fake.pages_served > 30  # answers were paginated (page size 2)
    assert result.summary["api_calls"] == 30
    assert plan.backend.aggregate_by == "SEGMENTS"
    folder = world.tmp / "run"
    curves = pd.read_parquet(folder / "curves.parquet")
    for row in curves.itertuples():
        expected = brute_video(world.cases, row.label, row.threshold, lambda name: name)
        assert (row.tp, row.fp, row.fn) == expected, row
    segments = pd.read_csv(folder / "segment_curves.csv")
    assert set(segments["label"]) == {"Car", "Cat", "Dog"}
    for row in segments.itertuples():
        tp, fn, fp = brute_segments(world.cases, row.label, row.threshold, {row.label})
        assert (round(row.tp_s * 1000), round(row.fn_s * 1000), round(row.fp_s * 1000)) == (tp, fn, fp), row
    labels = pd.read_csv(folder / "labels.csv")
    assert {"segment_threshold", "segment_f1", "segment_present_s"} <= set(labels.columns)
    thresholds = (folder / "thresholds.yaml").read_text()
    assert "segments:" in thresholds and "tolerance_ms: 200" in thresholds
    report = (folder / "report.md").read_text()
    assert "Time lines of the videos behind the errors" in report
    timelines = pd.read_csv(folder / "timelines.csv")
    assert set(timelines["kind"]) <= {"truth", "detection"} and len(timelines) > 0
    run_json = json.loads((folder / "run.json").read_text())
    assert run_json["jobs"]["started"] == 30 and len(run_json["jobs"]["started_jobs"]) == 30

    # a rerun answers from the cache: no job, no poll
    polls = sum(job.polls for job in world.fake.jobs.values())
    _, again = run(world, out="again")
    assert len(world.fake.started_jobs) == 30
    assert sum(job.polls for job in world.fake.jobs.values()) == polls
    assert again.summary["api_calls"] == 0


def test_video_level_csv_uses_timestamps_and_reuses_the_jobs(world):
    run(world)
    csv = world.tmp / "videos.csv"
    rows = ["video,labels"] + [
        f"s3://{BUCKET}/{case.key},{';'.join(sorted({name for name, _, _ in case.truth}))}"
        for case in world.cases
    ]
    csv.write_text("\n".join(rows) + "\n")
    plan, _ = run(world, out="csv", dataset=str(csv))
    assert plan.backend.aggregate_by == "TIMESTAMPS"
    assert len(world.fake.started_jobs) == 30  # the same jobs, asked again with another AggregateBy
    assert not (world.tmp / "csv" / "segment_curves.csv").exists()
    curves = pd.read_parquet(world.tmp / "csv" / "curves.parquet")
    # TIMESTAMPS samples every 500 ms: a span shorter than that may have no sample, so compare with
    # the sampled detections' own maximum
    for row in curves.itertuples():
        tp, fp, fn = 0, 0, 0
        for case in world.cases:
            present = any(name == row.label for name, _, _ in case.truth)
            sampled = [
                s.confidence
                for s in case.spans
                if s.name == row.label and any(t >= s.start_ms for t in range(0, s.end_ms, 500))
            ]
            predicted = max(sampled, default=-1) >= row.threshold
            tp += present and predicted
            fp += predicted and not present
            fn += present and not predicted
        assert (row.tp, row.fp, row.fn) == (tp, fp, fn)


def test_video_moderation_rolls_up_and_flags(moderation_world):
    world = moderation_world
    run(world, operation="video-moderation")
    folder = world.tmp / "run"
    labels = pd.read_csv(folder / "labels.csv")
    assert "Explicit" in set(labels["label"])  # level-1 roll-up of Explicit Nudity
    assert bool(labels.set_index("label").loc["Explicit", "rolled_up"])
    flag = pd.read_csv(folder / "moderation_flag.csv")
    parents = {"Explicit Nudity": "Explicit", "Weapons": "Violence", "Violence": "Violence"}
    for row in flag.itertuples():
        tp = fp = fn = 0
        for case in world.cases:
            unsafe = bool(case.truth)
            flagged = max((s.confidence for s in case.spans), default=-1) >= row.threshold
            tp += unsafe and flagged
            fp += flagged and not unsafe
            fn += unsafe and not flagged
        assert (row.tp, row.fp, row.fn) == (tp, fp, fn)
    curves = pd.read_parquet(folder / "curves.parquet")
    for row in curves[curves["label"] == "Violence"].itertuples():  # Violence counts Weapons below it
        expected = brute_video(world.cases, "Violence", row.threshold, lambda name: parents.get(name))
        assert (row.tp, row.fp, row.fn) == expected
    segments = pd.read_csv(folder / "segment_curves.csv")
    for row in segments[segments["label"] == "Violence"].itertuples():
        tp, fn, fp = brute_segments(world.cases, "Violence", row.threshold, {"Violence", "Weapons"})
        assert (round(row.tp_s * 1000), round(row.fn_s * 1000), round(row.fp_s * 1000)) == (tp, fn, fp)
    assert "video_flag:" in (folder / "thresholds.yaml").read_text()


def test_an_interrupted_run_resumes_polling_without_new_jobs(world):
    world.fake.hold = True  # every job stays IN_PROGRESS
    world.fake.max_concurrent = 30
    plan = plan_run(request_for(world, max_concurrent_jobs=30))
    ticks = []

    def clock():  # Ctrl-C once, after every job was started and polled a few times
        ticks.append(1)
        if len(ticks) == 200:
            raise KeyboardInterrupt
        return time.monotonic()

    with ResponseCache(plan.cache_path) as store, pytest.raises(Interrupted) as stopped:
        fetch_videos(
            (plan.outcomes, plan.to_call, plan.video.videos), plan.backend, store, progress=False, clock=clock
        )
    assert sum(job.polls for job in world.fake.jobs.values()) > 0
    assert len(world.fake.started_jobs) == 30
    assert all("still running" in (o.reason or "") for o in stopped.value.outcomes)
    with JobLedger(plan.cache_path) as ledger:
        recorded = ledger.all()
    assert sorted(r.job_id for r in recorded) == sorted(world.fake.started_jobs)
    world.fake.hold = False
    _, result = run(world)
    assert len(world.fake.started_jobs) == 30  # polled, not started again
    assert result.summary["images"]["evaluated"] == 30


def test_a_job_started_but_not_recorded_is_found_again_by_its_token(world):
    """Killed between Start and writing the JobId: the same ClientRequestToken returns the same job."""
    plan = plan_run(request_for(world))
    video = plan.video.videos[0]
    job_key = cache_key(video.video_id, "StartLabelDetection", {"MinConfidence": 0.0})
    with JobLedger(plan.cache_path) as ledger:
        ledger.starting(job_key, api="StartLabelDetection", video=video.video_id, attempt=1)
    client = boto3.client("rekognition", region_name="us-east-1", endpoint_url=world.server.url)
    client.start_label_detection(
        Video={"S3Object": {"Bucket": BUCKET, "Name": video.key}},
        MinConfidence=0.0,
        ClientRequestToken=job_token(job_key, 1),
    )
    assert len(world.fake.started_jobs) == 1
    run(world)
    assert len(world.fake.started_jobs) == 30  # 1 + 29: the first video's job was not started twice


def test_the_service_limit_is_respected_when_the_account_is_busier(video_files, tmp_path):
    from moto import mock_aws

    from tests.video.conftest import make_world

    with mock_aws():
        world = make_world(video_files, tmp_path, max_concurrent=3)
        try:
            _, result = run(world, max_concurrent_jobs=10)
        finally:
            world.server.stop()
    assert world.fake.limit_answers > 0  # LimitExceededException was answered
    assert world.fake.max_in_progress <= 3
    assert len(world.fake.started_jobs) == 30
    assert result.summary["images"]["evaluated"] == 30


def test_notifications_through_sns_and_sqs(video_files, tmp_path):
    from moto import mock_aws

    from tests.video.conftest import make_world

    with mock_aws():
        sns = boto3.client("sns", region_name="us-east-1")
        sqs = boto3.client("sqs", region_name="us-east-1")
        topic = sns.create_topic(Name="AmazonRekognition-eval")["TopicArn"]
        queue = sqs.create_queue(QueueName="rekognition-eval-video")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
        world = make_world(video_files, tmp_path, sns_client=sns, finish_after_s=0.05)
        role = "arn:aws:iam::123456789012:role/rekognition-video-notifications"
        try:
            plan = plan_run(request_for(world, notification_channel=(topic, role, queue), poll_interval_s=30))
            result = run_evaluation(plan, AnalysisOptions.build())
        finally:
            world.server.stop()
    stats = plan.backend.job_stats
    assert stats["notifications"] == 30  # every job was woken by its message
    assert stats["polls"] == 30  # one Get each: none polled before its notification
    assert result.summary["images"]["evaluated"] == 30
    job = next(iter(world.fake.jobs.values()))
    assert job.channel == {"SNSTopicArn": topic, "RoleArn": role}


def test_dry_run_reads_durations_from_the_files_and_estimates_cost(world, tmp_path):
    plan = plan_run(request_for(world))
    expected = sum(case.duration_ms for case in world.cases)
    found = sum(plan.video.durations_ms[i] for i in plan.to_call)
    assert abs(found - expected) <= 30 * 150  # container durations (PyAV, ranged S3 reads)
    assert set(plan.video.duration_sources) == {"container (PyAV)"}
    text = plan.describe()
    assert "Jobs needed: 30" in text and "Video minutes to analyse" in text
    prices = tmp_path / "prices.yaml"
    prices.write_text(
        "operations: {}\ngroups: {}\nretrieved: test\nvideo:\n  StartLabelDetection:\n"
        "    us-east-1: {usd_per_minute: 0.1}\n"
    )
    from evaluation.calls.prices import PriceTable

    estimate = PriceTable.load(prices).estimate_video("StartLabelDetection", "us-east-1", 30, found / 60000)
    assert math.isclose(estimate.usd, round(found / 60000 * 0.1, 6))
    import dataclasses

    from evaluation.errors import UserError

    capped = dataclasses.replace(plan, estimate=estimate, request=plan.request.but(max_cost=0.001))
    with pytest.raises(UserError, match="max-cost"):
        capped.check_cost()
    assert world.fake.started_jobs == []  # a dry run starts nothing


def test_local_videos_are_refused_or_uploaded(world, video_files):
    from evaluation.errors import UserError

    local = world.tmp / "local.csv"
    local.write_text("video,labels\n" + "\n".join(f"{path},Dog" for path, _ in video_files[:3]) + "\n")
    with pytest.raises(UserError, match="--upload"):
        plan_run(request_for(world, dataset=str(local)))
    plan = plan_run(request_for(world, dataset=str(local), upload_to=f"s3://{BUCKET}/datasets/videos/"))
    assert len(plan.video.uploaded) == 3
    head = world.s3.head_object(Bucket=BUCKET, Key=plan.video.uploaded[0].split("/", 3)[3])
    assert int(head["Metadata"]["duration-ms"]) > 0
    assert set(plan.video.duration_sources) == {"x-amz-meta-duration-ms"}
    assert evaluate  # the notebook API takes the same keywords


def test_cli_dry_run_states_jobs_and_minutes(world, capsys):
    from evaluation.cli import main

    code = main(
        [
            "run",
            "--operation",
            "video-labels",
            "--dataset",
            str(world.dataset),
            "--endpoint-url",
            world.server.url,
            "--region",
            "us-east-1",
            "--cache",
            str(world.tmp / "cli.sqlite"),
            "--max-concurrent-jobs",
            "5",
            "--dry-run",
            "--quiet",
        ]
    )
    printed = capsys.readouterr().out
    assert code == 0
    assert "Jobs needed: 30 (at most 5 at once)" in printed
    assert "Video minutes to analyse:" in printed and "(30 of 30 durations known)" in printed
    assert world.fake.started_jobs == []
