"""Dry runs and --max-cost on an AWS endpoint (botocore's Stubber: nothing leaves the machine)."""

import boto3
import pytest
from botocore.stub import Stubber

from evaluation.calls.runner import CACHED
from evaluation.errors import UserError
from evaluation.pipeline import evaluate, plan_run
from tests.support.images import png_bytes


@pytest.fixture
def csv_dataset(tmp_path):
    rows = []
    for index in range(10):
        (tmp_path / f"{index}.png").write_bytes(png_bytes(90, 90, seed=index))
        rows.append(f"{index}.png,Cat")
    (tmp_path / "tiny.png").write_bytes(png_bytes(10, 10))
    rows.append("tiny.png,Cat")
    path = tmp_path / "data.csv"
    path.write_text("image,labels\n" + "\n".join(rows) + "\n")
    return path


@pytest.fixture
def stubbed_client():
    client = boto3.client("rekognition", region_name="us-east-1")
    with Stubber(client) as stubber:
        yield client, stubber


def test_dry_run_counts_calls_rejections_and_cost(csv_dataset, stubbed_client, tmp_path):
    client, _ = stubbed_client
    plan = plan_run(csv_dataset, client=client, region="us-east-1", cache=tmp_path / "c.sqlite")
    assert plan.counts == {"images": 11, "cached": 0, "rejected": 1, "to_call": 10}
    assert plan.estimate is not None and plan.estimate.usd == pytest.approx(0.01)
    assert plan.tps == 50 and "quotas.yaml" in plan.tps_source
    text = plan.describe()
    assert "Calls needed: 10" in text and "USD 0.0100" in text and "too small" in text


def test_max_cost_refuses_before_any_call(csv_dataset, stubbed_client, tmp_path):
    client, stubber = stubbed_client
    with pytest.raises(
        UserError, match=r"needs 10 calls, estimated USD 0\.0100, more than --max-cost 0\.005"
    ):
        evaluate(
            csv_dataset,
            client=client,
            region="us-east-1",
            cache=tmp_path / "c.sqlite",
            max_cost=0.005,
            progress=False,
        )
    stubber.assert_no_pending_responses()  # and no unexpected call was made: the stubber would have raised


def test_within_budget_runs_and_records_cost_then_cached_images_cost_nothing(
    csv_dataset, stubbed_client, tmp_path
):
    client, stubber = stubbed_client
    for index in range(10):
        stubber.add_response(
            "detect_labels",
            {"Labels": [{"Name": "Cat", "Confidence": 50.0 + index}], "LabelModelVersion": "3.0"},
        )
    cache = tmp_path / "c.sqlite"
    result = evaluate(
        csv_dataset,
        client=client,
        region="us-east-1",
        cache=cache,
        max_cost=1.0,
        progress=False,
        min_support=1,
    )
    assert result.summary["api_calls"] == 10
    assert result.summary["estimated_cost_usd"] == pytest.approx(0.01)
    assert not result.complete  # the tiny image was rejected
    again = plan_run(csv_dataset, client=client, region="us-east-1", cache=cache)
    assert again.counts["to_call"] == 0 and again.estimate.usd == 0.0
    assert sum(o.status == CACHED for o in again.outcomes) == 10
