"""The documents a run folder shows people, rendered from a finished result (they never re-analyse);
evaluation.runfolder writes the tables and calls these renderers."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from evaluation.reports.html import write_html
from evaluation.reports.markdown import render_markdown
from evaluation.reports.plots import start_plots
from evaluation.runfolder import Unfinished, atomic_write

if TYPE_CHECKING:
    from evaluation.analysis import EvaluationResult


def write_markdown(result: EvaluationResult, out_dir: Path) -> None:
    atomic_write(out_dir / "report.md", render_markdown(result))


def write_documents(result: EvaluationResult, out_dir: Path) -> Unfinished | None:
    """report.md and report.html (with its thumbnails), and the PNG plots, which a large run draws in a
    process of its own while the page and the run folder's tables are written."""
    plots = start_plots(result, out_dir)
    try:
        write_markdown(result, out_dir)
        write_html(result, out_dir)
    except BaseException:
        if plots is not None:
            plots.cancel()
        raise
    return plots


RENDERERS = (write_documents,)
