"""Writers for a run folder: one module per format, `write_run` writes them all."""

from evaluation.reports.writer import write_run

__all__ = ["write_run"]
