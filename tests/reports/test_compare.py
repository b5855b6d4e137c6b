"""`compare RUN_A RUN_B`: two model versions on the same dataset, side by side; other datasets refused."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from evaluation.errors import UserError
from evaluation.operations.base import markdown_text
from evaluation.reports.compare import RunFolder, check_comparable, compare_labels, summarise
from evaluation.reports.recommended import confidence_text
from evaluation.server.protocol import RekognitionProtocolServer
from tests.support.cli import run_cli
from tests.support.fake_rekognition import FakeRekognition
from tests.support.reports import embedded, make_run
from tests.support.runs import build_dataset


def read_labels(run: Path) -> pd.DataFrame:
    return pd.read_csv(run / "labels.csv", keep_default_na=False, na_values=[""]).set_index("label")


def test_compare_writes_both_runs_side_by_side_and_what_changed(tmp_path: Path, two_runs, capsys) -> None:
    run_a, run_b = two_runs
    out = tmp_path / "cmp"
    assert run_cli("compare", str(run_a), str(run_b), "--out", str(out)) == 0
    printed = capsys.readouterr()
    assert "compare.html" in printed.out and "5 label(s) in both runs" in printed.out

    table = pd.read_csv(out / "compare.csv", keep_default_na=False, na_values=[""]).set_index("label")
    a, b = read_labels(run_a), read_labels(run_b)
    assert list(table.index) == list(a.index)
    for side, labels in (("a", a), ("b", b)):
        for name in ("support", "ap", "threshold", "precision", "recall", "f1", "status"):
            assert table[f"{name}_{side}"].tolist() == labels[name].tolist(), (side, name)
    np.testing.assert_allclose(table["ap_change"], b["ap"] - a["ap"])
    np.testing.assert_allclose(table["threshold_change"], b["threshold"] - a["threshold"])
    # the MinConfidence to use is each run's thresholds.yaml's, every digit
    for side, run in (("a", run_a), ("b", run_b)):
        document = yaml.safe_load((run / "thresholds.yaml").read_text())["labels"]
        assert table[f"min_confidence_{side}"].tolist() == [
            document[name]["min_confidence"] for name in table.index
        ]
    # a surer Cat moves its recommended threshold up; the unchanged Dog and Car do not move at all
    assert table.loc["Cat", "threshold_change"] > 0 and "MinConfidence" in table.loc["Cat", "change"]
    for unchanged in ("Dog", "Car"):
        assert table.loc[unchanged, "change"] == "no change" and table.loc[unchanged, "verdict"] == "same"
    for label, row in table.iterrows():
        expected = (
            "better in B" if row.ap_change >= 0.01 else "better in A" if row.ap_change <= -0.01 else "same"
        )
        assert row.verdict == expected, label

    markdown = (out / "compare.md").read_text()
    assert "rekognition 3.0 (A) vs rekognition 3.1 (B)" in markdown and "| Cat |" in markdown
    cat = table.loc["Cat"]
    use_a, use_b = confidence_text(cat["min_confidence_a"]), confidence_text(cat["min_confidence_b"])
    assert f"| {use_a} | {use_b} |" in markdown and f"MinConfidence {use_a} → {use_b}" in cat["change"]
    page = (out / "compare.html").read_text()
    data = embedded(page, "compare-data")
    assert [row["label"] for row in data["rows"]] == list(a.index)
    assert [row["min_confidence_b"] for row in data["rows"]] == table["min_confidence_b"].tolist()
    assert data["summary"]["compared"] == 5 and data["warnings"] == []


def test_runs_on_other_images_are_refused_with_how_many_differ(tmp_path: Path, two_runs, capsys) -> None:
    run_a, _ = two_runs
    other = tmp_path / "other"
    other.mkdir()
    fake = FakeRekognition()
    csv, _ = build_dataset(other, fake, count=30)
    with RekognitionProtocolServer(fake) as server:
        run_c = make_run(csv, server.url, tmp_path / "c", tmp_path / "c.sqlite")
    assert run_cli("compare", str(run_a), str(run_c), "--out", str(tmp_path / "x")) == 2
    err = capsys.readouterr().err.strip()
    # C's 30 images are byte for byte A's first 30 (the same seeds), under other paths: matched by content,
    # A has 210 images C does not
    assert (
        "not runs on the same dataset: 210 of 240 images differ, matched by content (the sha256 of each "
        "image's bytes) (210 only in A, e.g. " in err
    )
    assert "img0030.png" in err and "; 0 only in B)" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "x").exists()


def test_the_same_dataset_copied_to_another_folder_is_the_same_dataset(
    tmp_path: Path, fake_rekognition: FakeRekognition, endpoint, capsys
) -> None:
    csv, _ = build_dataset(tmp_path, fake_rekognition)
    run_a = make_run(csv, endpoint.url, tmp_path / "a", tmp_path / "a.sqlite")
    copy = tmp_path / "copy"
    copy.mkdir()
    shutil.copytree(tmp_path / "images", copy / "images")
    shutil.copy(csv, copy / "data.csv")
    # asked from MinConfidence 50 this time: other cache keys, the same images
    run_b = make_run(
        copy / "data.csv", endpoint.url, tmp_path / "b", tmp_path / "b.sqlite", "--min-confidence", "50"
    )
    images_a = pd.read_csv(run_a / "images.csv", dtype=str)
    images_b = pd.read_csv(run_b / "images.csv", dtype=str)
    assert set(images_a["image"]).isdisjoint(images_b["image"])  # no path in common
    assert set(images_a["cache_key"]).isdisjoint(images_b["cache_key"])
    assert run_cli("compare", str(run_a), str(run_b), "--out", str(tmp_path / "cmp")) == 0
    err = capsys.readouterr().err
    warnings = (tmp_path / "cmp" / "compare.md").read_text()
    for text in (
        "images matched by content (the sha256 of each image's bytes), not by path: A read them under "
        f"{tmp_path}/images/, B under {copy}/images/",
        "the runs asked with different MinConfidence (0 in A, 50 in B)",
        "run A was evaluated from confidence 0, run B from 50: below 50 only A has answers, so AP (which "
        "sums over every threshold evaluated) and any MinConfidence below 50 are not comparable",
    ):
        assert markdown_text(text) in warnings and text in err  # compare.md escapes what it quotes
    assert "Evaluated from</dt><dd>confidence 50</dd>" in (tmp_path / "cmp" / "compare.html").read_text()


def images_table(paths: list[str], truth: list[str], **columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"image": paths, "labels": truth, "status": ["called"] * len(paths), **columns})


def by_hand(tmp_path: Path, name: str, images: pd.DataFrame) -> RunFolder:
    labels = pd.DataFrame({"label": ["A"], "support": [1], "ap": [1.0], "threshold": [50.0]})
    return RunFolder(path=tmp_path / name, summary={"backend": name}, labels=labels, images=images)


def test_images_are_matched_by_content_then_by_path(tmp_path: Path) -> None:
    names = ["x.png", "y.png", "twin1.png", "twin2.png", "bad.png"]
    paths_a = [f"/data/set/{name}" for name in names]
    paths_b = [f"/copy/set/{name}" for name in names]
    # twin1 and twin2 are one content under two names; bad.png was rejected, so it has no image_id
    ids = ["sha256:x", "sha256:y+convert", "sha256:t", "sha256:t", ""]
    truth = ['["A"]', "", '["A"]', "", ""]
    a = by_hand(tmp_path, "a", images_table(paths_a, truth, image_id=ids))
    # B: an older images.csv (labels joined by ";"), and y.png read as it was (no conversion)
    plain = [identity.split("+")[0] for identity in ids]
    b = by_hand(tmp_path, "b", images_table(paths_b, ["A", "", "A", "", ""], image_id=plain))
    warnings = check_comparable(a, b)
    assert warnings[0].startswith("images matched by content (the sha256 of each image's bytes), not by path")
    # the same content with other ground truth is refused, naming the image
    other = by_hand(tmp_path, "c", images_table(paths_b, ["A", "A", "A", "", ""], image_id=ids))
    with pytest.raises(
        UserError, match=r"different ground truth for 1 of 5 \(e\.g\. /data/set/y\.png: '' in A"
    ):
        check_comparable(a, other)
    # without image_id or cache_key (runs written before), by path: a copy is refused, with what to do
    old_a = by_hand(tmp_path, "d", images_table(paths_a, truth))
    old_b = by_hand(tmp_path, "e", images_table(paths_b, truth))
    with pytest.raises(UserError, match="10 of 10 images differ, matched by path") as refused:
        check_comparable(old_a, old_b)
    assert "same file names in other folders" in str(refused.value)
    assert check_comparable(old_a, by_hand(tmp_path, "f", images_table(paths_a, truth))) == []


def test_same_images_with_other_ground_truth_are_refused(tmp_path: Path, two_runs) -> None:
    run_a, run_b = two_runs
    edited = tmp_path / "edited"
    shutil.copytree(run_b, edited)
    images = pd.read_csv(edited / "images.csv", dtype=str, keep_default_na=False)
    images.loc[:2, "labels"] = "Zebra"
    images.to_csv(edited / "images.csv", index=False)
    with pytest.raises(UserError, match="different ground truth for 3 of 240"):
        check_comparable(RunFolder.load(run_a), RunFolder.load(edited))
    with pytest.raises(UserError, match="same folder"):
        check_comparable(RunFolder.load(run_a), RunFolder.load(run_a))
    with pytest.raises(UserError, match="not a run folder"):
        RunFolder.load(tmp_path)


def test_other_analysis_options_are_a_warning_not_an_error(tmp_path: Path, two_runs, capsys) -> None:
    run_a, run_b = two_runs
    other = tmp_path / "other-objective"
    assert run_cli("report", str(run_b), "--objective", "recall-at-precision:0.9", "--out", str(other)) == 0
    capsys.readouterr()
    assert run_cli("compare", str(run_a), str(other), "--out", str(tmp_path / "cmp")) == 0
    err = capsys.readouterr().err
    assert "different objective" in err
    assert "different objective" in (tmp_path / "cmp" / "compare.md").read_text()


def folder(tmp_path: Path, name: str, rows: list[dict], backend: str = "rekognition") -> RunFolder:
    """A run folder's tables, written by hand: each case below is worked out on paper."""
    labels = pd.DataFrame(
        rows, columns=["label", "support", "ap", "threshold", "precision", "recall", "f1", "status"]
    )
    return RunFolder(
        path=tmp_path / name,
        summary={"backend": backend, "model_versions": [name]},
        labels=labels,
        images=pd.DataFrame({"image": ["x"], "labels": ["A"], "status": ["called"]}),
    )


def test_verdicts_and_changes_worked_out_by_hand(tmp_path: Path) -> None:
    nan = math.nan
    a = folder(
        tmp_path,
        "a",
        [
            {
                "label": "Up",
                "support": 10,
                "ap": 0.50,
                "threshold": 60.0,
                "precision": 0.8,
                "recall": 0.5,
                "f1": 0.6,
                "status": "ok",
            },
            {
                "label": "Tiny",
                "support": 10,
                "ap": 0.50,
                "threshold": 60.0,
                "precision": 0.8,
                "recall": 0.5,
                "f1": 0.6,
                "status": "ok",
            },
            {
                "label": "Gone",
                "support": 3,
                "ap": 0.9,
                "threshold": 70.0,
                "precision": 1.0,
                "recall": 0.7,
                "f1": 0.8,
                "status": "low-support",
            },
            {
                "label": "Lost",
                "support": 10,
                "ap": 0.4,
                "threshold": 50.0,
                "precision": 0.5,
                "recall": 0.5,
                "f1": 0.5,
                "status": "ok",
            },
        ],
    )
    b = folder(
        tmp_path,
        "b",
        [
            {
                "label": "Up",
                "support": 10,
                "ap": 0.62,
                "threshold": 55.5,
                "precision": 0.9,
                "recall": 0.6,
                "f1": 0.7,
                "status": "ok",
            },
            {
                "label": "Tiny",
                "support": 10,
                "ap": 0.505,
                "threshold": 60.001,
                "precision": 0.8,
                "recall": 0.5,
                "f1": 0.6,
                "status": "ok",
            },
            {
                "label": "Lost",
                "support": 10,
                "ap": 0.3,
                "threshold": nan,
                "precision": nan,
                "recall": nan,
                "f1": nan,
                "status": "unreachable",
            },
            {
                "label": "New",
                "support": 4,
                "ap": 0.7,
                "threshold": 40.0,
                "precision": 0.7,
                "recall": 0.7,
                "f1": 0.7,
                "status": "low-support",
            },
        ],
    )
    table = compare_labels(a, b).set_index("label")
    assert list(table.index) == ["Up", "Tiny", "Gone", "Lost", "New"]
    assert table.loc["Up", "verdict"] == "better in B"
    assert table.loc["Up", "change"] == "AP +0.120; MinConfidence 60 → 55.5 (-4.5)"
    assert table.loc["Tiny", "verdict"] == "same"  # +0.005 AP is within the tolerance
    assert table.loc["Tiny", "change"] == "AP +0.005"  # and a 0.001 move of the threshold is no news
    assert table.loc["Gone", "verdict"] == table.loc["Gone", "change"] == "only in A"
    assert table.loc["New", "verdict"] == "only in B"
    assert table.loc["Lost", "verdict"] == "better in A"
    assert table.loc["Lost", "change"] == "AP -0.100; MinConfidence 50 → –; status ok → unreachable"
    assert summarise(table.reset_index()) == {
        "labels": 5,
        "compared": 3,
        "better_in_b": 1,
        "better_in_a": 1,
        "same": 1,
        "median_ap_change": 0.005,
        "thresholds_raised": 0,
        "thresholds_lowered": 1,
        "status_changed": 1,
    }
    warnings = check_comparable(a, b)
    assert "1 label(s) only in A: Gone" in warnings and "1 label(s) only in B: New" in warnings
