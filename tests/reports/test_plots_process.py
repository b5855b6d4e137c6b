"""The plots' process started before the analysis (plots.plots_process): it draws the same bytes as this
process, ends when nothing is sent, is replaced by this process when it dies, and is never left behind."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from evaluation import pipeline
from evaluation.reports import plots, writer
from tests.reports.test_plots_frames import _variants
from tests.support.reports import make_run
from tests.support.runs import build_dataset, synthetic_result


@pytest.fixture(autouse=True)
def _a_free_core(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(plots, "idle_core", lambda: True)  # whatever else runs on this machine


def _started(monkeypatch: pytest.MonkeyPatch) -> list[plots.PlotsProcess]:
    """Every plots' process started from now on, to look at after it should have ended."""
    started: list[plots.PlotsProcess] = []

    class Recorded(plots.PlotsProcess):
        def __init__(self) -> None:
            super().__init__()
            started.append(self)

    monkeypatch.setattr(plots, "PlotsProcess", Recorded)
    return started


def _files(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


def test_the_process_draws_the_same_bytes_as_this_one(tmp_path: Path) -> None:
    labels = ["A", "B", "C", "D", "E", "F"]
    result = synthetic_result(None, labels=labels, n_images=400)
    wanted = _variants(plots._plan(result, tmp_path, len(labels))[1])  # log axes, holes, odd titles
    for name in ("here", "there"):
        (tmp_path / name).mkdir()
    with plots.plots_process(plots.WARM_MIN_IMAGES) as process:
        assert process is not None
        plots._draw_all([replace(plot, path=tmp_path / "here" / plot.path) for plot in wanted])
        drawing = process.draw([replace(plot, path=tmp_path / "there" / plot.path) for plot in wanted])
        assert drawing is process
        process.wait()
        assert process._process.returncode == 0 and process._payload is not None
        assert not process._payload.exists()
    here, there = _files(tmp_path / "here"), _files(tmp_path / "there")
    assert len(here) == len(wanted) and here == there  # and no temporary file left


def test_it_imports_this_package_not_one_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "evaluation").mkdir()
    (tmp_path / "evaluation" / "__init__.py").write_text("raise ImportError('another version')\n")
    monkeypatch.chdir(tmp_path)
    result = synthetic_result(None, labels=["A", "B"], n_images=60)
    plots.write_plots(result, tmp_path / "here")
    process = plots.start_plots(result, tmp_path / "there", process=plots.PlotsProcess())
    assert process is not None
    process.wait()
    assert process._process.returncode == 0  # drawn there, not again here
    assert _files(tmp_path / "there/plots") == _files(tmp_path / "here/plots")


def test_a_small_run_or_a_busy_machine_starts_no_process(monkeypatch: pytest.MonkeyPatch) -> None:
    with plots.plots_process(plots.WARM_MIN_IMAGES - 1) as process:
        assert process is None
    monkeypatch.setattr(plots, "idle_core", lambda: False)
    with plots.plots_process(plots.WARM_MIN_IMAGES) as process:
        assert process is None


def test_a_core_is_free_when_the_load_leaves_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.undo()
    monkeypatch.setattr(plots.os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    for load, free in ((0.2, True), (1.4, True), (1.6, False), (5.0, False)):
        monkeypatch.setattr(plots.os, "getloadavg", lambda load=load: (load, load, load))
        assert plots.idle_core() is free
    monkeypatch.setattr(plots.os, "sched_getaffinity", lambda pid: {0})
    monkeypatch.setattr(plots.os, "getloadavg", lambda: (0.0, 0.0, 0.0))
    assert not plots.idle_core()  # one core: nothing to gain


def test_with_nothing_sent_it_ends(monkeypatch: pytest.MonkeyPatch) -> None:
    process = plots.PlotsProcess()
    assert process._process.stdin is not None
    process._process.stdin.close()  # what a parent that died does too
    assert process._process.wait(timeout=120) == 0
    started = _started(monkeypatch)
    with plots.plots_process(plots.WARM_MIN_IMAGES):
        pass
    assert len(started) == 1 and started[0]._process.returncode is not None


def test_when_it_died_before_the_plots_were_sent_they_are_drawn_here(tmp_path: Path) -> None:
    result = synthetic_result(None, labels=["A", "B", "C"], n_images=90)
    plots.write_plots(result, tmp_path / "here")
    with plots.plots_process(plots.WARM_MIN_IMAGES) as process:
        assert process is not None
        process._process.kill()
        process._process.wait()
        assert plots.start_plots(result, tmp_path / "there", process=process) is None  # drawn already
    assert _files(tmp_path / "there/plots") == _files(tmp_path / "here/plots")


def test_when_it_dies_while_drawing_they_are_drawn_here(tmp_path: Path) -> None:
    result = synthetic_result(None, labels=["A", "B", "C"], n_images=90)
    plots.write_plots(result, tmp_path / "here")
    with plots.plots_process(plots.WARM_MIN_IMAGES) as process:
        assert process is not None
        drawing = plots.start_plots(result, tmp_path / "there", process=process)
        assert drawing is process
        process._process.kill()
        process.wait()
        assert process._process.returncode == -9
    assert _files(tmp_path / "there/plots") == _files(tmp_path / "here/plots")


@pytest.fixture
def run(tmp_path: Path, fake_rekognition, endpoint) -> Path:  # type: ignore[no-untyped-def]
    csv, _ = build_dataset(tmp_path, fake_rekognition, count=40)
    return make_run(csv, endpoint.url, tmp_path / "run", tmp_path / "cache.sqlite")


def test_report_draws_in_the_process_the_same_run_folder(
    run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipeline.reanalyse(run, out=tmp_path / "here")
    started = _started(monkeypatch)
    monkeypatch.setattr(plots, "WARM_MIN_IMAGES", 1)
    pipeline.reanalyse(run, out=tmp_path / "there")
    assert len(started) == 1 and started[0]._process.returncode == 0 and started[0]._payload
    here, there = _files(tmp_path / "here/plots"), _files(tmp_path / "there/plots")
    assert len(here) > 1 and here == there
    assert (tmp_path / "here/labels.csv").read_bytes() == (tmp_path / "there/labels.csv").read_bytes()


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
@pytest.mark.parametrize(
    ("module", "name", "sent"),
    [(pipeline, "analyse", False), (writer, "write_html", True)],  # in the analysis; once the plots are sent
)
def test_an_error_in_the_analysis_or_while_writing_leaves_no_process_and_no_payload(
    run: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    error: type[BaseException],
    module: object,
    name: str,
    sent: bool,
) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise error("stop")

    started = _started(monkeypatch)
    monkeypatch.setattr(plots, "WARM_MIN_IMAGES", 1)
    monkeypatch.setattr(module, name, fail)
    with pytest.raises(error):
        pipeline.reanalyse(run, out=tmp_path / "out")
    assert len(started) == 1 and started[0]._process.returncode is not None
    assert not (tmp_path / "out").exists()
    payload = started[0]._payload
    assert (payload is not None) == sent and (payload is None or not payload.exists())
    assert not (tmp_path / "out").exists()
