"""What a notebook adds to a result: `plot(label)` and `explore()`, renderers like the run folder's.

`evaluate` and `reanalyse` (evaluation.pipeline) return an `Evaluation`: the same EvaluationResult (its
tables, its short repr) with the report's plots and page at hand.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from evaluation.analysis import EvaluationResult
from evaluation.reports.html import render_html
from evaluation.reports.plots import label_figure


class Evaluation(EvaluationResult):
    """An EvaluationResult with what a notebook adds: `plot(label)` (a matplotlib Figure, the PNG's
    plots) and `explore()` (report.html's table and threshold explorer, inline)."""

    @classmethod
    def of(cls, result: EvaluationResult) -> Evaluation:
        if isinstance(result, cls):
            return result
        return cls(**{item.name: getattr(result, item.name) for item in fields(result)})

    def plot(self, label: str | None = None) -> Any:
        """The precision-recall curve and precision, recall, F1 against MinConfidence of `label`, with the
        recommended MinConfidence marked; no label: the micro average over every label."""
        return label_figure(self, label)

    def explore(self, *, height: int = 900) -> Explorer:
        """report.html in the notebook: the sortable label table, the explorer, the curves and errors."""
        return Explorer(render_html(self), height=height)


@dataclass(frozen=True)
class Explorer:
    """The report page shown inline (an iframe holding the self-contained page); `save(path)` writes it."""

    page: str
    height: int = 900

    def _repr_html_(self) -> str:
        return (
            f'<iframe srcdoc="{html.escape(self.page, quote=True)}" style="width:100%;height:{self.height}px;'
            'border:1px solid #d8dde6" sandbox="allow-scripts"></iframe>'
        )

    def save(self, path: str | Path) -> Path:
        target = Path(path)
        target.write_text(self.page, encoding="utf-8")
        return target
