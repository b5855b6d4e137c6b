"""A label's error examples: the most confident first, ties by image, found without sorting every entry."""

from __future__ import annotations

import numpy as np
import pytest

from evaluation.reports.thumbnails import _most_confident


@pytest.mark.parametrize("seed", range(20))
def test_the_examples_are_the_head_of_the_full_sort(seed: int) -> None:
    rng = np.random.default_rng(seed)
    size = int(rng.integers(0, 400))
    confidence = rng.choice(np.linspace(50, 100, int(rng.integers(1, 30))), size)  # many ties
    image = rng.permutation(size * 3)[:size]  # one entry per image within a label
    rows = np.flatnonzero(rng.random(size) < 0.6)
    for count in (0, 1, 5, 50, 1000):
        full = rows[np.lexsort((image[rows], -confidence[rows]))][:count]
        assert np.array_equal(_most_confident(rows, confidence, image, count), full)
