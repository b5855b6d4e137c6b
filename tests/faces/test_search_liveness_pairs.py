"""face-search, liveness and explicit pairs end to end on the local endpoint, against brute force or
numbers worked by hand; and the cost of a face run in --dry-run and --max-cost."""

from __future__ import annotations

import json
import uuid

import pytest

from evaluation.errors import UserError
from evaluation.options import RunRequest
from evaluation.pipeline import AnalysisOptions, evaluate, plan_run
from tests.support.fake_faces import liveness_answer


def probes_and_gallery(world, tmp_path, enrolled_people=30):
    """Gallery: 2 images of each of the first 30 people; probes: 1 other image of every one of the 40."""
    gallery, probes = ["image,identity"], ["image,identity,group"]
    for index, (path, digest) in enumerate(zip(world.paths, world.digests, strict=True)):
        person, shot = divmod(index, 5)
        identity = world.identity[digest]
        if person < enrolled_people and shot < 2:
            gallery.append(f"{path},{identity}")
        elif shot == 4:
            who = identity if person < enrolled_people else "unknown"
            probes.append(f"{path},{who},{world.group[digest]}")
    (tmp_path / "gallery.csv").write_text("\n".join(gallery) + "\n")
    (tmp_path / "probes.csv").write_text("\n".join(probes) + "\n")
    return tmp_path / "gallery.csv", tmp_path / "probes.csv"


def brute_identification(world, threshold, enrolled_people=30):
    gallery = [d for i, d in enumerate(world.digests) if i // 5 < enrolled_people and i % 5 < 2]
    identified = false_positives = 0
    for index, digest in enumerate(world.digests):
        if index % 5 != 4:
            continue
        best = max(gallery, key=lambda other: world.similarity(digest, other))
        score = world.similarity(digest, best)
        if index // 5 < enrolled_people:
            identified += world.identity[best] == world.identity[digest] and score >= threshold
        else:
            false_positives += score >= threshold
    return identified, false_positives


@pytest.mark.parametrize("users", [False, True])
def test_face_search_rates_equal_brute_force(world, server, tmp_path, users):
    gallery, probes = probes_and_gallery(world, tmp_path)
    result = evaluate(
        str(probes),
        operation="face-search",
        gallery=str(gallery),
        users=users,
        endpoint_url=server.url,
        region="us-east-1",
        cache=str(tmp_path / "c.sqlite"),
        progress=False,
        objective="fnir-at-fpir:0.1",
    )
    calls = world.fake.calls
    assert calls["IndexFaces"] == 60 and world.fake.collections == {}
    assert calls["SearchUsersByImage" if users else "SearchFacesByImage"] == 40
    if users:
        assert calls["CreateUser"] == 30 and calls["AssociateFaces"] == 30
    table = result.extra_tables["identification"]
    assert (table["mated"].iloc[0], table["non_mated"].iloc[0]) == (30, 10)
    for row in table.itertuples():
        identified, false_positives = brute_identification(world, row.threshold)
        assert (row.identified, row.false_positives) == (identified, false_positives)
        assert row.rank1_rate == pytest.approx(identified / 30)
        assert row.fpir == pytest.approx(false_positives / 10)
    recommended = result.thresholds["face_search"]
    lowest = min(t for t in table["threshold"] if brute_identification(world, t)[1] / 10 <= 0.1)
    assert recommended["threshold"] == lowest
    assert recommended["status"] == "too-few-impostors" and recommended["needed"] == 30  # 10 unknown probes


def test_liveness_apcer_bpcer_by_attack_type_worked_by_hand(tmp_path):
    from evaluation.server.protocol import RekognitionProtocolServer
    from tests.support.fake_faces import FakeFaces

    fake = FakeFaces(lambda a, b: 0.0)
    rows = [  # (live, attack type, confidence)
        (True, "", 95.0),
        (True, "", 80.0),
        (True, "", 60.0),
        (True, "", 30.0),
        (False, "photo", 70.0),
        (False, "photo", 20.0),
        (False, "mask", 85.0),
        (False, "mask", 10.0),
    ]
    lines = ["session_id,live,attack_type"]
    for number, (live, attack, confidence) in enumerate(rows):
        session = str(uuid.UUID(int=number + 1))
        fake.sessions[session] = liveness_answer(session, confidence)
        lines.append(f"{session},{str(live).lower()},{attack}")
    expired = str(uuid.UUID(int=99))
    fake.sessions[expired] = liveness_answer(expired, None, status="EXPIRED")
    lines.append(f"{expired},true,")
    (tmp_path / "sessions.csv").write_text("\n".join(lines) + "\n")
    with RekognitionProtocolServer(fake) as server:
        result = evaluate(
            str(tmp_path / "sessions.csv"),
            operation="liveness",
            endpoint_url=server.url,
            region="us-east-1",
            cache=str(tmp_path / "c.sqlite"),
            progress=False,
            objective="bpcer-at-apcer:0.5",
        )
    table = result.extra_tables["liveness"].set_index("threshold")
    # at 60: attacks accepted 70 and 85 (2 of 4), live refused 30 (1 of 4); worst type 1 of 2 each
    assert table.loc[60.0, ["attacks_accepted", "bona_fide_rejected"]].tolist() == [2, 1]
    assert table.loc[60.0, "apcer"] == 0.5 and table.loc[60.0, "bpcer"] == 0.25
    assert table.loc[71.0, "apcer_worst_type"] == 0.5  # the mask at 85 is still accepted
    assert table.loc[86.0, "apcer_worst_type"] == 0.0
    # worst-type APCER <= 0.5 needs at most one photo (20, 70) and one mask (10, 85) accepted: above 20;
    # the lowest such threshold in the table is the whole number 21, where no live person is refused
    chosen = result.thresholds["liveness"]
    assert chosen["threshold"] == 21.0 and chosen["bpcer"] == 0.0 and chosen["apcer_worst_type"] == 0.5
    assert all(table.loc[t, "apcer_worst_type"] > 0.5 for t in table.index if t < 21.0)
    by_attack = result.extra_tables["liveness_by_attack"]
    assert set(by_attack["attack_type"]) == {"photo", "mask"}
    assert result.summary["evaluation"]["not_succeeded"] == 1
    stored = json.dumps(list(result.extra_tables["liveness_unjudged"]["name"]))
    assert expired in stored


def test_saved_liveness_answers_need_no_call_and_keep_no_image_bytes(tmp_path):
    from evaluation.calls.cache import ResponseCache

    session = str(uuid.UUID(int=7))
    (tmp_path / "s.csv").write_text(f"session_id,live\n{session},true\n")
    (tmp_path / "saved.jsonl").write_text(json.dumps(liveness_answer(session, 91.5)) + "\n")
    result = evaluate(
        str(tmp_path / "s.csv"),
        operation="liveness",
        backend="replay",
        liveness_answers=str(tmp_path / "saved.jsonl"),
        cache=str(tmp_path / "c.sqlite"),
        progress=False,
    )
    assert result.complete
    with ResponseCache(tmp_path / "c.sqlite") as store:
        stored = store.get(result.images["cache_key"][0]).response
    assert "Bytes" not in stored["ReferenceImage"] and stored["ReferenceImage"]["BytesLength"] == 8
    assert stored["AuditImages"][0]["S3Object"]["Name"].startswith("audit/")


def test_explicit_pairs_use_compare_faces_once_per_pair_and_cache_by_both_images(world, server, tmp_path):
    lines = ["image_a,image_b,same"]
    expected = []
    for index in range(0, 60, 3):
        first, second = world.paths[index], world.paths[index + 1 if index % 2 else index + 7]
        a, b = world.digests[index], world.digests[index + 1 if index % 2 else index + 7]
        same = world.identity[a] == world.identity[b]
        lines.append(f"{first},{second},{str(same).lower()}")
        expected.append((world.similarity(a, b), same))
    (tmp_path / "pairs.csv").write_text("\n".join(lines) + "\n")
    keywords = dict(
        operation="face-verification",
        endpoint_url=server.url,
        region="us-east-1",
        cache=str(tmp_path / "c.sqlite"),
        progress=False,
    )
    result = evaluate(str(tmp_path / "pairs.csv"), **keywords)
    assert world.fake.calls["CompareFaces"] == len(expected) and "IndexFaces" not in world.fake.calls
    table = result.extra_tables["verification"]
    for row in table.itertuples():
        assert row.false_matches == sum(s >= row.threshold and not same for s, same in expected)
        assert row.false_non_matches == sum(s < row.threshold and same for s, same in expected)
    evaluate(str(tmp_path / "pairs.csv"), **keywords)
    assert world.fake.calls["CompareFaces"] == len(expected)  # cached by both images and the request


def test_dry_run_and_max_cost_count_every_api(world, tmp_path):
    prices = tmp_path / "prices.yaml"
    prices.write_text(
        "operations: {IndexFaces: g1, SearchFaces: g1, SearchFacesByImage: g1, CompareFaces: g1}\n"
        "groups: {g1: {us-east-1: [{up_to_images: null, usd_per_image: 0.001}]}}\n"
        "faces: {face_storage_month: {us-east-1: 0.00001}}\n"
        "free_operations: [CreateCollection]\n"
    )
    request = RunRequest(
        dataset=str(world.csv),
        operation="face-verification",
        region="us-east-1",
        price_table=str(prices),
        cache=str(tmp_path / "c.sqlite"),
        progress=False,
        max_cost=0.3,
    )
    from botocore.stub import Stubber

    from evaluation.calls.backends import make_client

    client = make_client(region="us-east-1")
    with Stubber(client):  # no call may be made while planning
        plan = plan_run(request, client=client)
    assert plan.backend.needed["IndexFaces"] == 200 and plan.backend.needed["SearchFaces"] == 200
    assert plan.estimate.usd == pytest.approx(0.4 + 200 * 0.00001 / 730, rel=1e-6)
    assert "200 IndexFaces" in plan.describe()
    with pytest.raises(UserError, match="more than --max-cost"):
        plan.check_cost()
    unknown = plan_run(request.but(price_table=None), client=client)
    with pytest.raises(UserError, match="cannot check --max-cost"):
        unknown.check_cost()


def test_rate_objective_is_refused_for_label_operations(tmp_path):
    options = AnalysisOptions.build(objective="fnmr-at-fmr:0.01")
    assert options.objective.kind == "fnmr-at-fmr"
    with pytest.raises(UserError, match="certain applies"):
        AnalysisOptions.build(objective="fnmr-at-fmr:0.01:certain")


def test_dry_run_counts_face_search_pairs_and_liveness_by_hand(world, tmp_path):
    """face-search: IndexFaces per gallery image + SearchFacesByImage per probe + the gallery's storage;
    explicit pairs: CompareFaces per pair; liveness: reads only (the checks were billed when recorded)."""
    from botocore.stub import Stubber

    from evaluation.calls.backends import make_client

    prices = tmp_path / "prices.yaml"
    prices.write_text(
        "operations: {IndexFaces: g1, SearchFacesByImage: g1, CompareFaces: g1}\n"
        "groups: {g1: {us-east-1: [{up_to_images: 50, usd_per_image: 0.002},"
        " {up_to_images: null, usd_per_image: 0.001}]}}\n"
        "faces: {face_storage_month: {us-east-1: 0.00001}, face_liveness_check: {us-east-1: 0.015}}\n"
        "free_operations: [CreateCollection, GetFaceLivenessSessionResults]\n"
    )
    gallery, probes = probes_and_gallery(world, tmp_path)
    lines = ["image_a,image_b,same"] + [
        f"{world.paths[i]},{world.paths[i + 1]},{str(i % 5 != 4).lower()}" for i in range(0, 30, 2)
    ]
    (tmp_path / "pairs.csv").write_text("\n".join(lines) + "\n")
    sessions = [str(uuid.UUID(int=n + 1)) for n in range(6)]
    (tmp_path / "sessions.csv").write_text("session_id,live\n" + "".join(f"{s},true\n" for s in sessions))
    client = make_client(region="us-east-1")
    base = RunRequest(
        dataset=str(probes),
        operation="face-search",
        gallery=str(gallery),
        region="us-east-1",
        price_table=str(prices),
        cache=str(tmp_path / "c.sqlite"),
        progress=False,
        tps=5,
    )
    with Stubber(client):  # planning makes no call
        search = plan_run(base, client=client)
        pairs = plan_run(
            base.but(dataset=str(tmp_path / "pairs.csv"), operation="face-verification", gallery=None),
            client=client,
        )
        liveness = plan_run(
            base.but(dataset=str(tmp_path / "sessions.csv"), operation="liveness", gallery=None),
            client=client,
        )
    # face-search: 60 gallery images indexed (50 x 0.002 + 10 x 0.001 = 0.11), then 40 probes searched in
    # the same Group 1 month (40 x 0.001 = 0.04); 60 faces stored for 1 hour (101 calls at 5/s is 20 s)
    assert search.backend.needed["IndexFaces"] == 60 and search.backend.needed["SearchFacesByImage"] == 40
    assert search.estimate.usd == pytest.approx(round(0.11 + 0.04 + 60 / 730 * 0.00001, 6))
    # explicit pairs: 15 CompareFaces, no collection (15 x 0.002)
    assert pairs.backend.needed == {"CompareFaces": 15}
    assert pairs.estimate.usd == pytest.approx(0.03)
    # liveness: 6 reads, free; the 6 checks (6 x 0.015 = 0.09) were billed when recorded and are named
    assert liveness.estimate.usd == 0.0
    assert "6 Face Liveness check(s) read were billed when recorded" in liveness.describe()
    assert "USD 0.09" in liveness.describe()
    with pytest.raises(UserError, match="more than --max-cost"):
        plan_run(base.but(max_cost=0.1), client=client).check_cost()
    plan_run(base.but(max_cost=0.2), client=client).check_cost()  # 0.15 fits
