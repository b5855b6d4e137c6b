"""Today's (before png_frames) PNG drawing, kept to prove the reused frames draw the same files: a new
figure per plot, drawn whole by Figure.savefig (plots._draw and plots._save as they were)."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from evaluation.analysis.missing import is_missing
from evaluation.reports.recommended import confidence_text, min_confidence

COLOURS = {"precision": "#1f6feb", "recall": "#d9480f", "f1": "#2b8a3e", "mark": "#6f42c1"}


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


def _save(figure: Figure, path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(figure)
    temporary = path.with_name(path.name + ".tmp")
    figure.savefig(temporary, dpi=90, format="png")
    os.replace(temporary, path)  # replaced, never written into: the old run folder's file stays as it was


def draw_all(plots: list[Any]) -> None:
    """plots._draw_all as it was: one Figure per plots._Plot."""
    for plot in plots:
        figure = Figure(figsize=(9, 3.6))
        _draw(
            figure, plot.title, plot.curve, plot.grid, plot.recommended, curve_from_grid=plot.curve_from_grid
        )
        _save(figure, plot.path)
