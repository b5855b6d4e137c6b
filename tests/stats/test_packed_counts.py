"""Running sums of several resamples packed into one uint64 (evaluation.stats.packed_counts) against one
plain running sum per resample (the reference kept in test_running_sums): the same integers bit for bit,
for every packing (8, 4, 2 fields a word), for running sums that carry across fields and wrap, and for
whole bootstraps, where the packing must actually be used."""

from __future__ import annotations

import numpy as np
import pytest

import evaluation.stats.little_bootstraps as little_module
import evaluation.stats.packed_counts as packed_module
import evaluation.stats.resampled_curves as curves_module
from evaluation.stats.bootstrap import bootstrap_recommendations
from evaluation.stats.packed_counts import pack, packed_fields, unpack
from evaluation.stats.resampled_curves import _read_sums, _Sums
from tests.stats.test_running_sums import (
    _slow_path,
    assert_same_result,
    random_sums,
    reference_read_sums,
    simulated_pairs,
)


def _short_sums(rng: np.random.Generator, n_images: int, n_rows: int, n_sums: int, longest: int) -> _Sums:
    """Sums over runs of at most ``longest`` rows, anywhere in ``n_rows`` rows (empty ones included)."""
    start = rng.integers(0, n_rows + 1, size=n_sums)
    end = np.minimum(n_rows, start + rng.integers(0, longest + 1, size=n_sums))
    return _Sums(rows=rng.integers(0, n_images, size=n_rows), end=end, start=start)


@pytest.mark.parametrize("dtype", ["int32", "int64"])
@pytest.mark.parametrize("columns", [2, 3, 4, 5, 7, 8, 9, 26, 100])
@pytest.mark.parametrize("largest", [1, 3, 30, 1000, 70_000])
@pytest.mark.parametrize("block", [1, 7, 16_384])
def test_packed_sums_match_the_plain_running_sum(
    dtype: str, columns: int, largest: int, block: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whole-row sums (bounded by the images' totals) and short ones (bounded by their length, while
    the running sums themselves overflow their fields and the word): the same integers as unpacked."""
    monkeypatch.setattr(curves_module, "_RUNNING_SUM_CELLS", block)
    rng = np.random.default_rng(columns * 7 + largest)
    n_images = 40
    weights_t = rng.integers(0, largest + 1, size=(n_images, columns)).astype(dtype)
    weights_t[rng.integers(0, n_images), rng.integers(0, columns)] = largest
    for sums in (
        random_sums(rng, n_images, 300, 50),
        _short_sums(rng, n_images, 3000, 200, longest=3),
        _short_sums(rng, n_images, 3000, 200, longest=40),
        _Sums(rows=np.zeros(0, dtype=np.int64), end=np.zeros(3, np.int64), start=np.zeros(3, np.int64)),
    ):
        fast, slow = _read_sums(sums, weights_t), reference_read_sums(sums, weights_t)
        assert fast.dtype == slow.dtype and fast.shape == slow.shape
        assert fast.tobytes() == slow.tobytes()


def test_the_short_sums_are_packed_and_wrap() -> None:
    """The case the modular argument is for: packed 8 to a word while the running sums pass 2**64."""
    rng = np.random.default_rng(3)
    weights_t = rng.integers(0, 31, size=(40, 16)).astype(np.int32)
    sums = _short_sums(rng, 40, 3000, 200, longest=3)
    assert packed_fields(sums.longest, sums.most, weights_t) == 8
    running = np.cumsum(pack(weights_t, 8)[sums.rows].astype(object), axis=0)
    assert running.max() >= 2**64
    assert _read_sums(sums, weights_t).tobytes() == reference_read_sums(sums, weights_t).tobytes()


@pytest.mark.parametrize(
    ("weights_t", "longest", "most", "fields"),
    [
        (np.full((5, 4), 2.0), 3, 1, 1),  # floats: not packed
        (np.array([[1, -1], [0, 2]], dtype=np.int32), 1, 1, 1),  # a negative multiplicity
        (np.ones((5, 1), dtype=np.int32), 3, 1, 1),  # one column
        (np.zeros((0, 3), dtype=np.int32), 3, 1, 1),  # no images
        (np.full((5, 3), 255, dtype=np.int32), 1, 5, 8),  # every multiplicity fits a byte
        (np.full((5, 3), 256, dtype=np.int32), 1, 5, 4),  # one does not
        (np.ones((5, 3), dtype=np.int32), 70_000, 1, 8),  # long sums, bounded by the totals (5)
        (np.ones((70_000, 3), dtype=np.int32), 70_000, 1, 2),  # bounded by neither below 2**16
        (np.full((5, 3), 2**31 - 1, dtype=np.int64), 5, 5, 1),  # too large for half a word
        (np.zeros((5, 3), dtype=np.int32), 0, 0, 8),  # nothing to sum
    ],
)
def test_packed_fields(weights_t: np.ndarray, longest: int, most: int, fields: int) -> None:
    assert packed_fields(longest, most, weights_t) == fields


@pytest.mark.parametrize("fields", [2, 4, 8])
@pytest.mark.parametrize("columns", [1, 2, 3, 9, 16])
def test_unpack_inverts_pack(fields: int, columns: int) -> None:
    top = 2 ** (64 // fields) - 1
    weights_t = np.random.default_rng(columns).integers(0, top, size=(6, columns), endpoint=True)
    weights_t[0] = top
    packed = pack(weights_t, fields)
    assert packed.dtype == np.uint64 and packed.shape == (6, -(-columns // fields))
    back = unpack(np.ascontiguousarray(packed), fields, columns, np.dtype(np.int64))
    assert back.tobytes() == weights_t.astype(np.int64).tobytes()


@pytest.mark.parametrize("exact", [True, False])
def test_bootstraps_pack_and_match_the_reference(exact: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """The exact bootstrap and the little ones (their rare labels too): the packing is used (4 or 8
    resamples a word) and every result is the reference's."""
    pairs, positive_image, positive_label = simulated_pairs(1500, 4)
    arguments = dict(
        positive_image_idx=positive_image,
        positive_label_idx=positive_label,
        objective="best-f1",
        n_resamples=150,
        seed=2,
        exact=exact,
    )
    monkeypatch.setattr(little_module, "_CELLS_PER_CHUNK", 30_000)  # several chunks, odd widths
    used: list[int] = []
    real = packed_module.pack

    def counted(weights_t: np.ndarray, fields: int) -> np.ndarray:
        used.append(fields)
        return real(weights_t, fields)

    monkeypatch.setattr(curves_module, "pack", counted)
    fast = bootstrap_recommendations(pairs, **arguments)
    assert used and max(used) >= 4
    _slow_path(monkeypatch)
    assert_same_result(fast, bootstrap_recommendations(pairs, **arguments))
