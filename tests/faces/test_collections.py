"""The temporary collection never outlives a run, and a collection the harness did not create is never
deleted (by a run or by `faces cleanup`)."""

from __future__ import annotations

import _thread

import pytest

from evaluation.aws.collections import CollectionGuard, collection_name, is_harness_name
from evaluation.calls.backends import make_client
from evaluation.calls.runner import Interrupted
from evaluation.cli import main
from evaluation.options import RunRequest
from evaluation.pipeline import AnalysisOptions, plan_run, run_evaluation


def client_for(server):
    return make_client(region="us-east-1", endpoint_url=server.url)


def request(world, server, tmp_path, **changes):
    return RunRequest(
        dataset=str(world.csv),
        operation="face-verification",
        endpoint_url=server.url,
        region="us-east-1",
        cache=str(tmp_path / "cache.sqlite"),
        progress=False,
        **changes,
    )


def test_a_run_interrupted_mid_way_deletes_its_collection_and_keeps_its_answers(world, server, tmp_path):
    searched = []

    def ctrl_c_after_50_searches(operation, _request):
        if operation == "SearchFaces":
            searched.append(1)
            if len(searched) == 50:
                _thread.interrupt_main()

    world.fake.fault = ctrl_c_after_50_searches
    plan = plan_run(request(world, server, tmp_path))
    with pytest.raises(Interrupted) as stopped:
        run_evaluation(plan, AnalysisOptions.build(objective="fnmr-at-fmr:0.001"))
    assert world.fake.collections == {} and len(world.fake.deleted) == 1
    answered = [o for o in stopped.value.outcomes if o.answered]
    assert 50 <= len(answered) < 200  # every search answered before the stop is stored
    # the rerun indexes again (the collection is gone) and searches only what is missing
    world.fake.fault = None
    before = world.fake.calls["SearchFaces"]
    again = run_evaluation(plan_run(request(world, server, tmp_path)), AnalysisOptions.build())
    searched_again = world.fake.calls["SearchFaces"] - before
    # an answer stored in the instant of the stop may not be marked yet: the cache, not the mark, counts
    assert 200 - len(answered) - 8 <= searched_again <= 200 - len(answered)
    assert again.complete and world.fake.collections == {}


def test_an_error_inside_the_block_deletes_the_collection(world, server):
    client = client_for(server)
    with pytest.raises(RuntimeError), CollectionGuard(client, purpose="verification") as guard:
        assert guard.name in world.fake.collections
        raise RuntimeError("boom")
    assert world.fake.collections == {}


def test_the_deadline_deletes_the_collection_and_interrupts(world, server):
    client = client_for(server)
    interrupted = []
    guard = CollectionGuard(
        client, purpose="verification", max_runtime_s=0.05, interrupt=lambda: interrupted.append(1)
    )
    with guard:
        import time

        deadline = time.monotonic() + 5
        while not interrupted and time.monotonic() < deadline:
            time.sleep(0.01)
        assert guard.deadline_passed and world.fake.collections == {}
    assert interrupted == [1] and world.fake.deleted == [guard.name]


def test_names_say_what_they_are():
    name = collection_name("verification")
    assert name.startswith("rekognition-eval-verification-") and is_harness_name(name)
    assert not is_harness_name("rekognition-eval-production")
    assert not is_harness_name("someone-else-verification-20260101T000000Z-0123abcd")


def test_cleanup_deletes_only_what_the_harness_created(world, server, capsys):
    fake = world.fake
    ours = collection_name("verification")
    fake.add_collection(ours, {"created-by": "rekognition-eval"})
    fake.add_collection("rekognition-eval-production")  # a person's, with our prefix
    fake.add_collection(collection_name("search"))  # our name pattern but no tag: not provably ours
    fake.add_collection("customers")
    assert main(["faces", "cleanup", "--endpoint-url", server.url, "--region", "us-east-1"]) == 0
    assert len(fake.collections) == 4  # listing deletes nothing
    listing = capsys.readouterr().out
    assert ours in listing and "customers" not in listing
    assert main(["faces", "cleanup", "--delete", "--endpoint-url", server.url, "--region", "us-east-1"]) == 0
    assert fake.deleted == [ours]
    assert "rekognition-eval-production" in fake.collections and "customers" in fake.collections


def test_face_search_never_modifies_an_existing_collection(world, server, tmp_path):
    fake = world.fake
    client = client_for(server)
    client.create_collection(CollectionId="customers")
    for path in world.paths[::5]:  # one enrolled image per person, ExternalImageId = identity
        identity = path.name.split("_")[0].replace("p", "person-")
        client.index_faces(
            CollectionId="customers", Image={"Bytes": path.read_bytes()}, ExternalImageId=identity
        )
    probes = tmp_path / "probes.csv"
    lines = ["image,identity"] + [
        f"{p},{p.name.split('_')[0].replace('p', 'person-')}" for p in world.paths[1::5]
    ]
    probes.write_text("\n".join(lines) + "\n")
    fake.calls.clear()
    plan = plan_run(
        RunRequest(
            dataset=str(probes),
            operation="face-search",
            collection="customers",
            endpoint_url=server.url,
            region="us-east-1",
            cache=str(tmp_path / "c.sqlite"),
            progress=False,
        )
    )
    result = run_evaluation(plan, AnalysisOptions.build(objective="fnir-at-fpir:0.01"))
    assert set(fake.calls) <= {"DescribeCollection", "SearchFacesByImage"}
    assert "customers" in fake.collections and len(fake.collections["customers"]["faces"]) == 40
    assert result.summary["evaluation"]["mated_probes"] == 40
