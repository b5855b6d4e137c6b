"""face-verification end to end on the local endpoint: every pair against a brute-force count."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from evaluation.pipeline import evaluate, write_run
from tests.faces.conftest import FaceWorld


def all_pairs(world: FaceWorld) -> tuple[np.ndarray, np.ndarray]:
    """Every unordered pair of images, from the scenario itself: (similarity, same person)."""
    similarity, same = [], []
    for first, second in itertools.combinations(world.digests, 2):
        face = first not in world.fake.no_face and second not in world.fake.no_face
        similarity.append(world.similarity(first, second) if face else 0.0)
        same.append(world.identity[first] == world.identity[second])
    return np.array(similarity), np.array(same)


def brute_force(pairs: tuple[np.ndarray, np.ndarray], threshold: float) -> tuple[int, int, int, int]:
    similarity, same = pairs
    genuine, impostor = int(same.sum()), int((~same).sum())
    false_matches = int(((similarity >= threshold) & ~same).sum())
    false_non_matches = int(((similarity < threshold) & same).sum())
    return genuine, impostor, false_matches, false_non_matches


def run(world: FaceWorld, server, tmp_path, **keywords):
    return evaluate(
        str(world.csv),
        operation="face-verification",
        endpoint_url=server.url,
        region="us-east-1",
        cache=str(tmp_path / "cache.sqlite"),
        progress=False,
        **keywords,
    )


def test_every_pair_with_two_calls_per_image_equals_brute_force(world, server, tmp_path):
    result = run(world, server, tmp_path)
    calls = world.fake.calls
    assert calls["IndexFaces"] == 200 and calls["SearchFaces"] == 200  # 2 calls an image, 19,900 pairs
    assert calls["CreateCollection"] == 1 and calls["DeleteCollection"] == 1
    assert world.fake.collections == {}  # nothing left behind
    table = result.extra_tables["verification"]
    assert len(table) >= 101
    pairs = all_pairs(world)
    for row in table.itertuples():
        genuine, impostor, fm, fnm = brute_force(pairs, row.threshold)
        assert (row.genuine, row.impostor, row.false_matches, row.false_non_matches) == (
            genuine,
            impostor,
            fm,
            fnm,
        )
        assert row.fmr == pytest.approx(fm / impostor) and row.fnmr == pytest.approx(fnm / genuine)
    assert (table["genuine"].iloc[0], table["impostor"].iloc[0]) == (40 * 10, 19900 - 400)
    # the recommendation: the lowest threshold with FMR <= 0.001; 19,500 impostors support it (3,000 needed)
    recommended = result.thresholds["face_verification"]
    feasible = [t for t in sorted(table["threshold"]) if brute_force(pairs, t)[2] / 19500 <= 0.001]
    assert recommended["threshold"] == feasible[0]
    assert recommended["needed"] == 3000 and recommended["status"] == "ok"
    out = write_run(result, tmp_path / "run")
    written = pd.read_csv(out / "verification.csv")
    assert list(written.columns) == [
        "threshold",
        "genuine",
        "impostor",
        "false_matches",
        "false_non_matches",
        "fmr",
        "fnmr",
    ]
    assert (out / "verification_slices.csv").is_file() and (out / "report.html").is_file()
    slices = pd.read_csv(out / "verification_slices.csv")
    assert set(slices["value"]) == {"a", "b"}
    # a rerun calls nothing: every answer is cached under the gallery's fingerprint
    before = sum(world.fake.calls.values())
    again = run(world, server, tmp_path)
    assert sum(world.fake.calls.values()) == before
    pd.testing.assert_frame_equal(again.extra_tables["verification"], table)


def test_too_few_impostors_for_the_target_is_said(world, server, tmp_path):
    result = run(world, server, tmp_path, objective="fnmr-at-fmr:0.0001")
    recommended = result.thresholds["face_verification"]
    assert recommended["needed"] == 30000 and recommended["status"] == "too-few-impostors"
    assert "19,500" in recommended["note"]


def test_images_without_a_face_are_named_and_their_pairs_scored_zero(tmp_path):
    from evaluation.server.protocol import RekognitionProtocolServer
    from tests.faces.conftest import make_world

    world = make_world(tmp_path, people=6, per_person=3, no_face=2)
    with RekognitionProtocolServer(world.fake) as server:
        result = run(world, server, tmp_path)
    assert world.fake.calls["SearchFaces"] == 16  # no search without a face
    no_face = result.extra_tables["no_face"]
    assert len(no_face) == 2
    assert result.summary["evaluation"]["pairs_with_no_face_scored_0"] == 2 * 17 - 1
    pairs = all_pairs(world)
    for row in result.extra_tables["verification"].itertuples():
        assert (row.false_matches, row.false_non_matches) == brute_force(pairs, row.threshold)[2:]
