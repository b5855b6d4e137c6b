"""The dated quota and price tables, and the estimates built on them."""

import pytest

from evaluation.calls.prices import PriceTable, default_tps
from evaluation.errors import UserError


def test_default_quotas_follow_the_table():
    assert default_tps("DetectLabels", "us-east-1")[0] == 50
    assert default_tps("DetectLabels", "ap-south-1")[0] == 5
    tps, source = default_tps("DetectLabels", "mars-north-1")
    assert tps == 5 and "no default known" in source


def test_tiered_estimate_walks_the_monthly_tiers():
    table = PriceTable.load()
    assert table.estimate("DetectLabels", "us-east-1", 1000).usd == pytest.approx(1.0)
    # 1M at 0.001 then 0.5M at 0.0008
    assert table.estimate("DetectLabels", "us-east-1", 1_500_000).usd == pytest.approx(1400.0)
    # already 900k this month: 100k at 0.001, 100k at 0.0008
    later = table.estimate("DetectLabels", "us-east-1", 200_000, already_this_month=900_000)
    assert later.usd == pytest.approx(180.0)


def test_unknown_prices_are_unknown_not_free(tmp_path):
    table = PriceTable.load()
    assert table.estimate("DetectLabels", "us-east-1", 40_000_000).usd is None
    assert table.estimate("CompareFaces", "us-east-1", 10).usd is None
    other = table.estimate("DetectLabels", "eu-west-1", 10)
    assert other.usd == pytest.approx(0.01) and any("us-east-1" in note for note in other.notes)


def test_a_users_price_table(tmp_path):
    path = tmp_path / "prices.yaml"
    path.write_text(
        "retrieved: '2026-01-01'\noperations: {DetectLabels: g}\n"
        "groups: {g: {eu-west-1: [{up_to_images: null, usd_per_image: 0.002}]}}\n"
    )
    assert PriceTable.load(path).estimate("DetectLabels", "eu-west-1", 10).usd == pytest.approx(0.02)
    (tmp_path / "bad.yaml").write_text("operations: [1, 2]\n")
    with pytest.raises(UserError, match="operations"):
        PriceTable.load(tmp_path / "bad.yaml")
