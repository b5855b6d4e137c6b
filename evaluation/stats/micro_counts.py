"""Counts over every scored pair that the grid and the global curve start from, a block of pairs at a
time: at a million images 28 million pairs, whose full-length 64-bit temporaries (bins, cells, the
sorted confidences and their running sum) came to 0.2 GB each at once; and the blocks of whole labels
average precision sums over."""

from __future__ import annotations

import numpy as np

PAIRS_PER_BLOCK = 1 << 20  # pairs read at a time (8 MB per 64-bit array)


def block_counts(values: np.ndarray, minlength: int) -> np.ndarray:
    """``np.bincount(values, minlength=minlength)`` a block at a time: bincount first copies narrower
    integers (the sorted entries' int8 groups) to int64, 0.2 GB at 28 million pairs; the same counts."""
    counts = np.zeros(minlength, dtype=np.intp)
    for start in range(0, values.shape[0], PAIRS_PER_BLOCK):
        found = np.bincount(values[start : start + PAIRS_PER_BLOCK], minlength=minlength)
        if found.size > counts.size:  # a value at or past minlength: the counts grow as bincount's
            found[: counts.size] += counts
            counts = found
        else:
            counts[: found.size] += found
    return counts


def grid_cells(
    label_idx: np.ndarray, confidence: np.ndarray, is_true: np.ndarray, grid: np.ndarray, n_labels: int
) -> tuple[np.ndarray, np.ndarray]:
    """(tp, fp) per (label, grid bin), shape (n_labels, len(grid)): each pair counted once in the bin of
    the highest grid value at or below its confidence (none when below every grid value)."""
    n_grid = grid.shape[0]
    tp = np.zeros(n_labels * n_grid, dtype=np.int64)
    fp = np.zeros(n_labels * n_grid, dtype=np.int64)
    for start in range(0, confidence.shape[0], PAIRS_PER_BLOCK):
        block = slice(start, start + PAIRS_PER_BLOCK)
        grid_bin = np.searchsorted(grid, confidence[block], side="right") - 1  # highest grid value <= it
        reached = grid_bin >= 0
        cell = label_idx[block][reached] * np.int64(n_grid) + grid_bin[reached]
        truth = is_true[block][reached]
        tp += np.bincount(cell[truth], minlength=n_labels * n_grid)
        fp += np.bincount(cell[~truth], minlength=n_labels * n_grid)
    return tp.reshape(n_labels, n_grid), fp.reshape(n_labels, n_grid)


def distinct_points(
    confidence: np.ndarray, is_true: np.ndarray, order: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Over the pairs in `order` (confidence descending), at the last pair of each run of equal
    confidences: (its confidence, its position in `order`, true pairs up to it)."""
    thresholds, points, running = [], [], []
    total = order.shape[0]
    true_before = 0
    for start in range(0, total, PAIRS_PER_BLOCK):
        rows = order[start : start + PAIRS_PER_BLOCK]
        value = confidence[rows]
        true_so_far = np.cumsum(is_true[rows], dtype=np.int64)
        true_so_far += true_before
        true_before = int(true_so_far[-1])
        run_end = np.ones(value.shape[0], dtype=bool)
        run_end[:-1] = value[1:] != value[:-1]
        if start + PAIRS_PER_BLOCK < total:  # the block's last pair against the next block's first
            run_end[-1] = value[-1] != confidence[order[start + PAIRS_PER_BLOCK]]
        ends = np.flatnonzero(run_end)
        thresholds.append(value[ends])
        running.append(true_so_far[ends])
        points.append(ends + start)
    return (
        np.concatenate([np.zeros(0, confidence.dtype), *thresholds]),
        np.concatenate([np.zeros(0, np.int64), *points]),
        np.concatenate([np.zeros(0, np.int64), *running]),
    )


def label_blocks(label_codes: np.ndarray, n_labels: int, rows: int) -> list[slice]:
    """Spans of whole labels of at most `rows` points together (a longer label alone), over points
    sorted by label: a sum per label over a block runs over the same points, in the same order."""
    # where each label's points end (a bincount would copy read-only codes, as a cached sweep's are)
    ends = np.searchsorted(label_codes, np.arange(n_labels), side="right")
    blocks, start = [], 0
    while start < label_codes.shape[0]:
        stop = int(ends[np.searchsorted(ends, start + rows, side="right") - 1])
        if stop <= start:  # the next label alone
            stop = int(ends[np.searchsorted(ends, start, side="right")])
        blocks.append(slice(start, stop))
        start = stop
    return blocks


def keys_increase(image_idx: np.ndarray, label_idx: np.ndarray, n_labels: int) -> bool:
    """Whether the pairs' keys image * n_labels + label strictly increase (then no pair repeats), a block
    at a time: no key per pair, nor a sorted copy of them (0.7 GB at 28 million pairs)."""
    last = None
    for start in range(0, image_idx.shape[0], PAIRS_PER_BLOCK):
        key = image_idx[start : start + PAIRS_PER_BLOCK] * np.int64(n_labels)
        key += label_idx[start : start + PAIRS_PER_BLOCK]
        if (last is not None and key[0] <= last) or not (key[1:] > key[:-1]).all():
            return False
        last = key[-1]
    return True
