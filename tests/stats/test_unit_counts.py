"""The full data's recommendation from counts (evaluation.stats.full_curves), a block of entries at a
time, against the former code paths kept as the reference: every label's curve and the global one built
whole by _curve, their sums read from running sums over the entries' images (_recommendations at every
multiplicity 1), and the former _full_recommendations (labels in parts, then the global curve alone).
Bit for bit, for every objective, across block boundaries (blocks of 1 entry up), with ties (runs
across blocks, 0.0 and -0.0), empty labels, labels without positives, no entry at all. And the subsets'
gathering with the entries already by image (no order kept): the same positions."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from numpy.testing import assert_array_equal

import evaluation.stats.full_curves as full_module
from evaluation.stats.full_curves import _count_candidates, _full_recommendations
from evaluation.stats.little_bootstraps import _by_image, _gather, _subset_entries
from evaluation.stats.micro_counts import block_counts
from evaluation.stats.resampled_curves import _by_confidence_descending, _Entries, _recommendations
from evaluation.stats.thresholds import Objective
from tests.stats.test_resampled_points import OBJECTIVES, degenerate_entries, entries_of, random_entries


def reference(entries: _Entries, objective: Objective, ones: np.ndarray) -> list:
    """The former path: both curves whole, their sums from the running sums over images."""
    return _recommendations(entries.curves(), entries, objective, ones)


def former_full_recommendations(
    entries: _Entries, objective: Objective, ones: np.ndarray, most: int, by_confidence: np.ndarray
) -> list:
    """The former _full_recommendations, as it was: the per-label curves a few labels at a time (about
    ``most`` entries), then the global curve alone from the order by confidence (its global_curve)."""
    n_labels = entries.n_labels
    threshold, f1 = np.full((1, n_labels), np.nan), np.full((1, n_labels), np.nan)
    per_label = block_counts(entries.label, n_labels)
    first = 0
    while first < n_labels:
        last = first + max(1, int(np.searchsorted(np.cumsum(per_label[first:]), most, side="right")))
        taken = np.flatnonzero((entries.label >= first) & (entries.label < last))
        positives = slice(*np.searchsorted(entries.positive_label, [first, last]))
        part = _Entries(
            image=entries.image[taken],
            label=entries.label[taken],
            confidence=entries.confidence[taken],
            is_true=entries.is_true[taken],
            positive_image=entries.positive_image[positives],
            positive_label=entries.positive_label[positives],
            n_labels=n_labels,
        )
        label_part, _ = _recommendations(part.curves(with_global=False), part, objective, ones)
        assert label_part is not None
        threshold[:, first:last] = label_part[0][:, first:last]
        f1[:, first:last] = label_part[1][:, first:last]
        first = last
    image, confidence = entries.image[by_confidence], entries.confidence[by_confidence]
    global_curve = entries._global(image, confidence, entries.is_true[by_confidence])
    _, overall = _recommendations((None, global_curve), entries, objective, ones)
    return [(threshold, f1), overall]


def tied_entries(seed: int, n_images: int = 40, n_labels: int = 7) -> _Entries:
    """Few distinct confidences (long runs, across any block), 0.0 beside -0.0, labels from common to
    empty, a label returned but never positive, one with positives never returned; entries by image."""
    rng = np.random.default_rng(seed)
    prevalence = np.array([0.6, 0.3, 0.05, 0.0, 0.2, 0.0, 0.1])[:n_labels]
    truth = rng.random((n_images, n_labels)) < prevalence
    returned = rng.random((n_images, n_labels)) < np.where(truth, 0.9, 0.5)
    returned[:, 4] = False  # positives, never returned
    returned[:, 5] = False  # nothing at all
    values = np.array([0.0, -0.0, 50.0, 50.0, 75.5, 100.0])
    confidence = values[rng.integers(0, values.size, (n_images, n_labels))]
    confidence[truth] = values[rng.integers(2, values.size, truth.sum())]
    image, label = np.nonzero(returned)
    return entries_of(image, label, confidence, truth)


def assert_same(new: tuple, old: list) -> None:
    for fast, slow in zip(new, old, strict=True):
        assert slow is not None
        for a, b in zip(fast, slow, strict=True):
            assert a.dtype == b.dtype and a.shape == b.shape
            assert_array_equal(a, b)  # NaN where NaN, every other number bit for bit


@pytest.mark.parametrize("objective", OBJECTIVES)
@pytest.mark.parametrize("block", [1, 2, 3, 7, 1 << 20])
def test_full_recommendations_from_counts_are_the_former_ones(
    objective: str, block: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(full_module, "_BLOCK", block)
    parsed = Objective.parse(objective)
    cases = [random_entries(seed) for seed in range(3)] + [tied_entries(seed) for seed in range(3)]
    for entries in cases + degenerate_entries():
        n_images = int(max(entries.image.max(initial=0), entries.positive_image.max(initial=0))) + 1
        for dtype in (np.int32, np.int64):
            ones = np.ones((n_images, 1), dtype=dtype)
            former = reference(entries, parsed, ones)
            order = np.argsort(-entries.confidence, kind="stable")  # ScoredPairs.by_confidence
            new = _full_recommendations(entries, parsed, ones)
            assert_same(new, former)
            assert_same(_full_recommendations(entries, parsed, ones, by_confidence=order), former)
            for most in (1, 30, 10**9):
                assert_same(new, former_full_recommendations(entries, parsed, ones, most, order))


@pytest.mark.parametrize("block", [1, 2, 5, 1 << 20])
def test_the_candidates_are_the_curves_candidates(block: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same points as _curve's candidates, per label and global, with the same counts at each."""
    monkeypatch.setattr(full_module, "_BLOCK", block)
    cases = [random_entries(seed) for seed in range(3)] + [tied_entries(seed) for seed in range(3)]
    for entries in cases + degenerate_entries():
        order = np.argsort(-entries.confidence, kind="stable")
        for curve, (found, count) in zip(
            entries.curves(), _count_candidates(order, entries, np.dtype(np.int64)), strict=True
        ):
            assert curve is not None
            group, value, tp, predicted = found
            points = curve.points[curve.candidate]
            size = np.diff(np.append(curve.group_start, curve.image.size))
            assert_array_equal(group, curve.candidate_group)
            assert_array_equal(value, curve.confidence[points])
            assert_array_equal(predicted, points - curve.group_start[group] + 1)
            trues = np.cumsum(curve.is_true, dtype=np.int64)
            before = np.append(0, trues)[curve.group_start[group]]
            assert_array_equal(tp, trues[points] - before)
            assert_array_equal(count, size)


def test_many_labels_take_wider_codes() -> None:
    """Labels past int8's and int16's codes: the same as the former path."""
    rng = np.random.default_rng(3)
    parsed = Objective.parse("best-f1")
    for n_labels in (127, 128, 40_000):
        base = random_entries(1)
        label = (base.label * 4_441) % n_labels
        positive_label = (base.positive_label * 4_441) % n_labels
        by_label = np.argsort(positive_label, kind="stable")
        entries = dataclasses.replace(
            base,
            label=label,
            positive_label=positive_label[by_label],
            positive_image=base.positive_image[by_label],
            n_labels=n_labels,
            confidence=np.round(rng.uniform(0, 100, base.confidence.size)),
        )
        ones = np.ones((60, 1), dtype=np.int32)
        assert_same(_full_recommendations(entries, parsed, ones), reference(entries, parsed, ones))


@pytest.mark.parametrize("seed", range(4))
def test_gathering_entries_already_by_image_keeps_no_order(seed: int) -> None:
    """Entries by image: no order kept, the same positions as through the stable sort's identity; not
    by image: the sort, as before."""
    rng = np.random.default_rng(seed)
    entries = tied_entries(seed)
    n_images = 40
    images = np.sort(rng.choice(n_images, size=11, replace=False))
    for image in (entries.image, rng.permutation(entries.image)):
        index = _by_image(image, n_images)
        assert (index[0] is None) == bool((np.diff(image) >= 0).all())
        order = np.argsort(image, kind="stable")
        former = (order, *index[1:])
        for new, old in zip(_gather(index, images), _gather(former, images), strict=True):
            assert_array_equal(new, old)
    by_pair, by_positive = _by_image(entries.image, n_images), _by_image(entries.positive_image, n_images)
    assert by_pair[0] is None
    subset = _subset_entries(entries, by_pair, by_positive, images)
    pairs_at = np.flatnonzero(np.isin(entries.image, images))
    assert_array_equal(subset.label, entries.label[pairs_at])
    assert_array_equal(subset.confidence, entries.confidence[pairs_at])
    assert_array_equal(images[subset.image], entries.image[pairs_at])


def test_the_shared_order_is_the_confidence_sort() -> None:
    """What _full_recommendations sorts when no order is given: numpy's stable argsort of -confidence."""
    entries = tied_entries(0)
    assert_array_equal(
        _by_confidence_descending(entries.confidence), np.argsort(-entries.confidence, kind="stable")
    )
