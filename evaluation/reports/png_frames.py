"""The PNGs under plots/ drawn on a reused figure: what every label shares is drawn once.

plots._draw builds a figure per label and Agg draws all of it: two Axes with their ticks, tick labels,
grids and axis labels, about 0.1-0.25 s a PNG, mostly ticks and text. Yet every label's figure has the
same Axes, limits and ticks (only the curves, the recommended threshold's mark and the titles change),
so a _Frame (one per threshold axis) draws that unchanging background once, keeps its pixels, and for
each label puts them back and draws only the rest, in the order Figure.draw would: each Axes' lines,
then its spines, title, annotation and legend (zorder order), then the figure's title. The background
(figure and Axes patches, axis artists, the second Axes' title) is painted before every curve, not the
second Axes' part after the first Axes' curves, but nothing of it shares a pixel with those (lines are
clipped to their own Axes; the second Axes' tick labels sit in the gap between the two), so every
pixel gets the same paint in the same order: the PNG is byte-identical to the one plots._draw's figure
saves (tests/reports/test_plots_frames), in about a third of the time (about half of the rest is the PNG's
compression, kept as savefig's so the files stay the same bytes).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from evaluation.analysis.missing import is_missing
from evaluation.reports.recommended import confidence_text, min_confidence

if TYPE_CHECKING:
    from matplotlib.artist import Artist
    from matplotlib.legend import Legend

COLOURS = {"precision": "#1f6feb", "recall": "#d9480f", "f1": "#2b8a3e", "mark": "#6f42c1"}
FIGSIZE = (9, 3.6)
DPI = 90
NAMES = ("precision", "recall", "f1")
AGAINST = "against the threshold"
PR_TITLE = "precision-recall"


def pr_points(curve: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """The precision-recall curve's points as plots._draw plots them (thresholds descending, defined
    precision only)."""
    points = curve.sort_values("threshold", ascending=False)
    defined = points[points["precision"].notna()]
    return _floats(defined["recall"]), _floats(defined["precision"])


def low_axis(curve: pd.DataFrame, curve_from_grid: bool) -> float | None:
    """The log axis' left end when the confidences are near 0 (median below 10), else None (0 to 100)."""
    confidences = curve["threshold"].to_numpy(np.float64)
    confidences = confidences[confidences > 0]
    if curve_from_grid or not len(confidences) or float(np.median(confidences)) >= 10:
        return None
    return 10 ** math.floor(math.log10(float(confidences.min())))


def _floats(column: pd.Series) -> np.ndarray:
    """A column as the float64 array Line2D makes of it (np.asarray of the Series, then float)."""
    return np.asarray(column, dtype=np.float64)


class _Frame:
    """One figure for one threshold axis (0 to 100, or a log axis from `lowest`), reused per label."""

    def __init__(self, lowest: float | None) -> None:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        figure = Figure(figsize=FIGSIZE, dpi=DPI)
        self.canvas = FigureCanvasAgg(figure)
        pr, by_threshold = figure.subplots(1, 2)
        figure.subplots_adjust(left=0.07, right=0.98, bottom=0.14, top=0.82, wspace=0.22)
        self.suptitle = figure.suptitle("", fontsize=11)
        self.pr_curve = pr.plot([], [], color=COLOURS["precision"], lw=1.5, drawstyle="steps-post")[0]
        pr.set(xlabel="recall", ylabel="precision", xlim=(0, 1.02), ylim=(0, 1.02), title=PR_TITLE)
        self.lowest = lowest
        style = "steps-pre" if lowest is not None else "default"
        self.lines = [
            by_threshold.plot([], [], color=COLOURS[name], lw=1.5, label=name, drawstyle=style)[0]
            for name in NAMES
        ]
        if lowest is not None:
            by_threshold.set_xscale("log")
            by_threshold.set(xlabel="MinConfidence (log)", ylim=(0, 1.02), xlim=(lowest, 100), title=AGAINST)
        else:
            by_threshold.set(xlabel="MinConfidence", ylim=(0, 1.02), xlim=(0, 100), title=AGAINST)
        self.by_threshold_legend = by_threshold.legend(loc="lower left", fontsize=8, frameon=False)
        self.mark = by_threshold.axvline(0.5, color=COLOURS["mark"], ls="--", lw=1, label="recommended")
        self.annotation = by_threshold.annotate(
            "recommended", (0.5, 1.0), xytext=(3, -10), textcoords="offset points", fontsize=8
        )
        self.marker = pr.plot([0.5], [0.5], "o", color=COLOURS["mark"], label="recommended")[0]
        self.pr_legend = pr.legend(loc="lower left", fontsize=8, frameon=False)
        for axes in (pr, by_threshold):
            axes.grid(alpha=0.3)
        self.pr, self.by_threshold = pr, by_threshold
        changing = [
            self.pr_curve, self.marker, self.pr_legend, pr.title, *self.lines, self.mark, self.annotation,
            self.by_threshold_legend, self.suptitle, *pr.spines.values(), *by_threshold.spines.values(),
        ]  # fmt: skip
        for artist in changing:
            artist.set_visible(False)
        self.canvas.draw()  # the background: patches, axis artists, the second Axes' title
        self.renderer = self.canvas.get_renderer()
        self.background = self.renderer.copy_from_bbox(figure.bbox)
        for artist in changing:
            artist.set_visible(True)
        pr._update_title_position(self.renderer)  # placed for its extent, which a hidden title has not
        self.legend_leaves: list[Artist] | None = None  # the unchanging legend's, once it is laid out

    def save(
        self,
        path: Path,
        title: str,
        curve: pd.DataFrame,
        grid: pd.DataFrame,
        recommended: dict[str, Any],
        curve_from_grid: bool,
    ) -> None:
        """Draw one label on the background and write its PNG as Figure.savefig(path, dpi=90) would."""
        from matplotlib import image

        self.pr_curve.set_data(*pr_points(curve))
        if self.lowest is not None:
            exact = curve.sort_values("threshold")
            exact = exact[exact["threshold"] > 0]
            for line, name in zip(self.lines, NAMES, strict=True):
                line.set_data(_floats(exact["threshold"]), _floats(exact[name]))
        else:
            grid = grid.sort_values("threshold")
            for line, name in zip(self.lines, NAMES, strict=True):
                line.set_data(_floats(grid["threshold"]), _floats(grid[name]))
        pr_title = PR_TITLE + (" (whole-number thresholds)" if curve_from_grid else "")
        if self.pr.title.get_text() != pr_title:  # placed as Axes.draw places it, for its own extent
            self.pr.title.set_text(pr_title)
            self.pr._update_title_position(self.renderer)
        pr_order: list[Artist] = [self.pr_curve]
        pr_after: list[Artist] = [self.pr.title]
        by_threshold_order: list[Artist] = [*self.lines]
        by_threshold_after: list[Artist] = []
        threshold = recommended.get("threshold")
        if not is_missing(threshold):
            use = min_confidence(threshold, recommended.get("threshold_low"))
            text = f"recommended {confidence_text(use)}"
            self.mark.set_xdata([threshold, threshold])
            by_threshold_order.append(self.mark)
            self.annotation.xy = (threshold, 1.0)
            self.annotation.set_text(text)
            by_threshold_after.append(self.annotation)
            if not is_missing(recommended.get("precision")) and not is_missing(recommended.get("recall")):
                self.marker.set_data([recommended["recall"]], [recommended["precision"]])
                self.pr_legend.texts[0].set_text(text)
                pr_order.append(self.marker)
                pr_after.append(self.pr_legend)
        self.suptitle.set_text(title)
        renderer = self.renderer
        renderer.restore_region(self.background)
        for axes, order, after in (
            (self.pr, pr_order, pr_after),
            (self.by_threshold, by_threshold_order, by_threshold_after),
        ):
            for artist in [*order, *axes.spines.values(), *after]:  # as Axes.draw: zorder 2, 2.5, 3, 5
                artist.draw(renderer)
        self._draw_unchanging_legend()
        self.suptitle.draw(renderer)
        temporary = path.with_name(path.name + ".tmp")
        image.imsave(
            temporary, self.canvas.buffer_rgba(), format="png", origin="upper", dpi=DPI, metadata=None
        )
        os.replace(temporary, path)  # replaced, never written into: the old run folder's file stays as it was

    def _draw_unchanging_legend(self) -> None:
        """The second Axes' legend: laid out by Legend.draw once, then only its handles and texts drawn
        (Legend.draw would compute the same layout, from the same texts, for every label)."""
        if self.legend_leaves is not None:
            for artist in self.legend_leaves:
                artist.draw(self.renderer)
            return
        self.by_threshold_legend.draw(self.renderer)
        self.legend_leaves = _legend_leaves(self.by_threshold_legend)


def _legend_leaves(legend: Legend) -> list[Artist] | None:
    """What Legend.draw draws, in its order, once laid out: its handles' artists and its texts; None
    for a legend with anything else in it (a frame, a kind of box this does not know), drawn whole."""
    from matplotlib.offsetbox import DrawingArea, HPacker, TextArea, VPacker

    leaves: list[Artist] = []

    def walk(box: Artist) -> bool:
        if type(box) is TextArea:
            leaves.append(box._text)
        elif type(box) is DrawingArea and not box._clip_children:
            leaves.extend(box.get_children())
        elif type(box) in (HPacker, VPacker):
            return all(walk(child) for child in box.get_visible_children())
        else:
            return False
        return True

    if legend.legendPatch.get_visible() or legend.shadow or not walk(legend._legend_box):
        return None
    return leaves


class Frames:
    """The frames of one batch of PNGs, one per threshold axis, made when first needed."""

    def __init__(self) -> None:
        self._frames: dict[float | None, _Frame] = {}

    def prepare(self) -> None:
        """Make the linear axis' frame (every run's global.png has one) before any PNG is asked for:
        the plots' process does it while it waits (matplotlib's import, the background's first draw)."""
        if None not in self._frames:
            self._frames[None] = _Frame(None)

    def save(
        self,
        path: Path,
        title: str,
        curve: pd.DataFrame,
        grid: pd.DataFrame,
        recommended: dict[str, Any],
        curve_from_grid: bool = False,
    ) -> None:
        """Write one PNG: plots._draw's figure for these rows, saved at 90 dpi."""
        lowest = low_axis(curve, curve_from_grid)
        if lowest not in self._frames:
            self._frames[lowest] = _Frame(lowest)
        self._frames[lowest].save(path, title, curve, grid, recommended, curve_from_grid)
