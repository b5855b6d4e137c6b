"""The PNGs drawn on reused frames (png_frames) are byte for byte those a new figure per plot drew."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from evaluation.reports import plots
from tests.reports import plots_reference
from tests.support.runs import synthetic_result


def _pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGBA"))


def _variants(planned: list[plots._Plot]) -> list[plots._Plot]:
    """The planned PNGs and the unusual ones, interleaved so a frame is reused after each kind."""
    first, second = planned[0], planned[1]
    curve, grid = first.curve, first.grid
    holes = curve.copy()
    holes.loc[holes.index[::3], "precision"] = np.nan  # undefined precision: left out of the PR curve
    grid_holes = grid.copy()
    grid_holes.loc[grid_holes.index[-10:], ["precision", "f1"]] = np.nan  # nothing predicted up there
    low = curve.assign(threshold=curve["threshold"] / 20)  # confidences near 0: a log axis
    lower = curve.assign(threshold=curve["threshold"] / 900)
    unknown = {**first.recommended, "precision": np.nan}
    unusual = [
        replace(first, title="empty (support 0, AP -)", curve=curve.iloc[0:0]),
        replace(first, title="holes $x_1$ 50% _under_ {braces}", curve=holes, grid=grid_holes),
        replace(second, recommended={**second.recommended, "threshold": np.nan}),
        replace(first, recommended=unknown),
        replace(first, curve=low, recommended={**first.recommended, "threshold": 2.5, "threshold_low": 2.4}),
        replace(second, curve=lower, recommended={**second.recommended, "threshold": 0.05}),
        replace(first, curve=low, recommended={**first.recommended, "threshold": np.nan}),
        replace(second, recommended={**second.recommended, "threshold": 100.0, "recall": 0.0}),
        replace(first, recommended={**first.recommended, "threshold": 0.0, "recall": 1.0, "precision": 1.0}),
        replace(second, title="x" * 300),  # wider than the figure
    ]
    mixed: list[plots._Plot] = []
    for index, plot in enumerate(planned):
        mixed.append(plot)
        mixed.extend(unusual[index :: len(planned)])
    return [replace(plot, path=Path(f"{index:03d}.png")) for index, plot in enumerate(mixed)]


@pytest.mark.parametrize("n_images", [60, 400])
def test_reused_frames_draw_the_same_pngs_as_a_figure_per_plot(tmp_path: Path, n_images: int) -> None:
    labels = ["A", "B", "C", "D", "E", "F"]
    result = synthetic_result(None, labels=labels, n_images=n_images)
    planned = plots._plan(result, tmp_path, len(labels))[1]
    assert planned[-1].curve_from_grid  # global.png
    wanted = _variants(planned)
    for name in ("reference", "frames"):
        (tmp_path / name).mkdir()
    plots_reference.draw_all([replace(plot, path=tmp_path / "reference" / plot.path) for plot in wanted])
    plots._draw_all([replace(plot, path=tmp_path / "frames" / plot.path) for plot in wanted])
    assert sorted(path.name for path in (tmp_path / "frames").iterdir()) == [
        str(plot.path) for plot in wanted
    ]  # and no temporary file left
    for plot in wanted:
        reference, frames = tmp_path / "reference" / plot.path, tmp_path / "frames" / plot.path
        assert np.array_equal(_pixels(reference), _pixels(frames)), plot.title
        assert reference.read_bytes() == frames.read_bytes(), plot.title


def test_a_notebook_figure_shows_the_png_of_its_label(tmp_path: Path) -> None:
    """label_figure draws with plots._draw, the PNGs with png_frames: the two must not drift apart."""
    result = synthetic_result(None, labels=["A", "B", "C"], n_images=90)
    written = plots.write_plots(result, tmp_path)
    for position, relative in written.items():
        label = result.labels["label"].iloc[position]
        assert plots.label_figure(result, label)._repr_png_() == (tmp_path / relative).read_bytes()
    png = (tmp_path / plots.PLOTS_DIR / plots.GLOBAL_PNG).read_bytes()
    assert plots.label_figure(result)._repr_png_() == png
