"""The running sums taken a cache-sized block of rows at a time, and the rare labels' draws counted a
chunk at a time, against the code they replaced (kept here as the reference): the same sums, the same
generator calls in the same order, every threshold and F1 bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_array_equal

import evaluation.stats.little_bootstraps as little_module
import evaluation.stats.resampled_curves as curves_module
from evaluation.stats.bootstrap import BootstrapResult, bootstrap_recommendations
from evaluation.stats.metrics import ScoredPairs
from evaluation.stats.resampled_curves import (
    _count_dtype,
    _Entries,
    _read_sums,
    _recommendations,
    _Sums,
)
from evaluation.stats.thresholds import Objective
from tests.support.scored import simulated_run

# ------------------------------------------------------------------ the reference (the former code path)


def reference_read_sums(sums: _Sums, weights_t: np.ndarray) -> np.ndarray:
    """One running sum down every row at once."""
    running = np.empty((sums.rows.shape[0] + 1, weights_t.shape[1]), dtype=weights_t.dtype)
    running[0] = 0
    np.take(weights_t, sums.rows, axis=0, out=running[1:], mode="clip")
    np.cumsum(running, axis=0, dtype=running.dtype, out=running)
    out = running[sums.end]
    out -= running[sums.start]
    return out


def reference_rare_exactly(
    entries: _Entries,
    rare: np.ndarray,
    objective: Objective,
    n_images: int,
    n_resamples: int,
    stream: np.random.SeedSequence,
    order: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Each resample's counts written column by column."""
    pair_rare = rare[entries.label]
    positive_rare = rare[entries.positive_label]
    images = np.unique(np.concatenate([entries.image[pair_rare], entries.positive_image[positive_rare]]))
    rank = np.empty(n_images, dtype=np.int64)
    rank[order] = np.arange(n_images)
    canonical = np.argsort(rank[images], kind="stable")
    sub = _Entries(
        image=np.searchsorted(images, entries.image[pair_rare]),
        label=entries.label[pair_rare],
        confidence=entries.confidence[pair_rare],
        is_true=entries.is_true[pair_rare],
        positive_image=np.searchsorted(images, entries.positive_image[positive_rare]),
        positive_label=entries.positive_label[positive_rare],
        n_labels=entries.n_labels,
    )
    curves = sub.curves(with_global=False)
    dtype = _count_dtype(entries.image, n_images)
    rng = np.random.default_rng(stream)
    k = images.size
    thresholds, f1s = [], []
    size = max(1, min(n_resamples, little_module._CELLS_PER_CHUNK // max(sub.cells, 1)))
    for start in range(0, n_resamples, size):
        columns = min(size, n_resamples - start)
        weights_t = np.zeros((k, columns), dtype=dtype)
        for column in range(columns):
            landed = rng.binomial(n_images, k / n_images)
            weights_t[canonical, column] = np.bincount(rng.integers(0, k, size=landed), minlength=k)
        per_label, _ = _recommendations(curves, sub, objective, weights_t)
        assert per_label is not None
        thresholds.append(per_label[0])
        f1s.append(per_label[1])
    return np.concatenate(thresholds), np.concatenate(f1s)


# ------------------------------------------------------------------ inputs


def simulated_pairs(
    n_images: int, seed: int, prevalence: tuple[float, ...] = (0.4, 0.1, 0.02, 0.005, 0.004, 0.0)
) -> tuple[ScoredPairs, np.ndarray, np.ndarray]:
    """Labels from common to rare; the second to last rare one never returned (positives only), the last
    with no positive (returned, never true); confidences on a 0.5 grid (ties)."""
    never = len(prevalence) - 2 if len(prevalence) > 2 else None
    return simulated_run(n_images, seed, prevalence, never_returned=never)


def random_sums(rng: np.random.Generator, n_images: int, n_rows: int, n_sums: int) -> _Sums:
    """Sums over runs of rows (empty ones, the whole rows, ends at the last row included)."""
    end = rng.integers(0, n_rows + 1, size=n_sums)
    start = np.minimum(end, rng.integers(0, n_rows + 1, size=n_sums))
    if n_sums >= 2:
        end[:2], start[:2] = n_rows, [0, n_rows]
    return _Sums(rows=rng.integers(0, n_images, size=n_rows), end=end, start=start)


# ------------------------------------------------------------------ tests


@pytest.mark.parametrize("kind", ["int32", "int64", "scaled", "float"])
@pytest.mark.parametrize("block", [1, 3, 40, 997, curves_module._RUNNING_SUM_CELLS])
def test_read_sums_in_blocks_match_one_running_sum(
    kind: str, block: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Integer sums and floating ones (a little bootstrap's centre weighs images by n/b: the adds'
    order matters there) alike: the same numbers, for any block size, including no rows at all."""
    monkeypatch.setattr(curves_module, "_RUNNING_SUM_CELLS", block)
    rng = np.random.default_rng(block)
    for n_rows, columns in [(0, 5), (1, 1), (7, 13), (1000, 1), (2500, 13), (300, 40)]:
        n_images = 50
        if kind in ("int32", "int64"):
            weights_t = rng.integers(0, 4, size=(n_images, columns)).astype(kind)
        elif kind == "scaled":
            weights_t = np.full((n_images, columns), 1500 / 167)
        else:
            weights_t = rng.random((n_images, columns)) * (rng.random((n_images, 1)) < 0.8)
        sums = random_sums(rng, n_images, n_rows, 60)
        fast, slow = _read_sums(sums, weights_t), reference_read_sums(sums, weights_t)
        assert fast.dtype == slow.dtype and fast.shape == slow.shape
        assert fast.tobytes() == slow.tobytes()


def _slow_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """The reference running sums (one plain cumsum, not packed) and the reference rare labels."""
    monkeypatch.setattr(curves_module, "packed_fields", lambda longest, most, weights_t: 1)
    monkeypatch.setattr(
        curves_module,
        "_read_packed",
        lambda sums, _packed, _fields, weights_t: reference_read_sums(sums, weights_t),
    )
    monkeypatch.setattr(curves_module, "_read_sums", reference_read_sums)
    monkeypatch.setattr(little_module, "_rare_exactly", reference_rare_exactly)


def assert_same_result(fast: BootstrapResult, slow: BootstrapResult) -> None:
    assert fast.method == slow.method
    for name in ("threshold", "f1", "global_threshold", "global_f1"):
        assert getattr(fast, name).tobytes() == getattr(slow, name).tobytes()
    if fast.little is not None:
        for name in (
            "subset",
            "centre_threshold",
            "centre_f1",
            "centre_global_threshold",
            "centre_global_f1",
            "full_threshold",
            "full_f1",
            "exact_label",
        ):
            assert_array_equal(getattr(fast.little, name), getattr(slow.little, name))
    assert fast.per_label().equals(slow.per_label())
    assert fast.global_interval() == slow.global_interval()


@pytest.mark.parametrize(
    "objective", ["best-f1", "recall-at-precision:0.6:certain", "precision-at-recall:0.5"]
)
@pytest.mark.parametrize(("n_images", "seed", "keys"), [(1500, 0, False), (1530, 1, True), (2000, 7, False)])
def test_little_bootstraps_match_the_reference(
    objective: str, n_images: int, seed: int, keys: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bag of little bootstraps with its rare labels (one of them never returned; a label with no
    positive beside them), in several chunks and blocks of a few rows, then through the reference."""
    pairs, positive_image, positive_label = simulated_pairs(n_images, seed)
    arguments = dict(
        positive_image_idx=positive_image,
        positive_label_idx=positive_label,
        objective=objective,
        n_resamples=130,
        seed=seed + 11,
        exact=False,
        image_keys=np.random.default_rng(seed).permutation(n_images) if keys else None,
    )
    monkeypatch.setattr(little_module, "_CELLS_PER_CHUNK", 20_000)  # several chunks
    monkeypatch.setattr(curves_module, "_RUNNING_SUM_CELLS", 97)  # many blocks
    fast = bootstrap_recommendations(pairs, **arguments)
    assert fast.method is not None and fast.method.little and fast.method.exact_labels >= 3
    _slow_path(monkeypatch)
    assert_same_result(fast, bootstrap_recommendations(pairs, **arguments))


@pytest.mark.parametrize("seed", [0, 3])
def test_only_rare_labels_and_the_smallest_inputs_match_the_reference(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every label rare (as at 10,000 images, where the rare path is nearly the whole bootstrap); a rare
    label whose positives sit on one image; the exact bootstrap of one image and of two."""
    cases = [
        (3000, (0.01, 0.005, 0.003, 0.002), False),
        (2, (0.5, 0.5), True),
        (1, (1.0, 0.0), True),
    ]
    for n_images, prevalence, exact in cases:
        pairs, positive_image, positive_label = simulated_pairs(n_images, seed, prevalence)
        arguments = dict(
            positive_image_idx=positive_image,
            positive_label_idx=positive_label,
            objective="best-f1",
            n_resamples=101,
            seed=seed,
            exact=exact,
        )
        monkeypatch.setattr(little_module, "_CELLS_PER_CHUNK", 5_000)
        monkeypatch.setattr(curves_module, "_RUNNING_SUM_CELLS", 50)
        fast = bootstrap_recommendations(pairs, **arguments)
        with monkeypatch.context() as patched:
            _slow_path(patched)
            assert_same_result(fast, bootstrap_recommendations(pairs, **arguments))


@pytest.mark.parametrize("n_images", [1, 5, 400])
def test_rare_exactly_matches_the_reference_directly(n_images: int) -> None:
    """_rare_exactly itself, on one image and a few: the same arrays from the same stream."""
    pairs, positive_image, positive_label = simulated_pairs(n_images, 5, (1.0, 0.3, 0.0))
    by_label = np.argsort(positive_label, kind="stable")
    entries = _Entries(
        image=pairs.image_idx,
        label=pairs.label_idx,
        confidence=pairs.confidence,
        is_true=pairs.is_true,
        positive_image=positive_image[by_label],
        positive_label=positive_label[by_label],
        n_labels=pairs.n_labels,
    )
    rare = pairs.support > 0
    assert rare.any()
    order = np.random.default_rng(n_images).permutation(n_images)
    arguments = (entries, rare, Objective.parse("best-f1"), n_images, 77)
    fast = little_module._rare_exactly(*arguments, np.random.SeedSequence(9), order)
    slow = reference_rare_exactly(*arguments, np.random.SeedSequence(9), order)
    for new, old in zip(fast, slow, strict=True):
        assert new.tobytes() == old.tobytes()


@pytest.mark.parametrize(
    "objective", ["best-f1", "recall-at-precision:0.6:certain", "precision-at-recall:0.5"]
)
@pytest.mark.parametrize("seed", [0, 3])
def test_every_label_rare_skips_the_subsets_labels(
    objective: str, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every label rare: the subsets recommend on the global curve only, and every resample, interval
    and global figure is the same as with the subsets' per-label recommendations (the former code,
    which computed them only for the rare labels' exact bootstrap to replace them)."""
    pairs, positive_image, positive_label = simulated_pairs(3000, seed, (0.01, 0.005, 0.003, 0.002))
    arguments = dict(
        positive_image_idx=positive_image,
        positive_label_idx=positive_label,
        objective=objective,
        n_resamples=230,
        seed=seed,
        exact=False,
    )
    monkeypatch.setattr(little_module, "_CELLS_PER_CHUNK", 5_000)
    fast = bootstrap_recommendations(pairs, **arguments)
    assert fast.method is not None and fast.method.exact_labels == pairs.n_labels
    assert fast.little is not None and np.isnan(fast.little.centre_threshold).all()
    monkeypatch.setattr(little_module, "_per_label_subsets", lambda rare: True)
    slow = bootstrap_recommendations(pairs, **arguments)
    assert slow.little is not None and not np.isnan(slow.little.centre_threshold).all()
    for name in ("threshold", "f1", "global_threshold", "global_f1"):
        assert getattr(fast, name).tobytes() == getattr(slow, name).tobytes()
    for name in ("centre_global_threshold", "centre_global_f1", "full_threshold", "full_f1", "exact_label"):
        assert getattr(fast.little, name).tobytes() == getattr(slow.little, name).tobytes()
    fast_table, slow_table = fast.per_label(), slow.per_label()
    assert fast_table.equals(slow_table)
    for column in fast_table.columns[1:]:
        assert fast_table[column].to_numpy().tobytes() == slow_table[column].to_numpy().tobytes()
    assert fast.global_interval() == slow.global_interval()
