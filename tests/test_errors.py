"""A user's YAML file that cannot be read or parsed is a one-line UserError naming the option and the file,
whichever option reads it (--request, --thresholds, --costs)."""

from __future__ import annotations

from pathlib import Path

import pytest

from evaluation.calls.production import load_request
from evaluation.errors import UserError, read_yaml_file
from evaluation.options import AnalysisOptions
from evaluation.reports.check import load_deployed


def test_a_readable_file_gives_its_document_and_an_empty_one_none(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("Cat: {fp: 1, fn: 5}\n")
    (tmp_path / "empty.yaml").write_text("")
    assert read_yaml_file(tmp_path / "a.yaml", "--costs a.yaml") == {"Cat": {"fp": 1, "fn": 5}}
    assert read_yaml_file(tmp_path / "empty.yaml", "x") is None


def test_a_missing_file_a_folder_a_binary_file_and_bad_yaml_are_each_one_line(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("labels: [unclosed\n")
    (tmp_path / "binary.yaml").write_bytes(b"\xff\xfe\x00bad")
    for name, expected in (
        ("gone.yaml", "cannot read it: No such file or directory"),
        ("", "cannot read it: Is a directory"),
        ("binary.yaml", "cannot read it: 'utf-8' codec"),
        ("bad.yaml", "not YAML at line 2, column 1: expected ',' or ']'"),
    ):
        with pytest.raises(UserError) as raised:
            read_yaml_file(tmp_path / name, f"--opt {name}")
        assert str(raised.value).startswith(f"--opt {name}: {expected}")
        assert len(str(raised.value).splitlines()) == 1


@pytest.mark.parametrize(
    ("read", "option"),
    [
        (lambda path: load_request(path, "DetectLabels"), "--request"),
        (load_deployed, "--thresholds"),
        (lambda path: AnalysisOptions.build(objective="min-cost", costs=str(path)), "--costs"),
    ],
)
def test_every_option_that_reads_yaml_names_itself_and_the_file(tmp_path: Path, read, option) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [unclosed\n")
    with pytest.raises(UserError, match=f"^{option} {bad}: not YAML at line 2"):
        read(bad)
    with pytest.raises(UserError, match=f"^{option} {tmp_path / 'gone.yaml'}: cannot read it: "):
        read(tmp_path / "gone.yaml")
