"""`rekognition-eval run --operation ...` for every operation against the local endpoint, then `report`."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import yaml

from evaluation.cli import main
from tests.operations.test_boxes import _label_map, build_coco

RUN_FILES = (
    "metrics.csv",
    "curves.parquet",
    "labels.csv",
    "thresholds.yaml",
    "summary.json",
    "report.md",
    "report.html",
    "images.csv",
    "run.json",
    "ground_truth.jsonl",
)


def run_cli(*args: str) -> int:
    return main(["--quiet", *args])


def check_run_folder(out: Path, operation: str, tmp_path: Path) -> dict:
    for name in RUN_FILES:
        assert (out / name).is_file(), name
    summary = json.loads((out / "summary.json").read_text())
    assert summary["evaluation"]["operation"] == operation
    thresholds = yaml.safe_load((out / "thresholds.yaml").read_text())
    assert thresholds["metadata"]["operation"] == operation and summary["operation"] == operation
    assert not pd.read_csv(out / "metrics.csv").empty
    again = tmp_path / f"{operation}-again"
    assert run_cli("report", str(out), "--out", str(again), "--objective", "precision>=0.5") == 0
    assert json.loads((again / "summary.json").read_text())["objective"] == "recall-at-precision:0.5"
    return summary


def test_run_operation_boxes(tmp_path, fake_rekognition, endpoint):
    path, _ = build_coco(tmp_path, fake_rekognition, count=8)
    out = tmp_path / "boxes"
    code = run_cli(
        "run",
        "--operation",
        "boxes",
        "--dataset",
        str(path),
        "--endpoint-url",
        endpoint.url,
        "--region",
        "us-east-1",
        "--cache",
        str(tmp_path / "c.sqlite"),
        "--out",
        str(out),
        "--label-map",
        str(_label_map(tmp_path)),
        "--min-support",
        "1",
    )
    assert code == 0
    summary = check_run_folder(out, "boxes", tmp_path)
    assert summary["api"] == "DetectLabels"
    assert 0 <= summary["evaluation"]["map_50_95"] <= summary["evaluation"]["map_50"] <= 1


def test_an_unknown_operation_is_a_usage_error(tmp_path, capsys):
    assert run_cli("run", "--operation", "celebrities", "--dataset", str(tmp_path)) == 2
    assert "invalid choice: 'celebrities'" in capsys.readouterr().err
