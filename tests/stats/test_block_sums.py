"""The reliability table's sums and the curves' per-group counts a block of pairs at a time (issue 19:
the table's full-length int64 temporaries were the report's peak memory at a million images), each
against the whole-array code it replaces: the same numbers, bit for bit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from evaluation.stats import calibration
from evaluation.stats.calibration import reliability_table
from evaluation.stats.metrics import ScoredPairs
from evaluation.stats.micro_counts import block_counts


def _reference_table(pairs: ScoredPairs, edges: np.ndarray, level: float = 0.95) -> pd.DataFrame:
    """reliability_table as it was, its cells' sums over every pair at once (np.bincount's weights)."""
    n_bins, n_labels = edges.size - 1, pairs.n_labels
    which = np.clip(np.searchsorted(edges, pairs.confidence, side="right") - 1, 0, n_bins - 1)
    cell = pairs.label_idx * n_bins + which
    size = n_labels * n_bins
    predictions = np.bincount(cell, minlength=size)
    tp = np.bincount(cell[pairs.is_true], minlength=size)
    confidence_sum = np.bincount(cell, weights=pairs.confidence, minlength=size)
    return calibration._table_of_sums(pairs.labels, edges, predictions, tp, confidence_sum, level)


def _pairs(seed: int, n_images: int, n_labels: int, floor: float) -> ScoredPairs:
    rng = np.random.default_rng(seed)
    returned = rng.random((n_images, n_labels)) < 0.3
    image, label = np.nonzero(returned)
    # confidences with many digits (sums that round differently in another order), some on the edges
    confidence = rng.uniform(floor, 100.0, image.size)
    confidence[rng.random(image.size) < 0.1] = floor
    confidence[rng.random(image.size) < 0.05] = 100.0
    confidence[rng.random(image.size) < 0.05] = np.round(confidence[: image.size], 0).clip(floor, 100)[0]
    is_true = rng.random(image.size) < 0.4
    support = np.bincount(label[is_true], minlength=n_labels) + rng.integers(0, 3, n_labels)
    support = np.minimum(support, n_images)
    labels = tuple(f"L{index}" for index in range(n_labels))
    return ScoredPairs(labels, n_images, support, label, image, confidence, is_true, floor=floor)


@pytest.mark.parametrize("block", [1, 7, 64, 1 << 20])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_reliability_table_a_block_at_a_time_is_the_whole_arrays_table(monkeypatch, block, seed):
    pairs = _pairs(seed, n_images=300, n_labels=9, floor=[0.0, 50.0, 12.5][seed])
    bins_of = [10, 3, np.array([0.0, 50.0, 55.5, 80.0, 99.9, 100.0])]
    monkeypatch.setattr(calibration, "BLOCK", block)
    for bins in bins_of:
        edges = np.linspace(pairs.floor, 100.0, bins + 1) if isinstance(bins, int) else bins
        got = reliability_table(pairs, bins=bins, level=0.9)
        want = _reference_table(pairs, edges, level=0.9)
        pd.testing.assert_frame_equal(got, want, check_exact=True)
        for name in ("mean_confidence", "gap", "precision_low"):  # bit for bit, NaNs where they were
            assert got[name].to_numpy().tobytes() == want[name].to_numpy().tobytes()


def test_reliability_table_of_no_pairs_and_no_labels(monkeypatch):
    monkeypatch.setattr(calibration, "BLOCK", 4)
    empty = ScoredPairs(("a", "b"), 3, np.array([1, 0]), [], [], [], np.zeros(0, bool))
    pd.testing.assert_frame_equal(reliability_table(empty), _reference_table(empty, np.linspace(0, 100, 11)))
    none = ScoredPairs((), 3, np.zeros(0, np.int64), [], [], [], np.zeros(0, bool))
    pd.testing.assert_frame_equal(reliability_table(none), _reference_table(none, np.linspace(0, 100, 11)))


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.int32, np.int64])
def test_block_counts_are_bincounts(monkeypatch, dtype):
    from evaluation.stats import micro_counts

    rng = np.random.default_rng(3)
    monkeypatch.setattr(micro_counts, "PAIRS_PER_BLOCK", 5)
    for size, high, minlength in [(0, 1, 0), (0, 1, 4), (23, 1, 1), (101, 9, 3), (101, 9, 12), (64, 40, 40)]:
        values = np.sort(rng.integers(0, high, size)).astype(dtype)
        for shuffled in (values, rng.permutation(values)):
            got = block_counts(shuffled, minlength)
            want = np.bincount(shuffled, minlength=minlength)
            assert got.dtype == want.dtype
            np.testing.assert_array_equal(got, want)
