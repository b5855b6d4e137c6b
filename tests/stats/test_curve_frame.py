"""exact_curves' and grid_table's frames, built from the arrays as they are (no float64 copies of the
counts, no consolidated 2-D blocks), against the former construction kept here: every value and dtype
the same, bit for bit, and every column the frame's own to edit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from evaluation.stats import curve_table, metrics, micro_counts
from evaluation.stats.curve_table import divide
from evaluation.stats.metrics import (
    CURVE_COLUMNS,
    ScoredPairs,
    _label_column,
    average_precision,
    exact_curve_table,
    exact_curves,
    grid_table,
)


def former_divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    numerator = np.asarray(numerator, dtype=np.float64)
    denominator = np.asarray(denominator, dtype=np.float64)
    out = np.full(np.broadcast(numerator, denominator).shape, np.nan)
    np.divide(numerator, denominator, out=out, where=denominator != 0)
    return out


def former_curve_frame(pairs: ScoredPairs, label_codes, threshold, tp, fp) -> pd.DataFrame:
    support = pairs.support[label_codes]
    fn = support - tp
    tn = pairs.n_images - support - fp
    precision = former_divide(tp, tp + fp)
    recall = former_divide(tp, tp + fn)
    f1 = former_divide(2 * tp, 2 * tp + fp + fn)
    if pairs.n_images < 2**31:
        tp, fp, fn, tn, support = (np.asarray(n, dtype=np.int32) for n in (tp, fp, fn, tn, support))
    return pd.DataFrame(
        {
            "label": _label_column(label_codes, pairs.labels),
            "threshold": threshold.astype(np.float64, copy=False),
            "tp": tp,
            "fp": fp,
            "fn": fn,
            "tn": tn,
            "precision": precision,
            "recall": recall,
            "f1": f1,
            "support": support,
        },
        columns=list(CURVE_COLUMNS),
    )


def random_pairs(seed: int) -> ScoredPairs:
    rng = np.random.default_rng(seed)
    n_images, n_labels = 300, 7
    truth = rng.random((n_images, n_labels)) < np.array([0.5, 0.2, 0.05, 0.0, 0.3, 0.01, 0.0])
    returned = rng.random(truth.shape) < np.where(truth, 0.8, 0.3)
    returned[:, 6] = False
    image, label = np.nonzero(returned)
    confidence = np.round(rng.uniform(50, 100, image.size) * 2) / 2
    return ScoredPairs(
        labels=tuple(f"L{i}" for i in range(n_labels)),
        n_images=n_images,
        support=truth.sum(axis=0),
        label_idx=label,
        image_idx=image,
        confidence=confidence,
        is_true=truth[image, label],
        floor=50.0,
    )


def assert_identical(new: pd.DataFrame, old: pd.DataFrame) -> None:
    assert list(new.columns) == list(old.columns)
    assert (new.dtypes == old.dtypes).all()
    for name in new.columns:
        a, b = new[name].to_numpy(), old[name].to_numpy()
        if a.dtype.kind == "f":
            assert np.array_equal(a.view(np.int64), b.view(np.int64)), name  # bit for bit, NaN too
        else:
            assert np.array_equal(a, b), name
    assert new.equals(old)


@pytest.mark.parametrize("seed", range(5))
def test_exact_curves_and_grid_table_are_the_former_frames(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    pairs = random_pairs(seed)
    assert_identical(exact_curves(pairs), former_curve_frame(pairs, *pairs._curve_points))
    sweep = pairs._curve_points
    exact_curves(pairs)
    assert "_curve_points" not in pairs.__dict__  # the frame took the cached sweep over
    assert all(part.flags.writeable is False for part in sweep)  # and copied, never wrote to, its arrays
    monkeypatch.setattr(curve_table, "ROWS_PER_BLOCK", 7 + seed)  # rows in many blocks, the last one short
    assert_identical(exact_curves(pairs), former_curve_frame(pairs, *pairs._curve_points))
    captured = []
    built = metrics._curve_frame

    def capture(pairs, points):
        captured.append([pairs, *(a.copy() for a in points)])
        return built(pairs, points)

    monkeypatch.setattr(metrics, "_curve_frame", capture)
    table = grid_table(random_pairs(seed))
    assert_identical(table, former_curve_frame(*captured[0]))


def test_the_frames_columns_can_be_edited() -> None:
    """exact_curves' arrays come from a read-only cache: the frame holds copies it may write to."""
    pairs = random_pairs(1)
    for frame in (exact_curves(pairs), grid_table(pairs)):
        frame.loc[frame.index[0], "threshold"] = -1.0
        frame.loc[frame.index[0], "tp"] = 7
        frame.iloc[1, frame.columns.get_loc("f1")] = 0.5
        frame.fillna(0.0)
    assert (pairs._curve_points[1] >= 0).all()  # the cache untouched


def test_divide_is_the_former_one() -> None:
    rng = np.random.default_rng(0)
    a = rng.integers(0, 2**40, 10_000)
    b = rng.integers(0, 2**41, 10_000)
    b[::5] = 0
    cases = [
        (a, b),
        (a.astype(np.int32) % 1000, b.astype(np.int32) % 1000),
        (a.astype(np.float64) / 3, b.astype(np.float64) / 7),
        (a.astype(np.float32), b.astype(np.float32)),
        (a % 2 == 0, b % 2 == 0),
        ([1, 2, 3], [0, 4, 0]),
        (a.astype(np.int16) % 100, 3.0),
        (np.uint32(5), np.arange(4, dtype=np.uint64)),
    ]
    for numerator, denominator in cases:
        new, old = divide(numerator, denominator), former_divide(numerator, denominator)
        assert new.dtype == old.dtype == np.float64
        assert np.array_equal(new.view(np.int64), old.view(np.int64))


def former_average_precision(pairs: ScoredPairs) -> np.ndarray:
    label_codes, _, tp, fp = pairs._curve_points
    new_label = np.ones(label_codes.shape[0], dtype=bool)
    new_label[1:] = label_codes[1:] != label_codes[:-1]
    recalled = np.diff(tp, prepend=0)
    recalled[new_label] = tp[new_label]
    weighted = np.bincount(label_codes, weights=recalled * (tp / (tp + fp)), minlength=pairs.n_labels)
    return divide(weighted, pairs.support)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("block", [1, 3, 40, 1 << 20])
def test_average_precision_by_blocks_of_whole_labels_is_the_former_one(
    seed: int, block: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(metrics, "_ROWS_PER_BLOCK", block)
    pairs = random_pairs(seed)
    new, old = average_precision(pairs), former_average_precision(pairs)
    assert np.array_equal(new.view(np.int64), old.view(np.int64))
    blocks = micro_counts.label_blocks(pairs._curve_points[0], pairs.n_labels, block)
    assert sum(span.stop - span.start for span in blocks) == pairs._curve_points[0].shape[0]


def former_true_negatives(frame: pd.DataFrame, negatives: np.ndarray, labels) -> pd.DataFrame:
    codes = pd.Categorical(frame["label"], categories=list(labels)).codes
    frame = frame.copy()
    frame["tn"] = (negatives[codes] - frame["fp"].to_numpy(np.int64)).astype(frame["fp"].dtype)
    return frame


@pytest.mark.parametrize("seed", range(4))
def test_the_curve_table_reads_as_the_former_frame_by_column_rows_and_blocks(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the analysis holds (the points) gives every column, row and block of the former frame."""
    pairs = random_pairs(seed)
    former = former_curve_frame(pairs, *pairs._curve_points)
    table = exact_curve_table(pairs)
    monkeypatch.setattr(curve_table, "ROWS_PER_BLOCK", 5 + seed)
    assert len(table) == len(former) and not table.empty and list(table.columns) == list(CURVE_COLUMNS)
    assert_identical(table.frame(), former)
    rng = np.random.default_rng(seed)
    mask = rng.random(len(former)) < 0.3
    assert_identical(table[mask], former[mask].reset_index(drop=True))
    assert_identical(table[["label", "f1", "tn"]], former[["label", "f1", "tn"]])
    for name in CURVE_COLUMNS:
        a, b = table[name].to_numpy(), former[name].to_numpy()
        assert a.dtype == b.dtype and np.array_equal(a, b, equal_nan=a.dtype.kind == "f"), name
    for rows in (slice(3, -2), slice(-9, None), slice(4, len(former) + 50), slice(7, 7), slice(1, None, 2)):
        for name in CURVE_COLUMNS:  # a slice of rows (a writer's block) is read without an index array
            a, b = np.asarray(table.column(name, rows)), former[name].to_numpy()[rows]
            assert a.dtype == b.dtype and np.array_equal(a, b, equal_nan=a.dtype.kind == "f"), (name, rows)
    blocks = list(table.frames(11))
    assert all(len(block) == 11 for block in blocks[:-1]) and 0 < len(blocks[-1]) <= 11
    assert_identical(pd.concat(blocks, ignore_index=True), former)
    assert list(blocks[-1]["label"].cat.categories) == list(pairs.labels)  # every block, every label
    wanted = ["L4", "L0"]
    assert np.array_equal(table.label_rows(wanted), np.flatnonzero(former["label"].isin(wanted)))
    assert table.label_rows(["nowhere"]).size == 0
    expected = former.groupby("label", observed=True, sort=False)["tp"].max()
    expected = expected.rename(None).set_axis(expected.index.astype(object))
    assert table.most_tp().sort_index().equals(expected.sort_index())
    with pytest.raises(KeyError):
        table["nothing"]
    with pytest.raises(KeyError):
        table[np.ones(3, dtype=bool)]


def test_a_detections_table_counts_its_true_negatives_as_the_former_frame_did() -> None:
    pairs = random_pairs(3)
    negatives = np.arange(7, dtype=np.int64) * 1000 + 500
    former = former_true_negatives(former_curve_frame(pairs, *pairs._curve_points), negatives, pairs.labels)
    assert_identical(exact_curve_table(pairs, negatives).frame(), former)


def test_frames_of_the_table_are_their_own_to_edit() -> None:
    table = exact_curve_table(random_pairs(2))
    before = table.frame()
    frame = table.frame()
    frame.loc[0, "threshold"] = -1.0
    frame.loc[0, "tp"] = 10**6
    frame.loc[0, "label"] = "L6"
    assert_identical(table.frame(), before)
    empty = exact_curve_table(ScoredPairs(("A",), 3, np.array([1]), [], [], [], [])).frame()
    assert empty.empty and list(empty.columns) == list(CURVE_COLUMNS)
