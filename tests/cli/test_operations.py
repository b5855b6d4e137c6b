"""`rekognition-eval run --operation ...` for every operation against the local endpoint, then `report`."""

from __future__ import annotations

from tests.support.cli import run_cli
from tests.support.operations import build_coco, check_run_folder, label_map_file, run_operation


def test_run_operation_boxes(tmp_path, fake_rekognition, endpoint):
    path, _ = build_coco(tmp_path, fake_rekognition, count=8)
    out = tmp_path / "boxes"
    code = run_operation("boxes", path, endpoint, tmp_path, out, "--label-map", str(label_map_file(tmp_path)))
    assert code == 0
    summary = check_run_folder(out, "boxes", tmp_path)
    assert summary["api"] == "DetectLabels"
    assert 0 <= summary["evaluation"]["map_50_95"] <= summary["evaluation"]["map_50"] <= 1


def test_an_unknown_operation_is_a_usage_error(tmp_path, capsys):
    assert run_cli("run", "--operation", "celebrities", "--dataset", str(tmp_path)) == 2
    assert "invalid choice: 'celebrities'" in capsys.readouterr().err
