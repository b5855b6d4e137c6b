"""report.html's face sections: the DET plot against a brute-force FMR/FNMR count, and each operation's
table at the recommended threshold, on runs made against the local Rekognition-protocol endpoint."""

from __future__ import annotations

import html
import re
import uuid

import numpy as np
import pandas as pd
import pytest

from evaluation.pipeline import evaluate, write_run
from evaluation.reports.faces_section import det_points, det_scales, det_svg, html_section, log_floor
from evaluation.server.protocol import RekognitionProtocolServer
from evaluation.stats.biometrics import error_tradeoff
from tests.faces.conftest import make_world
from tests.faces.test_search_liveness_pairs import brute_identification, probes_and_gallery
from tests.faces.test_verification import all_pairs
from tests.support.fake_faces import FakeFaces, liveness_answer


@pytest.fixture(scope="module")
def verification(tmp_path_factory):
    """A face-verification run of 40 people x 5 images (19,900 pairs) and its run folder."""
    root = tmp_path_factory.mktemp("faces")
    world = make_world(root)
    with pytest.MonkeyPatch.context() as env, RekognitionProtocolServer(world.fake) as server:
        for name in (
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
        ):  # the autouse fake credentials, module-wide
            env.setenv(name, "testing")
        env.setenv("AWS_CONFIG_FILE", str(root / "no-config"))
        env.setenv("AWS_SHARED_CREDENTIALS_FILE", str(root / "no-credentials"))
        result = evaluate(
            str(world.csv),
            operation="face-verification",
            endpoint_url=server.url,
            region="us-east-1",
            cache=str(root / "cache.sqlite"),
            progress=False,
        )
    out = write_run(result, root / "run")
    return world, result, out


def section(page: str, name: str) -> str:
    match = re.search(rf'<section id="{name}".*?</section>', page, re.S)
    assert match, f"no section {name}"
    return match.group(0)


def rows_of(fragment: str) -> list[list[str]]:
    """The body rows of the first table in `fragment`, as cell texts."""
    body = re.search(r"<tbody>(.*?)</tbody>", fragment, re.S).group(1)
    return [
        [html.unescape(cell) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row)]
        for row in re.findall(r"<tr>(.*?)</tr>", body)
    ]


def test_det_points_worked_by_hand():
    # genuine 80, 90; impostor 10, 85: accept all (1, 0) up to 10; (0.5, 0) to 80; (0.5, 0.5) to 85;
    # (0, 0.5) to 90; above 90 nothing is accepted (0, 1), drawn at the highest whole number, 100
    points = det_points(error_tradeoff([80.0, 90.0], [10.0, 85.0]))
    assert points["threshold"].tolist() == [10.0, 80.0, 85.0, 90.0, 100.0]
    assert list(zip(points["fmr"], points["fnmr"], strict=True)) == [
        (1.0, 0.0),
        (0.5, 0.0),
        (0.5, 0.5),
        (0.0, 0.5),
        (0.0, 1.0),
    ]


def test_det_points_are_every_operating_point_of_a_brute_force_count(verification):
    world, result, _ = verification
    similarity, same = all_pairs(world)
    genuine, impostor = int(same.sum()), int((~same).sum())
    points = det_points(result.extra_tables["verification"])
    for row in points.itertuples():  # each point's rates, counted pair by pair
        false_matches = int(((similarity >= row.threshold) & ~same).sum())
        false_non_matches = int(((similarity < row.threshold) & same).sum())
        assert (row.fmr, row.fnmr) == (false_matches / impostor, false_non_matches / genuine)
    # and every operating point there is: one per distinct similarity, plus accepting nothing
    expected = {
        (int(((similarity >= t) & ~same).sum()), int(((similarity < t) & same).sum()))
        for t in np.unique(similarity)
    } | {(0, genuine)}
    assert set(zip(points["false_matches"], points["false_non_matches"], strict=True)) == expected
    assert len(points) == len(expected)  # no operating point twice
    assert points["fmr"].is_monotonic_decreasing and points["fnmr"].is_monotonic_increasing


def test_the_svg_draws_those_points_and_marks_the_recommendation(verification):
    _, result, _ = verification
    table = result.extra_tables["verification"]
    recommended = result.thresholds["face_verification"]
    svg = det_svg(table, recommended, parameter=recommended["parameter"])
    points = det_points(table)
    x, y = det_scales(int(table["genuine"].iloc[0]), int(table["impostor"].iloc[0]))
    vertices = re.search(r'<polyline class="det" points="([^"]+)"', svg).group(1).split()
    assert len(vertices) == len(points)
    for vertex, fmr, fnmr in zip(vertices, points["fmr"], points["fnmr"], strict=True):
        px, py = map(float, vertex.split(","))
        assert x.invert(px) == pytest.approx(fmr, rel=1e-3) and y.invert(py) == pytest.approx(fnmr, rel=1e-3)
    cx, cy = map(float, re.search(r'<circle class="recommended" cx="([\d.]+)" cy="([\d.]+)"', svg).groups())
    assert x.invert(cx) == pytest.approx(recommended["fmr"], rel=1e-3, abs=0)
    assert y.invert(cy) == pytest.approx(recommended["fnmr"], rel=1e-3)
    target_x = float(re.search(r'<line class="target" x1="([\d.]+)"', svg).group(1))
    assert x.invert(target_x) == pytest.approx(0.001, rel=1e-3)
    # both axes are log: a decade is the same length wherever it is
    assert x(0.01) - x(0.001) == pytest.approx(x(0.1) - x(0.01))
    # a rate of 0 sits one decade below the smallest measurable one (1 / 19,500 impostors -> 1e-6)
    assert log_floor(19500) == pytest.approx(1e-6) and x.invert(x(0.0)) == 0.0


def test_report_html_has_the_verification_section_with_the_recommendation_per_group(verification):
    _, result, out = verification
    page = (out / "report.html").read_text(encoding="utf-8")
    part = section(page, "face-verification")
    assert "<svg" in part and "<script" not in part
    assert re.search(r"\son\w+=", part) is None  # no event handler: the policy runs only hashed scripts
    recommended = result.thresholds["face_verification"]
    rows = rows_of(part.split("<h3>At the recommended threshold</h3>")[1])
    assert rows[0][0] == "all"
    assert rows[0][1:4] == ["400", "19,500", f"{recommended['threshold']:.4g}"]
    assert rows[0][4] == f"{recommended['fmr']:.4g}" and rows[0][5] == f"{recommended['fnmr']:.4g}"
    assert rows[0][6] == "3,000" and rows[0][7] == "ok"
    slices = pd.read_csv(out / "verification_slices.csv")
    by_group = {row[0]: row for row in rows[1:]}
    assert set(by_group) == {f"group = {value}" for value in slices["value"]}
    for record in slices.to_dict("records"):
        row = by_group[f"group = {record['value']}"]
        assert row[1:3] == [f"{record['genuine']:,}", f"{record['impostor']:,}"]
        assert row[7] == record["status"] and row[6] == f"{record['needed']:,}"
        assert row[8] == f"{record['fmr_at_overall']:.4g}" and row[9] == f"{record['fnmr_at_overall']:.4g}"
    # the page keeps its policy: scripts only by hash, nothing fetched
    policy = re.search(r'Content-Security-Policy" content="([^"]+)"', page).group(1)
    assert "default-src 'none'" in policy and "'unsafe-inline'" not in policy.split("script-src")[1]


def test_face_search_section_shows_identification_csv_at_the_recommendation(tmp_path):
    world = make_world(tmp_path)
    gallery, probes = probes_and_gallery(world, tmp_path)
    with RekognitionProtocolServer(world.fake) as server:
        result = evaluate(
            str(probes),
            operation="face-search",
            gallery=str(gallery),
            endpoint_url=server.url,
            region="us-east-1",
            cache=str(tmp_path / "c.sqlite"),
            progress=False,
            objective="fnir-at-fpir:0.1",
        )
    part = html_section(result)
    assert '<section id="face-search"' in part and "face-verification" not in part
    recommended = result.thresholds["face_search"]
    threshold = recommended["threshold"]
    identified, false_positives = brute_identification(world, threshold)
    first = rows_of(part.split("at the recommended FaceMatchThreshold</h3>")[1])[0]
    assert first == [
        f"{threshold:.4g}",
        f"{identified / 30:.4g}",
        f"{false_positives / 10:.4g}",
        f"{1 - identified / 30:.4g}",
        str(identified),
        str(false_positives),
    ]
    assert "status too-few-impostors" in part  # 10 probes of people not enrolled, 30 needed


def test_liveness_section_by_attack_type_worked_by_hand(tmp_path):
    fake = FakeFaces(lambda a, b: 0.0)
    rows = [(True, "", 95.0), (True, "", 80.0), (True, "", 60.0), (True, "", 30.0)]
    rows += [(False, "photo", 70.0), (False, "photo", 20.0), (False, "mask", 85.0), (False, "mask", 10.0)]
    lines = ["session_id,live,attack_type"]
    for number, (live, attack, confidence) in enumerate(rows):
        session = str(uuid.UUID(int=number + 1))
        fake.sessions[session] = liveness_answer(session, confidence)
        lines.append(f"{session},{str(live).lower()},{attack}")
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
    out = write_run(result, tmp_path / "run")
    part = section((out / "report.html").read_text(encoding="utf-8"), "liveness")
    # at the recommended 21: no live person refused (30 is the lowest), attacks 70 and 85 accepted
    overall, by_attack = part.split("<h3>By attack type</h3>")
    assert rows_of(overall.split("<h3>At the recommended threshold</h3>")[1]) == [
        ["21", "4", "0", "0", "4", "2", "0.5", "0.5"]
    ]
    assert rows_of(by_attack) == [["mask", "2", "1", "0.5"], ["photo", "2", "1", "0.5"]]


def test_no_face_section_for_other_operations(tmp_path):
    from tests.support.runs import synthetic_result

    result = synthetic_result(None, labels=["Cat", "Dog"], n_images=40)
    assert html_section(result) == ""


def test_det_svg_of_a_table_without_impostors_is_empty_not_an_error():
    assert det_svg(error_tradeoff([90.0, 95.0], []), {"threshold": None}) == ""


def test_the_det_plot_shows_in_a_real_browser_without_a_policy_violation(verification):
    from tests.reports import test_browser

    if test_browser.MISSING:
        pytest.skip(test_browser.MISSING)
    _, _, out = verification
    with test_browser.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=test_browser.find_chromium(), args=["--no-sandbox"]
        )
        try:
            tab = test_browser.Tab(chromium.new_page(viewport={"width": 1200, "height": 900}))
            tab.open(out / "report.html")
            box = tab.page.locator("#face-verification svg.det").bounding_box()
            dot = tab.page.locator("#face-verification circle.recommended").bounding_box()
            title = tab.evaluate(
                "document.querySelector('#face-verification circle.recommended title').textContent"
            )
        finally:
            chromium.close()
    assert box and box["width"] > 400 and box["height"] > 300
    assert dot and box["x"] <= dot["x"] <= box["x"] + box["width"]
    assert title.startswith("recommended FaceMatchThreshold")
    assert tab.errors == []  # a blocked inline script or style would be reported here
    assert all(url.startswith("file:") or url.startswith("data:") for url in tab.requests)
