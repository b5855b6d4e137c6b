"""No absolute local path (a home folder) in summary.json, report.html or report.md unless asked: paths
are shown relative to the dataset; images.csv and run.json keep what re-analysis needs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evaluation.cli import main
from evaluation.pipeline import reanalyse
from tests.support.runs import build_dataset


@pytest.fixture
def home_dataset(tmp_path, fake_rekognition):
    home = tmp_path / "home" / "alice-secret" / "pets"
    home.mkdir(parents=True)
    csv, _ = build_dataset(home, fake_rekognition, count=30)
    (home / "images" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    lines = csv.read_text().splitlines()
    lines.insert(5, ",Cat")  # a bad line, which names the file
    lines += ["images/missing.png,Cat", "images/broken.png,Dog"]
    csv.write_text("\n".join(lines) + "\n")
    (home / "map.yaml").write_text("Cat: Cat\n")
    return csv


def run(csv: Path, endpoint, out: Path, *extra: str) -> int:
    return main(
        [
            "--quiet",
            "run",
            "--dataset",
            str(csv),
            "--endpoint-url",
            endpoint.url,
            "--cache",
            str(csv.parent.resolve() / "c.sqlite"),
            "--out",
            str(out),
            "--skip-bad-lines",
            "--label-map",
            str(csv.parent.resolve() / "map.yaml"),
            "--min-support",
            "1",
            *extra,
        ]
    )


def test_summary_and_reports_hold_no_absolute_path(home_dataset, endpoint, tmp_path):
    out = tmp_path / "run"
    assert run(home_dataset, endpoint, out) == 1  # two images not evaluated
    secret = "alice-secret"
    for name in ("summary.json", "report.html", "report.md"):
        text = (out / name).read_text(encoding="utf-8")
        assert secret not in text, name
        assert str(tmp_path) not in text, name
    summary = json.loads((out / "summary.json").read_text())
    assert summary["dataset"]["source"] == "data.csv"
    assert summary["dataset"]["paths"] == "relative to the dataset's folder"
    assert sorted(e["image"] for e in summary["errors"]) == ["images/broken.png", "images/missing.png"]
    assert any(line.startswith("data.csv:6") for line in summary["dataset"]["bad_lines"])
    assert summary["label_map"] == "map.yaml"
    # re-analysis still finds everything: images.csv and run.json keep the real paths
    assert str(home_dataset.parent) in (out / "images.csv").read_text()
    again = reanalyse(out)
    assert again.summary["errors"] == summary["errors"]


def test_a_dataset_given_relative_to_the_working_folder(home_dataset, endpoint, tmp_path, monkeypatch):
    monkeypatch.chdir(home_dataset.parent.parent)
    out = tmp_path / "run"
    assert run(Path("pets") / "data.csv", endpoint, out) == 1
    summary = json.loads((out / "summary.json").read_text())
    assert summary["dataset"]["source"] == "data.csv"
    assert sorted(e["image"] for e in summary["errors"]) == ["images/broken.png", "images/missing.png"]
    for name in ("summary.json", "report.html", "report.md"):
        assert "alice-secret" not in (out / name).read_text(encoding="utf-8"), name


def test_absolute_paths_when_asked(home_dataset, endpoint, tmp_path):
    out = tmp_path / "run"
    assert run(home_dataset, endpoint, out, "--absolute-paths") == 1
    summary = json.loads((out / "summary.json").read_text())
    assert summary["dataset"]["source"] == str(home_dataset.resolve())
    assert summary["dataset"]["paths"] == "absolute"
    assert all(Path(e["image"]).is_absolute() for e in summary["errors"])
    assert "alice-secret" in (out / "report.html").read_text(encoding="utf-8")
