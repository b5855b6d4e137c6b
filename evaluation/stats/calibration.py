"""Reliability per label: does "Confidence 90" mean right 90% of the time?

Each returned (image, label) entry falls in one confidence bin; per label and bin the observed precision
(true entries / entries) with its Wilson interval is set beside the mean confidence of the bin's entries.
Only returned entries are binned: positives never returned have no confidence and are not in any bin.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from evaluation.stats.intervals import wilson_interval
from evaluation.stats.metrics import ScoredPairs

__all__ = ["CALIBRATION_COLUMNS", "reliability_table"]

# pairs binned a block at a time: at 28 million pairs, the bin, the cell and their temporaries (int64 per
# pair each) were about 0.5 GB over what the report holds, its peak memory at a million images
BLOCK = 1 << 20

CALIBRATION_COLUMNS = (
    "label",
    "bin_low",
    "bin_high",
    "predictions",
    "tp",
    "mean_confidence",
    "observed_precision",
    "precision_low",
    "precision_high",
    "gap",
)


def reliability_table(
    pairs: ScoredPairs, *, bins: int | Sequence[float] | np.ndarray = 10, level: float = 0.95
) -> pd.DataFrame:
    """One row per label per bin (every label, every bin, empty ones too): :data:`CALIBRATION_COLUMNS`,
    ready for calibration.csv.

    ``bins``: a number of equal-width bins over [floor, 100], or ascending edges (0-100). Bins are
    [bin_low, bin_high), the last one closed at 100. ``mean_confidence`` is 0-100 as Rekognition reports;
    ``observed_precision`` and its Wilson interval at ``level`` are fractions (NaN for an empty bin);
    ``gap`` = observed_precision - mean_confidence / 100 (negative: over-confident).
    """
    if isinstance(bins, (int, np.integer)):
        if bins < 1:
            raise ValueError(f"bins must be >= 1; got {bins}")
        edges = np.linspace(pairs.floor, 100.0, int(bins) + 1)
    else:
        edges = np.asarray(bins, dtype=np.float64)
        if edges.ndim != 1 or edges.size < 2 or (np.diff(edges) <= 0).any():
            raise ValueError("bins must be at least two ascending edges")
        if edges[0] > pairs.floor or edges[-1] < 100.0 or edges[0] < 0 or edges[-1] > 100:
            raise ValueError(f"bin edges must cover [floor={pairs.floor:g}, 100] within [0, 100]")
    predictions, tp, confidence_sum = _cell_sums(pairs, edges, pairs.n_labels * (edges.size - 1))
    return _table_of_sums(pairs.labels, edges, predictions, tp, confidence_sum, level)


def _table_of_sums(
    labels: Sequence[str],
    edges: np.ndarray,
    predictions: np.ndarray,
    tp: np.ndarray,
    confidence_sum: np.ndarray,
    level: float,
) -> pd.DataFrame:
    """The table from the entries, true entries and confidences' sum per (label, bin) cell."""
    n_bins, n_labels = edges.size - 1, len(labels)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_confidence = np.where(predictions > 0, confidence_sum / np.maximum(predictions, 1), np.nan)
        observed = np.where(predictions > 0, tp / np.maximum(predictions, 1), np.nan)
    low, high = wilson_interval(tp, predictions, level=level)
    return pd.DataFrame(
        {
            "label": pd.Categorical.from_codes(
                np.repeat(np.arange(n_labels), n_bins), categories=pd.Index(list(labels), dtype=object)
            ),
            "bin_low": np.tile(edges[:-1], n_labels),
            "bin_high": np.tile(edges[1:], n_labels),
            "predictions": predictions.astype(np.int64),
            "tp": tp.astype(np.int64),
            "mean_confidence": mean_confidence,
            "observed_precision": observed,
            "precision_low": low,
            "precision_high": high,
            "gap": observed - mean_confidence / 100.0,
        },
        columns=list(CALIBRATION_COLUMNS),
    )


def _cell_sums(pairs: ScoredPairs, edges: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Entries, true entries and the sum of confidences per (label, bin) cell (label * bins + bin), a block
    of pairs at a time. The confidences are added one by one in entry order into one running sum per cell
    (np.add.at), as np.bincount's weights were over all the pairs at once: the same sums, bit for bit."""
    n_bins = edges.size - 1
    predictions = np.zeros(size, dtype=np.int64)
    tp = np.zeros(size, dtype=np.int64)
    confidence_sum = np.zeros(size, dtype=np.float64)
    for start in range(0, pairs.n_pairs, BLOCK):
        part = slice(start, start + BLOCK)
        confidence = pairs.confidence[part]
        cell = np.searchsorted(edges, confidence, side="right")
        cell -= 1
        np.clip(cell, 0, n_bins - 1, out=cell)
        cell += pairs.label_idx[part] * np.int64(n_bins)
        predictions += np.bincount(cell, minlength=size)
        tp += np.bincount(cell[pairs.is_true[part]], minlength=size)
        np.add.at(confidence_sum, cell, confidence)
    return predictions, tp, confidence_sum
