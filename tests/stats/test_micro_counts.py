"""grid_cells and distinct_points, a block of pairs at a time, equal the whole-array counts they replace."""

from __future__ import annotations

import numpy as np
import pytest

from evaluation.stats import micro_counts
from evaluation.stats.curve_points import by_confidence_descending


def whole_grid_cells(label_idx, confidence, is_true, grid, n_labels):
    n_grid = grid.shape[0]
    grid_bin = np.searchsorted(grid, confidence, side="right") - 1
    reached = grid_bin >= 0
    cell = label_idx[reached] * n_grid + grid_bin[reached]
    truth = is_true[reached]
    tp = np.bincount(cell[truth], minlength=n_labels * n_grid).reshape(n_labels, n_grid)
    fp = np.bincount(cell[~truth], minlength=n_labels * n_grid).reshape(n_labels, n_grid)
    return tp, fp


def whole_distinct_points(confidence, is_true, order):
    value = confidence[order]
    running = np.cumsum(is_true[order], dtype=np.int64)
    run_end = np.ones(value.shape[0], dtype=bool)
    run_end[:-1] = value[1:] != value[:-1]
    points = np.flatnonzero(run_end)
    return value[points], points, running[points]


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("block", [1, 3, 64, 1 << 20])
def test_blocks_equal_the_whole_arrays(monkeypatch, seed, block):
    monkeypatch.setattr(micro_counts, "PAIRS_PER_BLOCK", block)
    rng = np.random.default_rng(seed)
    for size in (0, 1, 7, 500):
        n_labels = int(rng.integers(1, 6))
        label_idx = rng.integers(0, n_labels, size).astype(np.int64)
        confidence = rng.choice([10.0, 50.0, 50.5, 99.0, 100.0], size)  # runs of ties across blocks
        confidence = np.where(rng.random(size) < 0.3, rng.uniform(0, 100, size), confidence)
        is_true = rng.random(size) < 0.4
        grid = np.arange(20.0, 101.0, 10.0)
        got = micro_counts.grid_cells(label_idx, confidence, is_true, grid, n_labels)
        for found, expected in zip(
            got, whole_grid_cells(label_idx, confidence, is_true, grid, n_labels), strict=True
        ):
            assert np.array_equal(found, expected) and found.dtype == expected.dtype
        order = by_confidence_descending(confidence)
        got = micro_counts.distinct_points(confidence, is_true, order)
        for found, expected in zip(got, whole_distinct_points(confidence, is_true, order), strict=True):
            assert np.array_equal(found, expected) and found.dtype == expected.dtype


@pytest.mark.parametrize("block", [1, 2, 5, 1 << 20])
def test_keys_increase_only_without_repeats(monkeypatch, block):
    """True exactly when the keys strictly increase; then the former sort finds no repeated pair."""
    monkeypatch.setattr(micro_counts, "PAIRS_PER_BLOCK", block)
    rng = np.random.default_rng(block)
    for size in (0, 1, 2, 9, 40):
        for _ in range(20):
            key = np.sort(rng.choice(60, size, replace=rng.random() < 0.3))
            if size > 1 and rng.random() < 0.3:
                key = rng.permutation(key)
            image, label = key // 6, key % 6
            whole = np.sort(image * np.int64(6) + label, kind="stable")
            increasing = bool((np.diff(image * 6 + label) > 0).all())
            assert micro_counts.keys_increase(image, label, 6) == increasing
            if increasing:
                assert not (whole[1:] == whole[:-1]).any()
