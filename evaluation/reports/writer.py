"""The documents a run folder shows people, rendered from a finished result (they never re-analyse);
evaluation.runfolder writes the tables and calls these renderers."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING

from evaluation.reports.html import write_html
from evaluation.reports.markdown import render_markdown
from evaluation.reports.plots import PlotsProcess, start_plots
from evaluation.runfolder import Renderer, Unfinished, atomic_write

if TYPE_CHECKING:
    from evaluation.analysis import EvaluationResult


def write_markdown(result: EvaluationResult, out_dir: Path) -> None:
    atomic_write(out_dir / "report.md", render_markdown(result))


def write_documents(
    result: EvaluationResult, out_dir: Path, *, plots: PlotsProcess | None = None
) -> Unfinished | None:
    """report.md and report.html (with its thumbnails), and the PNG plots, which `plots` (a process
    started before the analysis) or a large run's own process draws while the page and the run folder's
    tables are written."""
    drawing = start_plots(result, out_dir, process=plots)
    try:
        write_markdown(result, out_dir)
        write_html(result, out_dir)
    except BaseException:
        if drawing is not None:
            drawing.cancel()
        raise
    return drawing


def renderers(plots: PlotsProcess | None = None) -> tuple[Renderer, ...]:
    """The run folder's documents, their PNGs drawn by `plots` if given (plots.plots_process)."""
    return (functools.partial(write_documents, plots=plots),)


RENDERERS = renderers()
