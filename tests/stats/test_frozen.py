"""ScoredPairs copies the arrays it is given, or with take_arrays makes the caller's own read-only."""

from __future__ import annotations

import numpy as np
import pytest

from evaluation.stats.metrics import ScoredPairs


def _fields() -> dict:
    return {
        "labels": ("A", "B"),
        "n_images": 3,
        "support": np.array([1, 1]),
        "label_idx": np.array([0, 1, 1], dtype=np.int32),
        "image_idx": np.array([0, 0, 2], dtype=np.int32),  # held as int32: taken as it is
        "confidence": np.array([90.0, 50.0, 70.0]),
        "is_true": np.array([True, False, True]),
    }


@pytest.mark.parametrize("take", [False, True])
def test_the_arrays_are_read_only_copies_unless_taken(take: bool) -> None:
    given = _fields()
    pairs = ScoredPairs(**given, take_arrays=take)
    for name in ("support", "label_idx", "image_idx", "confidence", "is_true"):
        held = getattr(pairs, name)
        assert not held.flags.writeable and np.array_equal(held, given[name])
        assert (held is given[name]) == take
        assert given[name].flags.writeable != take


def test_a_view_is_copied_even_when_taken() -> None:
    given = _fields()
    base = np.array([0, 0, 2, 9], dtype=np.int32)
    given["image_idx"] = base[:3]
    pairs = ScoredPairs(**given, take_arrays=True)
    assert pairs.image_idx is not given["image_idx"] and base.flags.writeable


def test_image_and_label_indices_are_held_in_32_bits_when_they_fit() -> None:
    """0.1 GB less each at 28 million pairs; the same values, int64 where an index could pass 2**31 - 1."""
    given = _fields()
    given["image_idx"] = np.array([0, 0, 2], dtype=np.int64)
    given["label_idx"] = np.array([0, 1, 1], dtype=np.int64)
    for take in (False, True):
        pairs = ScoredPairs(**given, take_arrays=take)
        assert pairs.image_idx.dtype == np.int32 and np.array_equal(pairs.image_idx, given["image_idx"])
        assert pairs.label_idx.dtype == np.int32 and np.array_equal(pairs.label_idx, given["label_idx"])
        assert not pairs.image_idx.flags.writeable and given["image_idx"].flags.writeable
    assert ScoredPairs(**{**given, "n_images": 2**31}).image_idx.dtype == np.int32
    assert ScoredPairs(**{**given, "n_images": 2**31 + 1}).image_idx.dtype == np.int64
    for given_dtype in (np.uint8, np.int16, np.uint64):
        pairs = ScoredPairs(**{**given, "image_idx": given["image_idx"].astype(given_dtype)})
        assert pairs.image_idx.dtype == np.int32
    empty = ScoredPairs(("A",), 0, np.array([0]), [], [], [], np.zeros(0, bool))
    assert empty.image_idx.dtype == np.int32 and empty.label_idx.dtype == np.int32
    with pytest.raises(ValueError, match="image_idx must be in"):
        ScoredPairs(**{**given, "image_idx": np.array([0, 0, 3])})
