"""The scores frame (scores.parquet), built dropping each array the size of the pairs once used and
without copying the columns, against the former construction kept here: the same frame, bit for bit."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import pytest

from evaluation.analysis.score_table import scores_frame as _scores
from evaluation.stats.metrics import ScoredPairs
from tests.support.scored import pairs_of


def former_scores(
    pairs: ScoredPairs, positives: tuple[np.ndarray, np.ndarray] | None, images: Sequence[str]
) -> pd.DataFrame | None:
    if positives is None:
        return None
    n_labels = max(pairs.n_labels, 1)
    returned = pairs.image_idx.astype(np.int64) * n_labels + pairs.label_idx
    truth = np.asarray(positives[0], dtype=np.int64) * n_labels + np.asarray(positives[1], dtype=np.int64)
    codes = np.concatenate([returned, truth])
    codes.sort()
    codes = codes[np.r_[True, codes[1:] != codes[:-1]]] if codes.size else codes
    confidence = np.full(codes.shape[0], np.nan)
    confidence[np.searchsorted(codes, returned)] = pairs.confidence
    truth.sort()
    at = np.minimum(np.searchsorted(truth, codes), max(truth.size - 1, 0))
    positive = (truth[at] == codes) if truth.size else np.zeros(codes.shape[0], dtype=bool)
    names = pd.Index(images, dtype=object)
    image_of = codes // n_labels
    return pd.DataFrame(
        {
            "image": names[image_of] if names.has_duplicates else pd.Categorical.from_codes(image_of, names),
            "label": pd.Categorical.from_codes(codes % n_labels, pd.Index(pairs.labels, dtype=object)),
            "confidence": confidence,
            "positive": positive.astype(np.int8),
        }
    )


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("duplicate_names", [False, True])
def test_the_scores_frame_is_the_former_one(seed: int, duplicate_names: bool) -> None:
    rng = np.random.default_rng(seed)
    n_images, n_labels = 70, 6
    truth = rng.random((n_images, n_labels)) < 0.3
    returned = rng.random(truth.shape) < np.where(truth, 0.8, 0.3)
    image_idx, label_idx = np.nonzero(returned)
    confidence = np.round(rng.uniform(50, 100, image_idx.size), 1)
    pairs = pairs_of(truth, image_idx, label_idx, confidence, floor=50.0)
    positives = np.nonzero(truth)
    names = [f"img{i % 50 if duplicate_names else i}.jpg" for i in range(n_images)]
    cases = [positives, (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))]
    if seed == 0:
        cases = cases[:1]
    for case in cases:
        if case[0].size == 0:
            pairs = pairs_of(np.zeros_like(truth), image_idx, label_idx, confidence, floor=50.0)
        new, old = _scores(pairs, case, names), former_scores(pairs, case, names)
        assert new is not None and old is not None
        assert new.equals(old) and list(new.dtypes) == list(old.dtypes)
        for name in ("image", "label"):  # the codes' own dtype (parquet's dictionary indices)
            if isinstance(old[name].dtype, pd.CategoricalDtype):
                assert new[name].cat.codes.dtype == old[name].cat.codes.dtype
        assert np.array_equal(
            new["confidence"].to_numpy().view(np.int64), old["confidence"].to_numpy().view(np.int64)
        )
        new.loc[0, "confidence"] = 1.0  # the frame's own arrays


@pytest.mark.parametrize(("n_images", "n_labels"), [(40, 130), (200, 3), (33_000, 2)])
def test_the_codes_are_made_in_the_dtype_pandas_holds(n_images: int, n_labels: int) -> None:
    """int8 / int16 / int32 codes on either side of pandas' bounds: the former frame's, no copy of them."""
    rng = np.random.default_rng(n_images)
    truth = rng.random((n_images, n_labels)) < 0.2
    image_idx, label_idx = np.nonzero(rng.random(truth.shape) < np.where(truth, 0.8, 0.2))
    confidence = np.round(rng.uniform(50, 100, image_idx.size), 2)
    pairs = pairs_of(truth, image_idx, label_idx, confidence, floor=50.0)
    names = [f"img{i}.jpg" for i in range(n_images)]
    new, old = _scores(pairs, np.nonzero(truth), names), former_scores(pairs, np.nonzero(truth), names)
    assert new is not None and old is not None and new.equals(old)
    for name in ("image", "label"):
        assert new[name].cat.codes.dtype == old[name].cat.codes.dtype
