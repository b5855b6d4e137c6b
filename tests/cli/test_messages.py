"""What the command line says: one prefix style on stderr, defaults that match the help, and a dry run
that tells whether --max-cost would let the run start."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import yaml

from evaluation.cli import MessageFormatter, _configure_logging, build_parser, main
from evaluation.cli.common import OBJECTIVE_HELP
from tests.support.images import png_bytes


def record(level: int, message: str) -> logging.LogRecord:
    return logging.LogRecord("evaluation.x", level, __file__, 1, message, None, None)


def test_one_prefix_style_for_every_level() -> None:
    formatter = MessageFormatter()
    assert formatter.format(record(logging.ERROR, "it broke")) == "error: it broke"
    assert formatter.format(record(logging.WARNING, "look at this")) == "warning: look at this"
    assert formatter.format(record(logging.INFO, "called 3/3 images")) == "called 3/3 images"


def test_logged_warnings_and_third_party_chatter_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    _configure_logging(quiet=False)
    logging.getLogger("evaluation.analysis").warning("label map entries for 'Dgo' match no label")
    logging.getLogger("matplotlib.font_manager").warning(
        "Matplotlib is building the font cache; this may take a moment."
    )
    logging.getLogger("evaluation.calls.runner").info("called 3/3 images")
    err = capsys.readouterr().err.splitlines()
    assert err == ["warning: label map entries for 'Dgo' match no label", "called 3/3 images"]


def test_thresholds_objective_defaults_to_best_f1_as_its_help_says() -> None:
    arguments = build_parser().parse_args(["thresholds", "RUN"])
    assert arguments.objective == "best-f1" and "best-f1 (default)" in OBJECTIVE_HELP


@pytest.fixture
def csv_dataset(tmp_path: Path) -> Path:
    rows = []
    for index in range(10):
        (tmp_path / f"{index}.png").write_bytes(png_bytes(90, 90, seed=index))
        rows.append(f"{index}.png,Cat")
    path = tmp_path / "data.csv"
    path.write_text("image,labels\n" + "\n".join(rows) + "\n")
    return path


@pytest.mark.parametrize(
    ("max_cost", "says"),
    [
        ("0.005", "--max-cost 0.005: the run would be refused (this run needs 10 calls, estimated USD"),
        ("1", "--max-cost 1: the run would start (estimated USD 0.0100)"),
    ],
)
def test_dry_run_says_what_max_cost_would_do(
    csv_dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], max_cost: str, says: str
) -> None:
    arguments = ["run", "--dataset", str(csv_dataset), "--region", "us-east-1", "--dry-run"]
    arguments += ["--cache", str(tmp_path / "c.sqlite"), "--max-cost", max_cost]
    assert main(arguments) == 0  # a dry run calls nothing, whatever the limit
    assert says in capsys.readouterr().out


def test_dry_run_without_max_cost_says_nothing_of_it(
    csv_dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    arguments = ["run", "--dataset", str(csv_dataset), "--region", "us-east-1", "--dry-run"]
    assert main([*arguments, "--cache", str(tmp_path / "c.sqlite")]) == 0
    assert "--max-cost" not in capsys.readouterr().out


def test_thresholds_without_objective_writes_best_f1(tmp_path: Path) -> None:
    from evaluation.pipeline import write_run
    from tests.support.runs import synthetic_result

    run = write_run(synthetic_result(tmp_path, labels=["Cat", "Dog"], n_images=60), tmp_path / "run")
    assert main(["thresholds", str(run)]) == 0
    document = yaml.safe_load((run / "thresholds-best-f1.yaml").read_text())
    assert document["objective"] == "best-f1" and set(document["labels"]) == {"Cat", "Dog"}


def test_positives_never_returned_are_a_warning_with_the_count(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The sample's Person and Building: half their positives get no confidence from the baseline."""
    pytest.importorskip("onnxruntime")
    arguments = ["demo", "--out", str(tmp_path / "run"), "--cache", str(tmp_path / "c.sqlite")]
    assert main(arguments) == 0
    err = capsys.readouterr().err
    for label in ("Building", "Person"):
        assert f"warning: {label}: 6 of 12 positives never returned at any confidence" in err
    assert "recall at most 0.500" in err
