"""The PNG plots drawn in a process of their own (a large run) are the ones drawn in this process."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from evaluation.reports import plots
from evaluation.reports.plots import start_plots, write_plots
from evaluation.runfolder import write
from tests.support.runs import synthetic_result


def _pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGBA"))


def test_a_large_run_draws_its_plots_in_another_process_and_they_equal_those_drawn_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = synthetic_result(None, labels=["A", "B", "C", "D"], n_images=120)
    here = write_plots(result, tmp_path / "here")
    monkeypatch.setattr(plots, "BACKGROUND_MIN_PAIRS", 0)
    drawing = start_plots(result, tmp_path / "there")
    assert isinstance(drawing, plots.PlotsProcess)  # a process was started, the PNGs come when it ends
    drawing.wait()
    assert drawing._process.returncode == 0
    names = sorted(path.name for path in (tmp_path / "here" / "plots").iterdir())
    assert names == sorted(path.name for path in (tmp_path / "there" / "plots").iterdir())
    assert len(names) == len(here) + 1  # and global.png
    for name in names:
        assert np.array_equal(
            _pixels(tmp_path / "here/plots" / name), _pixels(tmp_path / "there/plots" / name)
        )


def test_the_run_folder_waits_for_the_plots_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from evaluation.reports import RENDERERS

    monkeypatch.setattr(plots, "BACKGROUND_MIN_PAIRS", 0)
    result = synthetic_result(None, labels=["A", "B", "C"], n_images=90)
    write(result, tmp_path / "run", renderers=RENDERERS)
    pngs = sorted(path.name for path in (tmp_path / "run" / "plots").iterdir())
    assert "global.png" in pngs and len(pngs) == 4
    assert all(_pixels(tmp_path / "run/plots" / name).shape[0] > 100 for name in pngs)
    assert (tmp_path / "run" / "report.html").is_file()


def test_a_failed_plots_process_is_drawn_again_here_so_its_error_shows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(plots, "BACKGROUND_MIN_PAIRS", 0)
    result = synthetic_result(None, labels=["A", "B"], n_images=60)
    drawing = start_plots(result, tmp_path)
    drawing.cancel()  # nothing waits for a cancelled process, nothing is left running
    assert drawing._process.poll() is not None and not drawing._payload.exists()
    planned = plots._prepare(result, tmp_path, 1)[1]
    nowhere = [replace(plot, path=tmp_path / "missing" / plot.path.name) for plot in planned]
    drawing = plots.PlotsProcess().draw(nowhere)  # the child cannot write there and ends with an error...
    assert drawing is not None
    with pytest.raises(FileNotFoundError):
        drawing.wait()  # ...and the parent's own attempt says why
    assert drawing._process.returncode == 1 and not drawing._payload.exists()


def test_a_large_runs_plots_drawn_by_another_process_equal_those_drawn_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    labels = [f"L{index}" for index in range(9)]
    result = synthetic_result(None, labels=labels, n_images=90)
    here = write_plots(result, tmp_path / "here")
    monkeypatch.setattr(plots, "BACKGROUND_MIN_PAIRS", 0)  # every run is large
    drawing = start_plots(result, tmp_path / "there")
    assert isinstance(drawing, plots.PlotsProcess) and len(plots._sent(drawing._payload)) == len(here) + 1
    drawing.wait()
    assert drawing._process.returncode == 0
    names = sorted(path.name for path in (tmp_path / "here" / "plots").iterdir())
    assert names == sorted(path.name for path in (tmp_path / "there" / "plots").iterdir())
    for name in names:
        assert np.array_equal(
            _pixels(tmp_path / "here/plots" / name), _pixels(tmp_path / "there/plots" / name)
        )
    monkeypatch.setattr(plots, "BACKGROUND_MIN_PAIRS", 10**9)  # a smaller run: all drawn here
    assert start_plots(result, tmp_path / "again") is None
    assert sorted(path.name for path in (tmp_path / "again" / "plots").iterdir()) == names


def test_plots_are_drawn_here_when_no_process_can_be_started(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError("no processes here")

    monkeypatch.setattr(plots.subprocess, "Popen", refuse)
    monkeypatch.setattr(plots.tempfile, "tempdir", str(tmp_path))  # where a left payload would show
    result = synthetic_result(None, labels=[f"L{index}" for index in range(9)], n_images=90)
    here = write_plots(result, tmp_path / "here")
    monkeypatch.setattr(plots, "BACKGROUND_MIN_PAIRS", 0)  # a large run's process, refused
    assert start_plots(result, tmp_path / "there") is None
    names = sorted(path.name for path in (tmp_path / "there" / "plots").iterdir())
    assert len(names) == len(here) + 1
    assert not list(tmp_path.glob("rekognition-eval-plots-*"))  # no payload left behind
