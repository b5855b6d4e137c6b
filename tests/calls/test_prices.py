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


FACE_PRICES = (
    "retrieved: '2026-12-06'\n"
    "operations: {IndexFaces: g1, SearchFaces: g1, SearchFacesByImage: g1, CompareFaces: g1}\n"
    "groups: {g1: {us-east-1: [{up_to_images: 1000, usd_per_image: 0.001},"
    " {up_to_images: null, usd_per_image: 0.0008}]}}\n"
    "faces: {face_storage_month: {us-east-1: 0.00001}, face_liveness_check: {us-east-1: 0.01}}\n"
    "free_operations: [CreateCollection, DeleteCollection, GetFaceLivenessSessionResults]\n"
)


def test_face_calls_share_their_group_s_tiers_and_storage_is_pro_rated(tmp_path):
    from evaluation.calls.prices import FACES_STORED

    (tmp_path / "p.yaml").write_text(FACE_PRICES)
    needed = {"CreateCollection": 1, "IndexFaces": 600, "SearchFaces": 600, FACES_STORED: 600}
    estimate = PriceTable.load(tmp_path / "p.yaml").estimate_calls(needed, "us-east-1", storage_hours=2.0)
    # IndexFaces: 600 x 0.001 = 0.60; SearchFaces starts at the 601st Group 1 image of the month:
    # 400 x 0.001 + 200 x 0.0008 = 0.56; storage: 600 faces x 2 h / 730 h = 1.643836 face-months x 0.00001
    assert estimate.usd == pytest.approx(round(0.60 + 0.56 + 600 * 2 / 730 * 0.00001, 6))
    assert estimate.calls == 1201  # the faces stored are not calls
    text = estimate.describe()
    assert (
        "IndexFaces: 600 image(s) (g1): USD 0.6" in text
        and "SearchFaces: 600 image(s) (g1): USD 0.56" in text
    )
    assert "CreateCollection: 1 call(s), not billed" in text
    assert "600 faces for 2.00 hour(s) = 1.64384 face-months" in text


def test_an_unknown_face_price_makes_the_whole_estimate_unknown_and_says_which(tmp_path):
    from evaluation.calls.prices import FACES_STORED

    table = PriceTable.load()  # the packaged table: face storage known, Group 1 not
    needed = {"CreateCollection": 1, "IndexFaces": 200, "SearchFaces": 200, FACES_STORED: 200}
    estimate = table.estimate_calls(needed, "us-east-1")
    assert estimate.usd is None
    text = estimate.describe()
    assert "unknown cost" in text and "IndexFaces: 200 image(s) (group_1): price unknown" in text
    # the storage alone is known: 200 faces x 1 hour / 730 x 0.00001 (the FAQ's $0.01 per 1,000 a month)
    assert f"USD {200 / 730 * 0.00001:.6g}" in text
    storage_only = table.estimate_calls({FACES_STORED: 1000}, "us-east-1", storage_hours=730.0)
    assert storage_only.usd == pytest.approx(0.01)  # 1,000 face vectors for a month


def test_liveness_reads_add_no_check_and_name_the_checks_already_billed(tmp_path):
    (tmp_path / "p.yaml").write_text(FACE_PRICES)
    estimate = PriceTable.load(tmp_path / "p.yaml").estimate_calls(
        {"GetFaceLivenessSessionResults": 8}, "us-east-1"
    )
    assert estimate.usd == 0.0
    assert "the 8 Face Liveness check(s) read were billed when recorded, not by this run (USD 0.08" in (
        estimate.describe()
    )
    unknown = PriceTable.load().estimate_calls({"GetFaceLivenessSessionResults": 8}, "us-east-1")
    assert unknown.usd == 0.0 and "price unknown" in unknown.describe()


def test_the_collection_is_assumed_to_live_as_long_as_the_run_at_least_an_hour():
    from evaluation.aws.faces.base import storage_hours
    from evaluation.calls.prices import FACES_STORED

    assert storage_hours({"IndexFaces": 200, "SearchFaces": 200, FACES_STORED: 200}, 5.0) == 1.0  # 80 s
    assert storage_hours({"IndexFaces": 18_000, "SearchFaces": 18_000, FACES_STORED: 18_000}, 5.0) == 2.0
    assert storage_hours({"IndexFaces": 10}, None) == 1.0
