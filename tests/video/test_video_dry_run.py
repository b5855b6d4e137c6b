"""--dry-run and --max-cost for the video operations against moto's S3 and generated videos, priced at
AWS's endpoint with the packaged table (USD 0.10 a minute, each video rounded up to a whole minute).

Hand-worked: clips of 1.0, 1.7 and 2.4 s (read from the files with PyAV) bill 1 minute each; a video
whose metadata says 61,000 ms bills 2 minutes, one of exactly 120,000 ms bills 2: 7 billed minutes,
USD 0.70 per API. A file PyAV cannot read has an unknown duration: named, its cost unknown, never free.
"""

from __future__ import annotations

import math

import boto3
import pytest
from moto import mock_aws

from evaluation.aws.job_guard import JobLedger
from evaluation.calls.prices import PriceTable, billed_minutes
from evaluation.errors import UserError
from evaluation.options import RunRequest
from evaluation.pipeline import plan_run

BUCKET = "priced-media"


@pytest.fixture
def priced(video_files, tmp_path):
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        rows = []
        for path, _ in video_files[:3]:  # 1.0, 1.7 and 2.4 s
            s3.put_object(Bucket=BUCKET, Key=f"clips/{path.name}", Body=path.read_bytes())
            rows.append(f"s3://{BUCKET}/clips/{path.name},Dog")
        body = video_files[3][0].read_bytes()
        for key, duration in (("long.mp4", "61000"), ("two.mp4", "120000")):
            s3.put_object(Bucket=BUCKET, Key=f"clips/{key}", Body=body, Metadata={"duration-ms": duration})
            rows.append(f"s3://{BUCKET}/clips/{key},Cat")
        dataset = tmp_path / "videos.csv"
        dataset.write_text("video,labels\n" + "\n".join(rows) + "\n")
        yield s3, dataset, tmp_path


def request(dataset, tmp_path, **changes) -> RunRequest:
    values = dict(
        dataset=str(dataset),
        operation="video-labels",
        region="us-east-1",
        cache=str(tmp_path / "cache.sqlite"),
        progress=False,
    )
    values.update(changes)
    return RunRequest(**values)


def test_billed_minutes_round_up_per_video():
    assert billed_minutes(0) == 0
    assert billed_minutes(1) == 1
    assert billed_minutes(60000) == 1
    assert billed_minutes(60001) == 2
    assert billed_minutes(1500, "per-second") == pytest.approx(2 / 60)
    assert billed_minutes(90000, "exact") == pytest.approx(1.5)
    assert billed_minutes(None) is None  # unknown, never free
    with pytest.raises(UserError, match="per-video-next-minute"):
        billed_minutes(1000, "per-frame")
    assert PriceTable.load().video_rounding() == "per-video-next-minute"
    assert PriceTable.load().video_price("StartContentModeration", "us-east-1") == (0.1, "us-east-1")


def test_dry_run_prices_every_video_and_in_total(priced):
    _, dataset, tmp_path = priced
    plan = plan_run(request(dataset, tmp_path))
    assert [plan.video.billed_minutes[i] for i in plan.to_call] == [1, 1, 1, 2, 2]
    text = plan.describe()
    assert "billed as 7 minute(s) of StartLabelDetection" in text
    assert "Per video (StartLabelDetection, USD 0.1 a billed minute):" in text
    assert f"s3://{BUCKET}/clips/long.mp4: 61.000 s -> 2 billed minute(s), USD 0.2000" in text
    assert f"s3://{BUCKET}/clips/two.mp4: 120.000 s -> 2 billed minute(s), USD 0.2000" in text
    assert "Video cost in total: USD 0.7000" in text
    assert math.isclose(plan.estimate.usd, 0.7)
    plan_run(request(dataset, tmp_path, max_cost=0.75)).check_cost()  # 0.70 <= 0.75: it would start
    with pytest.raises(UserError, match=r"USD 0\.7000, more than --max-cost 0\.69"):
        plan_run(request(dataset, tmp_path, max_cost=0.69)).check_cost()


def test_both_apis_bill_the_same_minutes_each(priced):
    _, dataset, tmp_path = priced
    labels = plan_run(request(dataset, tmp_path))
    moderation = plan_run(request(dataset, tmp_path, operation="video-moderation"))
    assert labels.estimate.operation == "StartLabelDetection"
    assert moderation.estimate.operation == "StartContentModeration"
    assert math.isclose(labels.estimate.usd + moderation.estimate.usd, 1.4)  # 7 minutes per API


def test_an_unreadable_video_is_named_and_its_cost_unknown(priced):
    s3, dataset, tmp_path = priced
    s3.put_object(Bucket=BUCKET, Key="clips/broken.mp4", Body=b"not a video at all " * 64)
    dataset.write_text(dataset.read_text() + f"s3://{BUCKET}/clips/broken.mp4,Dog\n")
    plan = plan_run(request(dataset, tmp_path, max_cost=100.0))
    text = plan.describe()
    assert f"s3://{BUCKET}/clips/broken.mp4: duration unknown (cannot read the duration" in text
    assert "(5 of 6 durations known)" in text
    assert (
        "Video cost in total: unknown: USD 0.7000 for the 5 videos of known duration, plus 1 video(s)" in text
    )
    assert plan.estimate.usd is None
    with pytest.raises(UserError, match="cannot check --max-cost"):  # unknown is never free
        plan.check_cost()


def test_cli_max_cost_refuses_before_any_job(priced, capsys):
    from evaluation.cli import main

    _, dataset, tmp_path = priced
    common = ["run", "--operation", "video-labels", "--dataset", str(dataset), "--region", "us-east-1"]
    common += ["--cache", str(tmp_path / "cli.sqlite"), "--quiet"]
    assert main([*common, "--dry-run", "--max-cost", "0.69"]) == 0
    printed = capsys.readouterr().out
    assert "Video cost in total: USD 0.7000" in printed
    assert "--max-cost 0.69: the run would be refused" in printed
    code = main([*common, "--max-cost", "0.69", "--out", str(tmp_path / "out")])
    assert code != 0
    assert "more than --max-cost 0.69" in capsys.readouterr().err
    with JobLedger(tmp_path / "cli.sqlite") as ledger:
        assert ledger.all() == []  # no job was started, none even recorded as starting
    assert not (tmp_path / "out" / "summary.json").exists()
