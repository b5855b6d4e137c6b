"""The run folder as a whole: a kill while it is written leaves the old folder or the new one."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from evaluation.runfolder import write
from tests.support.runs import synthetic_result

REPO = Path(__file__).resolve().parents[1]

WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from evaluation.reports import RENDERERS
    from evaluation.runfolder import atomic_write, write
    from tests.support.runs import synthetic_result

    out, pause_at = Path(sys.argv[1]), int(sys.argv[2])
    result = synthetic_result(None, labels=["Cat", "Dog", "Car", "Tree"], n_images=80, min_support=1)

    def pause(result, folder):
        if result.summary["generation"] == pause_at:
            print("rendering", flush=True)
            time.sleep(60)

    def stamp(result, folder):
        atomic_write(folder / "generation.txt", str(result.summary["generation"]))

    generation = 0
    while True:
        generation += 1
        result.summary["generation"] = generation
        write(result, out, renderers=[*RENDERERS, pause, stamp])
        print(generation, flush=True)
    """
)


def _start(out: Path, pause_at: int) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, str(out), str(pause_at)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )


def _generations(out: Path) -> tuple[int, int]:
    summary = json.loads((out / "summary.json").read_text())
    return summary["generation"], int((out / "generation.txt").read_text())


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_kill_while_the_folder_is_written_leaves_the_old_folder(tmp_path):
    """Killed in the middle of writing generation 2 (tables written, documents being rendered): the
    folder is generation 1 byte for byte, with the user's own file still in it."""
    out = tmp_path / "run"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    (out / "extra").mkdir()
    (out / "extra" / "kept.csv").write_text("a,b\n")
    process = _start(out, pause_at=2)
    try:
        assert process.stdout.readline().strip() == "1", process.stderr.read() if process.poll() else ""
        before = _files(out)
        assert process.stdout.readline().strip() == "rendering"
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert _generations(out) == (1, 1)
    assert _files(out) == before
    assert (out / "notes.txt").read_text() == "mine" and (out / "extra" / "kept.csv").is_file()
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "run"]
    assert leftovers and all(name.startswith(".run.staging-") for name in leftovers)

    # the next write clears what the killed writer left and keeps the user's files
    result = synthetic_result(None, labels=["Cat", "Dog"], n_images=20, min_support=1)
    assert write(result, out) == out
    assert [p.name for p in tmp_path.iterdir()] == ["run"]
    assert (out / "notes.txt").read_text() == "mine" and (out / "extra" / "kept.csv").read_text() == "a,b\n"
    assert "generation" not in json.loads((out / "summary.json").read_text())


@pytest.mark.parametrize("delay", [0.15, 0.4, 0.7, 1.1])
def test_kills_at_any_moment_leave_one_generation(tmp_path, delay):
    """SIGKILL at a moment of the write loop: every file of the folder comes from one generation."""
    out = tmp_path / "run"
    process = _start(out, pause_at=-1)
    try:
        assert process.stdout.readline().strip() == "1", process.stderr.read() if process.poll() else ""
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    summary_generation, stamped = _generations(out)
    assert summary_generation == stamped


def test_the_old_folder_is_untouched_until_the_swap(tmp_path):
    """Files carried over are hard links: a new write replaces them, it never writes into them."""
    out = tmp_path / "run"
    first = synthetic_result(None, labels=["Cat", "Dog"], n_images=30, min_support=1)
    from evaluation.reports import RENDERERS
    from evaluation.reports.plots import GLOBAL_PNG, PLOTS_DIR

    write(first, out, renderers=RENDERERS)
    plot = out / PLOTS_DIR / GLOBAL_PNG
    kept = plot.read_bytes()
    moved = tmp_path / "old.png"
    os.link(plot, moved)  # a second name for the old file's inode, as the staging copy makes
    second = synthetic_result(None, labels=["Cat", "Dog"], n_images=30, seed=5, min_support=1)
    write(second, out, renderers=RENDERERS)
    assert moved.read_bytes() == kept
    assert plot.read_bytes() != kept


def test_out_that_is_a_file_is_refused(tmp_path):
    from evaluation.errors import UserError

    (tmp_path / "run").write_text("x")
    with pytest.raises(UserError, match="is a file"):
        write(synthetic_result(None, labels=["Cat"], n_images=5, min_support=1), tmp_path / "run")


def test_the_parent_of_an_existing_out_must_take_files(tmp_path, monkeypatch):
    """The folder is staged beside itself: a parent that takes no file is refused before any call."""
    import tempfile

    from evaluation import runfolder
    from evaluation.errors import UserError

    out = tmp_path / "reports" / "run"
    out.mkdir(parents=True)
    real = tempfile.mkstemp

    def refuse_in_the_parent(*args, dir=None, **kwargs):
        if Path(dir) == out.parent:
            raise PermissionError(13, "Permission denied")
        return real(*args, dir=dir, **kwargs)

    monkeypatch.setattr(runfolder.tempfile, "mkstemp", refuse_in_the_parent)
    with pytest.raises(UserError, match=r"cannot write in \S*reports \(Permission denied\)"):
        runfolder.check_writable(out)
