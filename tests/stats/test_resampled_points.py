"""The resampled curves' fast path (only the candidate points, each count from the one running sum it
needs) against the straightforward one it replaced, kept here as the reference: every threshold and F1
bit for bit, for every objective, on the exact bootstrap and the bag of little bootstraps."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_array_equal

import evaluation.stats.bootstrap as bootstrap_module
import evaluation.stats.little_bootstraps as little_module
from evaluation.stats.bootstrap import BootstrapResult, bootstrap_recommendations
from evaluation.stats.intervals import wilson_interval
from evaluation.stats.metrics import ScoredPairs
from evaluation.stats.resampled_curves import (
    _by_confidence_descending,
    _Curve,
    _Entries,
    _positive_pairs,
    _recommendations,
    _sum_rows_by_group,
)
from evaluation.stats.thresholds import Objective
from tests.support.scored import simulated_run

OBJECTIVES = [
    "best-f1",
    "recall-at-precision:0.6",
    "recall-at-precision:0.9",
    "precision-at-recall:0.5",
    "precision-at-recall:1",
    "recall-at-precision:0.5:certain",
    "recall-at-precision:0.6:certain@0.8",
    "precision-at-recall:0.4:certain",
    "precision-at-recall:0.7:certain@0.8",
]


# ------------------------------------------------------------------ the reference (the former code path)


def _running_before(running: np.ndarray, start: np.ndarray) -> np.ndarray:
    if running.shape[0] == 0:
        return np.zeros((len(start), *running.shape[1:]), dtype=running.dtype)
    before = running[np.maximum(start - 1, 0)]
    before[start == 0] = 0.0
    return before


def reference_points(curve: _Curve, weights_t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(tp, predicted) at every point: running sums over every entry."""
    entry_weight = weights_t[curve.image]
    tp_running = entry_weight * curve.is_true[:, None]
    np.cumsum(tp_running, axis=0, dtype=tp_running.dtype, out=tp_running)
    np.cumsum(entry_weight, axis=0, dtype=entry_weight.dtype, out=entry_weight)
    tp = tp_running[curve.points] - _running_before(tp_running, curve.group_start)[curve.point_group]
    predicted = (
        entry_weight[curve.points] - _running_before(entry_weight, curve.group_start)[curve.point_group]
    )
    return tp, predicted


def reference_select(
    curve: _Curve, objective: Objective, tp: np.ndarray, predicted: np.ndarray, support_t: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The keys evaluated at every point."""
    n_points, n_chunk = tp.shape
    point_support = support_t[curve.point_group]
    with np.errstate(invalid="ignore", divide="ignore"):
        denominator = predicted + point_support
        f1 = np.where(denominator > 0, 2.0 * tp / denominator, np.nan)
        if objective.kind == "best-f1":
            candidate = f1 > 0
            keys = [f1]
        else:
            precision = np.where(predicted > 0, tp / predicted, np.nan)
            recall = np.where(point_support > 0, tp / point_support, np.nan)
            measure = precision if objective.kind == "recall-at-precision" else recall
            if objective.certain:
                trials = predicted if objective.kind == "recall-at-precision" else point_support
                measure = wilson_interval(np.clip(tp, 0, trials), trials, level=objective.level)[0]
            candidate = measure >= objective.target
            if objective.kind == "recall-at-precision":
                candidate &= recall > 0
                keys = [recall]
            else:
                keys = [precision, recall]
    chosen = np.full((curve.n_groups, n_chunk), -1, dtype=np.int64)
    if n_points == 0:
        return chosen, np.full((curve.n_groups, n_chunk), np.nan)
    segment_of_point = np.repeat(
        np.arange(curve.segment_start.size), np.diff(np.append(curve.segment_start, n_points))
    )
    for key in keys:
        masked = np.where(candidate, key, -np.inf)
        best = np.maximum.reduceat(masked, curve.segment_start, axis=0)
        candidate &= masked == best[segment_of_point]
    position = np.where(candidate, np.arange(n_points)[:, None], n_points)
    first = np.minimum.reduceat(position, curve.segment_start, axis=0)
    chosen[curve.segment_group] = np.where(first < n_points, first, -1)
    columns = np.arange(n_chunk)[None, :]
    f1_chosen = np.where(chosen >= 0, f1[np.maximum(chosen, 0), columns], np.nan)
    return chosen, f1_chosen


def reference_recommendations(
    curves: tuple[_Curve, _Curve | None], entries: _Entries, objective: Objective, weights_t: np.ndarray
) -> list[tuple[np.ndarray, np.ndarray] | None]:
    support_t = _sum_rows_by_group(
        weights_t[entries.positive_image], entries.positive_label, entries.n_labels
    )
    results: list[tuple[np.ndarray, np.ndarray] | None] = []
    for curve, group_support in (
        (curves[0], support_t),
        (curves[1], support_t.sum(axis=0, keepdims=True)),
    ):
        if curve is None:
            results.append(None)
            continue
        tp, predicted = reference_points(curve, weights_t)
        chosen, f1 = reference_select(curve, objective, tp, predicted, group_support)
        point_confidence = curve.confidence[curve.points]
        threshold = (
            np.where(chosen >= 0, point_confidence[np.maximum(chosen, 0)], np.nan)
            if point_confidence.size
            else np.full(chosen.shape, np.nan)
        )
        predicted_any = np.zeros(group_support.shape, dtype=predicted.dtype)
        if curve.segment_start.size:
            last_point = np.append(curve.segment_start[1:], curve.points.size) - 1
            predicted_any[curve.segment_group] = predicted[last_point]
        f1 = np.where((predicted_any == 0) & (group_support > 0), 0.0, f1)
        results.append((threshold.T, f1.T))
    return results


# ------------------------------------------------------------------ data


def entries_of(image: np.ndarray, label: np.ndarray, confidence: np.ndarray, truth: np.ndarray) -> _Entries:
    """The entries (image, label) with their confidence and truth from (N, L) tables, positives by label."""
    positive_image, positive_label = np.nonzero(truth)
    by_label = np.argsort(positive_label, kind="stable")
    return _Entries(
        image=image,
        label=label,
        confidence=confidence[image, label],
        is_true=truth[image, label],
        positive_image=positive_image[by_label],
        positive_label=positive_label[by_label],
        n_labels=truth.shape[1],
    )


def random_entries(seed: int, n_images: int = 60, n_labels: int = 9) -> _Entries:
    """Ties in confidence (a coarse grid), labels from common to absent, a label returned but never a
    positive, a label with positives never returned, a label never seen at all."""
    rng = np.random.default_rng(seed)
    prevalence = np.array([0.5, 0.3, 0.1, 0.03, 0.01, 0.0, 0.2, 0.0, 0.05])[:n_labels]
    truth = rng.random((n_images, n_labels)) < prevalence
    returned = rng.random((n_images, n_labels)) < np.where(truth, 0.8, 0.4)
    returned[:, 6] = False  # positives, never returned
    returned[:, 7] = False  # nothing at all
    grid = rng.choice([1.0, 2.5, 5.0])
    confidence = np.round(np.clip(rng.normal(np.where(truth, 70, 55), 15), 0, 100) / grid) * grid
    image, label = np.nonzero(returned)
    order = rng.permutation(image.size)  # entries in no particular order
    image, label = image[order], label[order]
    return entries_of(image, label, confidence, truth)


def random_weights(rng: np.random.Generator, n_images: int, kind: str) -> np.ndarray:
    """(N, C) multiplicities: bootstrap counts (with zero-weight columns), or scaled as a little
    bootstrap's centre, or arbitrary non-negative floats."""
    columns = 13
    counts = rng.multinomial(n_images, np.full(n_images, 1.0 / n_images), size=columns).T
    counts[:, 0] = 0  # nothing drawn at all
    counts[: n_images // 2, 1] = 0  # half the images never drawn
    if kind == "int32":
        return np.ascontiguousarray(counts, dtype=np.int32)
    if kind == "int64":
        return np.ascontiguousarray(counts, dtype=np.int64)
    if kind == "scaled":  # a little bootstrap's centre: every image weighted n / b
        return np.ascontiguousarray(np.full((n_images, 3), 1.0) * np.array([1000 / 37, 10**5 / 3163, 2.0]))
    return np.ascontiguousarray(rng.random((n_images, columns)) * (rng.random((n_images, 1)) < 0.8))


def assert_same_recommendations(
    curves: tuple[_Curve, _Curve | None], entries: _Entries, objective: Objective, weights_t: np.ndarray
) -> None:
    """The same arrays, or the same error (fractional weights can round tp above its denominator)."""
    try:
        slow = reference_recommendations(curves, entries, objective, weights_t)
    except ValueError as error:
        with pytest.raises(ValueError, match=str(error)):
            _recommendations(curves, entries, objective, weights_t)
        return
    assert_same(_recommendations(curves, entries, objective, weights_t), slow)


def assert_same(new: list, old: list) -> None:
    assert len(new) == len(old)
    for fast, slow in zip(new, old, strict=True):
        if slow is None:
            assert fast is None
            continue
        for a, b in zip(fast, slow, strict=True):
            assert a.dtype == b.dtype and a.shape == b.shape
            assert_array_equal(a, b)  # NaN where NaN, every other number bit for bit


# ------------------------------------------------------------------ tests


@pytest.mark.parametrize("objective", OBJECTIVES)
@pytest.mark.parametrize("kind", ["int32", "int64", "scaled", "float"])
def test_recommendations_match_the_reference(objective: str, kind: str) -> None:
    parsed = Objective.parse(objective)
    if kind == "float" and parsed.certain and parsed.kind == "recall-at-precision":
        pytest.skip("arbitrary fractional weights are never used: Wilson bounds are monotone on counts")
    for seed in range(6):
        entries = random_entries(seed)
        weights_t = random_weights(np.random.default_rng(seed + 100), 60, kind)
        curves = entries.curves()
        assert_same_recommendations(curves, entries, parsed, weights_t)


def degenerate_entries() -> list[_Entries]:
    """No entry at all (with and without positives); entries but no positive nor true entry; one image;
    one entry."""
    empty = np.zeros(0, dtype=np.int64)
    return [
        _Entries(empty, empty, np.zeros(0), np.zeros(0, dtype=bool), np.array([0, 1]), np.array([0, 2]), 3),
        _Entries(empty, empty, np.zeros(0), np.zeros(0, dtype=bool), empty, empty, 3),
        _Entries(
            np.array([0, 1, 1]),
            np.array([0, 0, 1]),
            np.array([50.0, 50.0, 60.0]),
            np.zeros(3, dtype=bool),
            empty,
            empty,
            2,
        ),
        _Entries(
            np.array([0, 1, 1]),
            np.array([0, 0, 1]),
            np.array([50.0, 50.0, 60.0]),
            np.zeros(3, dtype=bool),
            np.array([1]),
            np.array([1]),
            2,
        ),
        _Entries(
            np.array([0, 0]),
            np.array([0, 1]),
            np.array([70.0, 70.0]),
            np.array([True, False]),
            np.array([0]),
            np.array([0]),
            2,
        ),
        _Entries(
            np.array([1]), np.array([0]), np.array([70.0]), np.array([True]), np.array([1]), np.array([0]), 1
        ),
    ]


def test_degenerate_entries_match_the_reference() -> None:
    """No entry at all; entries but no positive; one image; no true entry."""
    rng = np.random.default_rng(5)
    cases = degenerate_entries()
    for entries in cases:
        n_images = 2
        for objective in OBJECTIVES:
            parsed = Objective.parse(objective)
            for kind in ("int32", "scaled"):
                weights_t = random_weights(rng, n_images, kind)
                curves = entries.curves()
                assert_same_recommendations(curves, entries, parsed, weights_t)


def simulated_pairs(n_images: int, seed: int) -> tuple[ScoredPairs, np.ndarray, np.ndarray]:
    """Six labels from common to rare (the rare ones take the little bootstraps' exact path), one with
    no positive; confidences on a 0.5 grid (ties)."""
    return simulated_run(n_images, seed, (0.4, 0.2, 0.1, 0.02, 0.005, 0.0))


@pytest.mark.parametrize("objective", OBJECTIVES)
@pytest.mark.parametrize(("exact", "n_images"), [(True, 1500), (False, 1530), (False, 1500)])
def test_bootstraps_match_the_reference(
    objective: str, exact: bool, n_images: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The whole bootstrap (the exact one in chunks; the little bootstraps with their centres, weighted
    by n/b, and the rare labels' exact path), then again through the reference: the same arrays.

    With 1,530 images, n/b = 1530/153 is a whole number; with 1,500 it is not, and the centres' running
    sums of n/b round, so that a certain objective's tp can come out a hair above its trials: both
    clip it to the trials (this raised ValueError from wilson_interval before), so neither raises."""
    pairs, positive_image, positive_label = simulated_pairs(n_images, 3)
    arguments = dict(
        positive_image_idx=positive_image,
        positive_label_idx=positive_label,
        objective=objective,
        n_resamples=120,
        seed=11,
        exact=exact,
    )
    monkeypatch.setattr("evaluation.stats.resampled_curves._CELLS_PER_CHUNK", 20_000)  # several chunks
    monkeypatch.setattr("evaluation.stats.little_bootstraps._CELLS_PER_CHUNK", 20_000)
    fast = bootstrap_recommendations(pairs, **arguments)
    monkeypatch.setattr(little_module, "_recommendations", reference_recommendations)
    monkeypatch.setattr(bootstrap_module, "_recommendations", reference_recommendations)
    slow = bootstrap_recommendations(pairs, **arguments)
    assert isinstance(fast, BootstrapResult) and isinstance(slow, BootstrapResult)
    assert fast.method == slow.method
    if not exact:
        assert fast.method is not None and fast.method.little and fast.method.exact_labels > 0
        assert fast.little is not None and slow.little is not None
        for name in ("centre_threshold", "centre_f1", "centre_global_threshold", "centre_global_f1"):
            assert_array_equal(getattr(fast.little, name), getattr(slow.little, name))
        assert_array_equal(fast.little.full_threshold, slow.little.full_threshold)
        assert_array_equal(fast.little.full_f1, slow.little.full_f1)
    for name in ("threshold", "f1", "global_threshold", "global_f1"):
        assert_array_equal(getattr(fast, name), getattr(slow, name))
    assert fast.per_label().equals(slow.per_label())
    assert fast.global_interval() == slow.global_interval()


def test_the_wilson_lower_bound_never_rises_with_more_trials() -> None:
    """What the fast path relies on for recall-at-precision:P:certain: at the same successes, more
    predictions never raise precision's lower bound, in floating point too (all counts below 2**31)."""
    for level in (0.8, 0.95, 0.99):
        for successes in [*range(0, 200), 1000, 10**5, 10**7]:
            for base in (max(successes, 1), 10 * successes + 7, 10**6, 2**31 - 10**5):
                if base < successes:
                    continue
                trials = base + np.arange(0, 3000)
                low = wilson_interval(np.full(trials.size, successes), trials, level=level)[0]
                assert (np.diff(low) <= 0).all(), (level, successes, base)


@pytest.mark.parametrize("seed", range(4))
def test_the_confidence_sort_is_numpys_stable_argsort(seed: int) -> None:
    rng = np.random.default_rng(seed)
    cases = [
        rng.uniform(50, 100, 5000).astype(np.float32).astype(np.float64),  # float32 values: low digits 0
        rng.uniform(0, 100, 5000),
        np.round(rng.uniform(0, 100, 5000)),  # many ties
        np.concatenate([rng.normal(0, 1e-300, 50), [0.0, -0.0, 0.0, np.inf, -np.inf, -0.0, 5e-324, -5e-324]]),
        np.full(10, 42.0),
        np.array([3.0]),
        np.zeros(0),
        np.array([1.0, np.nan, 2.0, np.nan]),
        rng.uniform(50, 100, 100).astype(np.float32),
    ]
    for confidence in cases:
        confidence = rng.permutation(confidence)
        order = _by_confidence_descending(confidence)
        assert_array_equal(order, np.argsort(-confidence, kind="stable"))
        assert order.dtype == np.intp  # positions as argsort gives them, whatever is narrowed inside


def test_positive_pairs_are_checked_as_before() -> None:
    """Repeated positives, and a true entry that is not a positive, are refused (sorted keys, not
    np.unique / np.isin)."""
    pairs, positive_image, positive_label = simulated_pairs(300, 1)
    image, label = _positive_pairs(pairs, positive_image, positive_label)
    assert_array_equal(image, positive_image)
    assert_array_equal(label, positive_label)
    with pytest.raises(ValueError, match="must be unique"):
        _positive_pairs(pairs, np.append(positive_image, positive_image[0]), np.append(positive_label, 0))
    # the same support per label, but one positive moved to another image: its true entry is orphaned
    true_entry = np.flatnonzero(pairs.is_true)[0]
    moved = np.flatnonzero(
        (positive_image == pairs.image_idx[true_entry]) & (positive_label == pairs.label_idx[true_entry])
    )[0]
    taken = set(zip(positive_image.tolist(), positive_label.tolist(), strict=True))
    free = next(i for i in range(pairs.n_images) if (i, int(positive_label[moved])) not in taken)
    other_image = positive_image.copy()
    other_image[moved] = free
    with pytest.raises(ValueError, match="not among the positive pairs"):
        _positive_pairs(pairs, other_image, positive_label)
    empty = np.zeros(0, dtype=np.int64)
    no_positives = ScoredPairs(
        labels=("A",),
        n_images=2,
        support=np.zeros(1, dtype=np.int64),
        label_idx=np.array([0]),
        image_idx=np.array([1]),
        confidence=np.array([60.0]),
        is_true=np.array([False]),
    )
    assert _positive_pairs(no_positives, empty, empty)[0].size == 0
