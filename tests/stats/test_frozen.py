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
        "label_idx": np.array([0, 1, 1]),
        "image_idx": np.array([0, 0, 2]),
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
    base = np.array([0, 0, 2, 9])
    given["image_idx"] = base[:3]
    pairs = ScoredPairs(**given, take_arrays=True)
    assert pairs.image_idx is not given["image_idx"] and base.flags.writeable
