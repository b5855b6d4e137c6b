"""The sweep's order (by label, then confidence descending, ties in entry order) with the radix sort of
the confidences and the cheaper in-order check, against the former function kept here."""

from __future__ import annotations

import numpy as np
import pytest

from evaluation.stats.metrics import ScoredPairs, by_group_then_confidence


def former_by_group_then_confidence(group: np.ndarray, confidence: np.ndarray, n_groups: int) -> np.ndarray:
    step, fall = np.diff(group), np.diff(confidence)
    if ((step > 0) | ((step == 0) & (fall <= 0))).all():
        return np.arange(group.shape[0])
    by_confidence = np.argsort(-confidence, kind="stable")
    codes = group[by_confidence]
    if 0 <= n_groups < 2**15:
        codes = codes.astype(np.int16)
    return by_confidence[np.argsort(codes, kind="stable")]


@pytest.mark.parametrize("seed", range(5))
def test_the_order_is_the_former_one(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 3000
    group = rng.integers(0, 40, n)
    confidence = np.round(rng.uniform(50, 100, n), 1)
    in_order = np.lexsort((-confidence, group))
    ascending_within = np.lexsort((confidence, group))
    cases = [
        (group, confidence, 40),
        (group[in_order], confidence[in_order], 40),  # already in order: nothing to sort
        (group[ascending_within], confidence[ascending_within], 40),  # grouped, but not by confidence
        (group, rng.uniform(0, 100, n).astype(np.float32).astype(np.float64), 40),
        (group, np.where(rng.random(n) < 0.01, np.nan, confidence), 40),
        (group[in_order], np.where(rng.random(n) < 0.01, np.nan, confidence[in_order]), 40),
        (group * 1000, confidence, 40_000),  # codes past int16
        (group[:1], confidence[:1], 40),
        (group[:0], confidence[:0], 40),
        (np.zeros(n, dtype=np.int8), confidence, 1),
    ]
    for codes, values, n_groups in cases:
        new = by_group_then_confidence(codes, values, n_groups)
        assert np.array_equal(new, former_by_group_then_confidence(codes, values, n_groups))


def former_global_order(confidence: np.ndarray) -> np.ndarray:
    return np.argsort(-confidence, kind="stable")


@pytest.mark.parametrize("seed", range(3))
def test_the_global_curve_is_the_former_one(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """By the radix sort and by numpy's stable argsort: the same frame, bit for bit (0.0 and -0.0 too)."""
    from evaluation.stats import metrics
    from tests.support.scored import pairs_of

    rng = np.random.default_rng(seed)
    truth = rng.random((200, 5)) < 0.3
    returned = rng.random(truth.shape) < np.where(truth, 0.8, 0.4)
    image_idx, label_idx = np.nonzero(returned)
    confidence = np.round(rng.uniform(0, 100, image_idx.size)).astype(np.float32).astype(np.float64)
    confidence[rng.random(confidence.size) < 0.05] = -0.0
    confidence[rng.random(confidence.size) < 0.05] = 0.0
    pairs = pairs_of(truth, image_idx, label_idx, confidence, floor=0.0)
    new = metrics.global_curve(pairs)
    monkeypatch.setattr(metrics, "by_confidence_descending", former_global_order)
    old = metrics.global_curve(pairs)
    assert new.equals(old)
    for name in new.columns:
        assert np.array_equal(new[name].to_numpy().view(np.int64), old[name].to_numpy().view(np.int64))


def test_the_pairs_order_by_confidence_is_numpys_stable_argsort_and_can_be_forgotten() -> None:
    from tests.support.scored import pairs_of

    rng = np.random.default_rng(4)
    truth = rng.random((300, 4)) < 0.3
    image_idx, label_idx = np.nonzero(rng.random(truth.shape) < 0.5)
    confidence = np.round(rng.uniform(50, 100, image_idx.size))
    pairs = pairs_of(truth, image_idx, label_idx, confidence, floor=50.0)
    order = pairs.by_confidence
    assert np.array_equal(order, np.argsort(-pairs.confidence, kind="stable"))
    assert pairs.by_confidence is order and not order.flags.writeable
    pairs.forget_order()
    assert pairs.by_confidence is not order and np.array_equal(pairs.by_confidence, order)


def former_sweep(pairs: ScoredPairs) -> tuple[np.ndarray, ...]:
    order = former_by_group_then_confidence(pairs.label_idx, pairs.confidence, pairs.n_labels)
    label = pairs.label_idx[order]
    confidence = pairs.confidence[order]
    tp_running = np.cumsum(pairs.is_true[order], dtype=np.int64)
    run_end = np.ones(label.shape[0], dtype=bool)
    run_end[:-1] = (label[1:] != label[:-1]) | (confidence[1:] != confidence[:-1])
    points = np.flatnonzero(run_end)
    per_label = np.bincount(label, minlength=pairs.n_labels)
    label_start = np.cumsum(per_label) - per_label
    tp_before_label = np.concatenate(([0], tp_running))[label_start]
    point_label = label[points]
    tp = tp_running[points] - tp_before_label[point_label]
    predicted = points + 1 - label_start[point_label]
    return point_label, confidence[points], tp, predicted - tp


@pytest.mark.parametrize("seed", range(4))
def test_the_sweep_is_the_former_one(seed: int) -> None:
    """Labels without entries first, between and last; no entries at all."""
    from evaluation.stats.metrics import _sweep
    from tests.support.scored import pairs_of

    rng = np.random.default_rng(seed)
    truth = rng.random((150, 7)) < 0.3
    returned = rng.random(truth.shape) < np.where(truth, 0.8, 0.4)
    returned[:, [0, 3, 6]] = False
    image_idx, label_idx = np.nonzero(returned)
    confidence = np.round(rng.uniform(50, 100, image_idx.size))
    cases = [(image_idx, label_idx, confidence), (image_idx[:0], label_idx[:0], confidence[:0])]
    for images, labels, values in cases:
        pairs = pairs_of(truth, images, labels, values, floor=50.0)
        for new, old in zip(_sweep(pairs), former_sweep(pairs), strict=True):
            assert np.array_equal(new, old)
            # the counts in int32 below 2**31 entries (the same numbers), everything else as it was
            assert new.dtype == old.dtype or (new.dtype, old.dtype) == (np.int32, np.int64)
