"""PNG plots beside report.html (plots/), for slides, tickets and anything that cannot run the page.

One figure per label: the exact precision-recall curve and precision, recall and F1 against the
threshold, with the recommended threshold marked. Only the labels with the most support get a PNG
(MAX_PNG_LABELS), so a 1,000-label run does not spend minutes on pictures nobody opens; the page itself
draws every label's plots on demand from its embedded data. Uses matplotlib's object API with the Agg
canvas, never pyplot, so writing a report does not change a notebook's backend.
"""

from __future__ import annotations

import contextlib
import functools
import io
import logging
import math
import os
import pickle
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from evaluation.analysis.missing import fixed, is_missing
from evaluation.fresh_python import package_python
from evaluation.reports.png_frames import COLOURS, Frames
from evaluation.reports.recommended import confidence_text, min_confidence

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from evaluation.analysis import EvaluationResult

MAX_PNG_LABELS = 25
# From this many scored pairs on, another process draws every PNG while this one writes the page and
# the tables (which then take long enough to hide its start, about 1.5 s of imports). Below it they are
# drawn here: a PNG takes about 30 ms on a reused frame (png_frames), so another process's imports would
# cost more than it saves (at 10,000 images, 26 PNGs: sharing them cost 1.9 s of CPU there to save 0.3 s
# here, and the report ended later).
BACKGROUND_MIN_PAIRS = 500_000
# From this many images on, `report` starts that process before the analysis (plots_process), so its
# imports run on another core while this one analyses, and it is ready when the PNGs are sent. Measured
# with bench_scale, old and new alternating, the other core free: 10,000 images 3.0-3.1 s against
# 3.5-3.6 s (report / floor 4.8-4.9 against 5.6-5.8), 5,000 images 2.3-2.7 s against 2.6-3.0 s. Not
# below: at 1,000 images the analysis is shorter than the process's imports and the report waited for
# them. Not on a busy machine either (idle_core): there the process only took CPU from this one (10,000
# images at a load of 3-7: 0.5-2 s later).
WARM_MIN_IMAGES = 5_000
PLOTS_DIR = "plots"
GLOBAL_PNG = "global.png"
_PNG_NAME = re.compile(r"^(\d{4}-.*|global)\.png$")  # the files this module writes (and may remove)

log = logging.getLogger(__name__)


def png_name(position: int, label: str) -> str:
    """A file name that is safe everywhere and unique per label (the position in the vocabulary)."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", label).strip("-.")[:60] or "label"
    return f"{position:04d}-{safe}.png"


def labels_to_plot(labels: pd.DataFrame, limit: int = MAX_PNG_LABELS) -> list[int]:
    """Positions of the labels with the most support (ties in vocabulary order), at most `limit`."""
    support = labels["support"].to_numpy(dtype=np.int64)
    order = np.lexsort((np.arange(len(support)), -support))
    return [int(index) for index in order if support[index] > 0][:limit]


def _draw(
    figure: Figure,
    title: str,
    curve: pd.DataFrame,
    grid: pd.DataFrame,
    recommended: dict[str, Any],
    *,
    curve_from_grid: bool = False,
) -> None:
    pr, by_threshold = figure.subplots(1, 2)
    figure.subplots_adjust(left=0.07, right=0.98, bottom=0.14, top=0.82, wspace=0.22)  # fixed: fast
    figure.suptitle(title, fontsize=11)
    points = curve.sort_values("threshold", ascending=False)
    defined = points[points["precision"].notna()]
    pr.plot(
        defined["recall"], defined["precision"], color=COLOURS["precision"], lw=1.5, drawstyle="steps-post"
    )
    pr.set(
        xlabel="recall",
        ylabel="precision",
        xlim=(0, 1.02),
        ylim=(0, 1.02),
        title="precision-recall" + (" (whole-number thresholds)" if curve_from_grid else ""),
    )
    grid = grid.sort_values("threshold")
    confidences = curve["threshold"].to_numpy(np.float64)
    confidences = confidences[confidences > 0]
    low = not curve_from_grid and len(confidences) > 0 and float(np.median(confidences)) < 10
    if low:  # confidences near 0: the exact curve on a log axis, or it collapses onto the left edge
        exact = curve.sort_values("threshold")
        exact = exact[exact["threshold"] > 0]
        for name in ("precision", "recall", "f1"):
            by_threshold.plot(
                exact["threshold"],
                exact[name],
                color=COLOURS[name],
                lw=1.5,
                label=name,
                drawstyle="steps-pre",
            )
        lowest = 10 ** math.floor(math.log10(float(confidences.min())))
        by_threshold.set_xscale("log")
        by_threshold.set(
            xlabel="MinConfidence (log)", ylim=(0, 1.02), xlim=(lowest, 100), title="against the threshold"
        )
    else:
        for name in ("precision", "recall", "f1"):
            by_threshold.plot(grid["threshold"], grid[name], color=COLOURS[name], lw=1.5, label=name)
        by_threshold.set(xlabel="MinConfidence", ylim=(0, 1.02), xlim=(0, 100), title="against the threshold")
    by_threshold.legend(loc="lower left", fontsize=8, frameon=False)
    threshold = recommended.get("threshold")
    if not is_missing(threshold):
        use = min_confidence(threshold, recommended.get("threshold_low"))
        text = f"recommended {confidence_text(use)}"
        by_threshold.axvline(threshold, color=COLOURS["mark"], ls="--", lw=1, label=text)
        by_threshold.annotate(text, (threshold, 1.0), xytext=(3, -10), textcoords="offset points", fontsize=8)
        if not is_missing(recommended.get("precision")) and not is_missing(recommended.get("recall")):
            pr.plot(
                [recommended["recall"]], [recommended["precision"]], "o", color=COLOURS["mark"], label=text
            )
            pr.legend(loc="lower left", fontsize=8, frameon=False)
    for axes in (pr, by_threshold):
        axes.grid(alpha=0.3)


# matplotlib is imported where a figure is drawn: a large run draws its PNGs in a process of its own,
# and the report's process need not pay for the import (about half a second)


def _save(figure: Figure, path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(figure)
    temporary = path.with_name(path.name + ".tmp")
    figure.savefig(temporary, dpi=90, format="png")
    os.replace(temporary, path)  # replaced, never written into: the old run folder's file stays as it was


@functools.cache
def _notebook_figure_class() -> type[Figure]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    class NotebookFigure(Figure):
        """A Figure that shows itself in a notebook (as a PNG) without pyplot or `%matplotlib inline`."""

        def _repr_png_(self) -> bytes:
            FigureCanvasAgg(self)
            buffer = io.BytesIO()
            self.savefig(buffer, format="png", dpi=90)
            return buffer.getvalue()

    return NotebookFigure


def label_figure(result: EvaluationResult, label: str | None = None) -> Figure:
    """One label's figure (the PNG's), or the micro average of every label when `label` is None; for
    notebooks: a Figure displays itself."""
    if label is None:
        return _global_figure(result)
    labels = result.labels
    matches = np.flatnonzero(labels["label"].astype(object).to_numpy() == label)
    if not len(matches):
        known = ", ".join(map(str, labels["label"].head(10))) + (", ..." if len(labels) > 10 else "")
        raise KeyError(f"no label {label!r} in this result (labels: {known})")
    row = labels.iloc[int(matches[0])].to_dict()
    curve = result.curve_table.frame(rows=result.curve_table.label_rows([label]))
    grid = result.metrics[result.metrics["label"] == label]
    figure = _notebook_figure_class()(figsize=(9, 3.6))
    ap = row["ap"]
    ap_text = fixed(ap)
    _draw(figure, f"{row['label']} (support {row['support']}, AP {ap_text})", curve, grid, row)
    return figure


def _global_plot(result: EvaluationResult, path: Path) -> _Plot:
    grid = result.averages.rename(
        columns={"micro_precision": "precision", "micro_recall": "recall", "micro_f1": "f1"}
    )
    title = "All labels (micro average)"
    return _Plot(path, title, grid, grid, dict(result.global_threshold), curve_from_grid=True)


def _global_figure(result: EvaluationResult) -> Figure:
    plot = _global_plot(result, Path(PLOTS_DIR) / GLOBAL_PNG)
    figure = _notebook_figure_class()(figsize=(9, 3.6))
    _draw(figure, plot.title, plot.curve, plot.grid, plot.recommended, curve_from_grid=True)
    return figure


@dataclass(frozen=True)
class _Plot:
    """What one PNG needs: a few rows of the result, small enough to send to another process."""

    path: Path
    title: str
    curve: pd.DataFrame
    grid: pd.DataFrame
    recommended: dict[str, Any]
    curve_from_grid: bool = False


def _plan(result: EvaluationResult, folder: Path, limit: int) -> tuple[dict[int, str], list[_Plot]]:
    """The labels' PNGs and the global one, and the paths relative to the run folder per label position."""
    labels = result.labels
    positions = labels_to_plot(labels, limit)
    wanted = [labels["label"].iloc[position] for position in positions]
    table = result.curve_table
    curves = table.frame(rows=table.label_rows(wanted))  # the plotted labels' rows only
    grid = result.metrics[result.metrics["label"].isin(wanted)]
    curves_by_label = dict(tuple(curves.groupby("label", observed=True, sort=False)))
    grid_by_label = dict(tuple(grid.groupby("label", observed=True, sort=False)))
    empty = curves.iloc[0:0]
    written: dict[int, str] = {}
    plots: list[_Plot] = []
    for position in positions:
        row = labels.iloc[position].to_dict()
        name = png_name(position, row["label"])
        title = f"{row['label']} (support {row['support']}, AP {row['ap']:.3f})"
        curve = curves_by_label.get(row["label"], empty)
        plots.append(_Plot(folder / name, title, curve, grid_by_label[row["label"]], row))
        written[position] = f"{PLOTS_DIR}/{name}"
    plots.append(_global_plot(result, folder / GLOBAL_PNG))
    return written, plots


def _draw_all(plots: list[_Plot], frames: Frames | None = None) -> None:
    """Every PNG of `plots`, on figures reused across labels (png_frames: the same pixels as _draw's
    figure saved by _save, a fraction of the time)."""
    frames = Frames() if frames is None else frames
    for plot in plots:
        frames.save(plot.path, plot.title, plot.curve, plot.grid, plot.recommended, plot.curve_from_grid)


def _prepare(result: EvaluationResult, out_dir: Path, limit: int) -> tuple[dict[int, str], list[_Plot]]:
    """Plan the PNGs and remove those this module wrote earlier for labels that no longer get one, so
    the folder never shows a stale plot."""
    folder = out_dir / PLOTS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    written, plots = _plan(result, folder, limit)
    keep = {plot.path.name for plot in plots}
    for stale in folder.glob("*.png"):
        if _PNG_NAME.match(stale.name) and stale.name not in keep:
            stale.unlink()
    return written, plots


def write_plots(result: EvaluationResult, out_dir: Path, *, limit: int = MAX_PNG_LABELS) -> dict[int, str]:
    """Write plots/*.png in this process; returns {label position: path relative to out_dir}."""
    written, plots = _prepare(result, out_dir, limit)
    _draw_all(plots)
    return written


class PlotsProcess:
    """A process of its own that draws the PNGs (matplotlib holds the GIL: a thread would not help).

    Started before the analysis (plots_process), it imports pandas and matplotlib and draws its first
    figure's background (about 1.5 s of CPU) on another core while this one analyses, then waits on its
    stdin for the path of the pickled plots, draws them and ends. It reads the end of its stdin, and
    ends, when nothing is sent: when this process closes the pipe, or dies. A fresh interpreter, not
    multiprocessing: spawning re-runs the caller's unguarded script, and forking a process whose other
    threads may hold locks can hang the child. It ignores Ctrl-C, which reaches the whole process group:
    this process ends it (close), and only this one reports the interruption."""

    def __init__(self) -> None:
        command, env = package_python(
            "import signal; signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
            "from evaluation.reports.plots import draw_when_sent; draw_when_sent()"
        )
        self._process = subprocess.Popen(command, stdin=subprocess.PIPE, env=env)
        # what was sent, kept on disk, not here: it is drawn here again from there if the process fails
        # (a large run's curves for the PNGs are hundreds of MB, held through the tables' writing else)
        self._payload: Path | None = None

    def draw(self, plots: list[_Plot]) -> PlotsProcess | None:
        """Hand `plots` over; the caller then waits for them (wait) or gives up (cancel). None: the
        process was gone or busy, and they were drawn here."""
        if self._payload is not None:  # one batch a process
            _draw_all(plots)
            return None
        with tempfile.NamedTemporaryFile(
            prefix="rekognition-eval-plots-", suffix=".pickle", delete=False
        ) as f:
            self._payload = Path(f.name)
            pickle.dump(plots, f, protocol=pickle.HIGHEST_PROTOCOL)
        try:
            assert self._process.stdin is not None
            self._process.stdin.write(f"{self._payload}\n".encode())
            self._process.stdin.close()
        except OSError as exc:  # it died before it was sent anything
            log.warning("the plots' process is gone (%s); drawing here", exc)
            self.close()
            _draw_all(plots)
            return None
        return self

    def wait(self) -> None:
        """Until the PNGs sent are drawn; drawn here again if the process failed, so an error shows with
        its traceback."""
        try:
            code = self._process.wait()
            if code != 0 and self._payload is not None:
                log.warning("the plots' process ended with exit code %s; drawing here", code)
                _draw_all(_sent(self._payload))
        finally:
            self.close()

    def cancel(self) -> None:
        self.close()

    def close(self) -> None:
        """End the process, whatever it is doing, and remove the payload: nothing is left behind."""
        try:
            if self._process.stdin is not None and not self._process.stdin.closed:
                self._process.stdin.close()  # nothing sent: it ends at once, or when its imports are done
        except OSError:
            pass
        finally:
            if self._process.poll() is None:
                self._process.terminate()
            self._process.wait()
            if self._payload is not None:
                self._payload.unlink(missing_ok=True)


def _sent(payload: Path) -> list[_Plot]:
    with open(payload, "rb") as f:
        return pickle.load(f)  # our own file, written by PlotsProcess.draw


def draw_when_sent() -> None:
    """The plots' process: get ready to draw, then draw what PlotsProcess.draw sends (a pickle's path),
    if anything."""
    frames = Frames()
    frames.prepare()
    line = sys.stdin.readline().strip()
    if not line:
        return
    _draw_all(_sent(Path(line)), frames)


def _start_process() -> PlotsProcess | None:
    try:
        return PlotsProcess()
    except OSError as exc:
        log.warning("cannot start a process for the plots (%s); drawing them here", exc)
        return None


def idle_core() -> bool:
    """Whether a core is free for the plots' process: the last minute's load average (this process
    included) leaves one. On a busy machine the process would only take CPU from this one, which then
    waits for it. True where the system does not say."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):
        return cores > 1
    return cores > 1 and load < cores - 0.5


@contextlib.contextmanager
def plots_process(images: int) -> Iterator[PlotsProcess | None]:
    """A process for the PNGs, started now, for a run of `images` images from WARM_MIN_IMAGES on when a
    core is free for it (None otherwise, or when none can be started); ended on leaving, whatever
    happened."""
    process = _start_process() if images >= WARM_MIN_IMAGES and idle_core() else None
    try:
        yield process
    finally:
        if process is not None:
            process.close()


def start_plots(
    result: EvaluationResult,
    out_dir: Path,
    *,
    limit: int = MAX_PNG_LABELS,
    process: PlotsProcess | None = None,
) -> PlotsProcess | None:
    """Write plots/*.png: in `process` (started before the analysis) if given; for a large run in a
    process of its own, started now, while the page and the tables are written here; for a smaller one
    here. The caller waits for what this returns (None: drawn already) before the folder is complete."""
    _, plots = _prepare(result, out_dir, limit)
    pairs = result.pairs.n_pairs if result.pairs is not None else 0
    if process is None and pairs >= BACKGROUND_MIN_PAIRS:
        process = _start_process()
    if process is not None:
        return process.draw(plots)
    _draw_all(plots)
    return None
