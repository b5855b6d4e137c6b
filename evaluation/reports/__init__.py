"""Renderers only: report.md, report.html (plots, thumbnails), compare; they never re-analyse."""

from evaluation.reports.plots import plots_process
from evaluation.reports.writer import RENDERERS, renderers

__all__ = ["RENDERERS", "plots_process", "renderers"]
