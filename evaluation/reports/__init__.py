"""Renderers only: report.md, report.html (plots, thumbnails), compare; they never re-analyse."""

from evaluation.reports.writer import RENDERERS

__all__ = ["RENDERERS"]
