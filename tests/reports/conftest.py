"""Run folders made through the command line against the local endpoint, for the report tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.cli import run_cli
from tests.support.fake_rekognition import FakeRekognition
from tests.support.images import png_bytes
from tests.support.reports import make_run
from tests.support.runs import build_dataset

# Label names that would break a page that pasted them into its HTML or its script.


@pytest.fixture
def boxed_dataset(tmp_path: Path, fake_rekognition: FakeRekognition):
    """240 images with scripted answers; Cat, Dog and Car answers carry instance boxes."""
    return build_dataset(tmp_path, fake_rekognition, boxes=True)


@pytest.fixture
def run_folder(tmp_path: Path, boxed_dataset, endpoint) -> Path:
    csv, _ = boxed_dataset
    return make_run(csv, endpoint.url, tmp_path / "run", tmp_path / "cache.sqlite")


def second_model(fake: FakeRekognition) -> None:
    """Model 3.1: surer of cats, less sure of trees, on the very same images."""
    fake.model_version = "3.1"
    for answer in fake.by_digest.values():
        for entry in answer:
            if entry["Name"] == "Cat":
                entry["Confidence"] = min(100.0, entry["Confidence"] + 15)
            elif entry["Name"] == "Tree":
                entry["Confidence"] = round(entry["Confidence"] * 0.7, 4)


@pytest.fixture
def two_runs(tmp_path: Path, fake_rekognition: FakeRekognition, endpoint) -> tuple[Path, Path]:
    csv, _ = build_dataset(tmp_path, fake_rekognition)
    run_a = make_run(csv, endpoint.url, tmp_path / "a", tmp_path / "a.sqlite")
    second_model(fake_rekognition)
    run_b = make_run(csv, endpoint.url, tmp_path / "b", tmp_path / "b.sqlite")
    return run_a, run_b


@pytest.fixture
def problem_run(tmp_path: Path, fake_rekognition: FakeRekognition, endpoint) -> Path:
    """A run with every kind of problem: an image too small and a missing one (rejected), one the service
    refuses (failed), a dataset line skipped, and answers cut at MaxLabels 5 (the floor is raised)."""
    csv, _ = build_dataset(tmp_path, fake_rekognition, count=60)
    (tmp_path / "images" / "tiny.png").write_bytes(png_bytes(40, 40, seed=9001))
    (tmp_path / "images" / "unknown.png").write_bytes(png_bytes(90, 90, seed=9002))  # not scripted
    with csv.open("a") as handle:
        handle.write("images/tiny.png,Cat\nimages/unknown.png,Dog\nimages/gone.png,\njust-one-column\n")
    out = tmp_path / "problems"
    code = run_cli(
        "run",
        "--dataset",
        str(csv),
        "--endpoint-url",
        endpoint.url,
        "--cache",
        str(tmp_path / "cache.sqlite"),
        "--out",
        str(out),
        "--min-support",
        "5",
        "--skip-bad-lines",
        "--max-labels",
        "5",
    )
    assert code == 1  # the report is written, and says what was not evaluated
    return out
