"""Tests for evaluation.stats.metrics, in the manner of scikit-learn's tests/test_ranking.py: hand-made cases
worked out on paper, a slow obviously-correct reference on random data, cross-checks with sklearn, and
invariances."""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.metrics import (
    average_precision_score,
    f1_score,
    precision_recall_curve,
    precision_score,
    recall_score,
)

from evaluation.errors import UserError
from evaluation.stats.metrics import (
    CURVE_COLUMNS,
    F1_UNDEFINED,
    GLOBAL_COLUMNS,
    MICRO_MACRO_COLUMNS,
    PRECISION_UNDEFINED,
    RECALL_UNDEFINED,
    ScoredPairs,
    average_precision,
    exact_curves,
    global_curve,
    grid_table,
    micro_macro,
    undefined_reason,
    undefined_reasons,
)

# ---------------------------------------------------------------------------------------------- helpers

UNRETURNED = -1.0  # a dense score below every threshold (thresholds are confidences >= 0)


def make_pairs(
    truth: np.ndarray, scores: np.ndarray, *, floor: float = 0.0, labels: tuple[str, ...] | None = None
) -> ScoredPairs:
    """Sparse pairs from a dense truth (N, L) bool and dense scores (N, L) with NaN = not returned."""
    n_images, n_labels = truth.shape
    image_idx, label_idx = np.nonzero(~np.isnan(scores))
    return ScoredPairs(
        labels=labels or tuple(f"label{i}" for i in range(n_labels)),
        n_images=n_images,
        support=truth.sum(axis=0),
        label_idx=label_idx,
        image_idx=image_idx,
        confidence=scores[image_idx, label_idx],
        is_true=truth[image_idx, label_idx],
        floor=floor,
    )


def random_case(
    seed: int, *, n_images: int = 40, n_labels: int = 7, floor: float = 0.0, decimals: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Dense truth and scores (NaN = not returned) with every awkward case: confidences rounded to force
    ties, a label with no positives, a label never returned, positives never returned, and a label
    with one positive."""
    rng = np.random.default_rng(seed)
    truth = rng.random((n_images, n_labels)) < 0.3
    truth[:, 0] = False  # no positives
    truth[:, 1] = False
    truth[rng.integers(n_images), 1] = True  # a single positive
    returned = rng.random((n_images, n_labels)) < np.where(truth, 0.8, 0.4)
    returned[:, 2] = False  # never returned
    confidence = floor + (100 - floor) * np.clip(rng.beta(np.where(truth, 4, 2), 2), 0, 1)
    scores = np.where(returned, np.round(confidence, decimals), np.nan)
    scores = np.where(scores < floor, floor, scores)  # rounding must not fall below the floor
    return truth, scores


def dense_scores(scores: np.ndarray) -> np.ndarray:
    """What sklearn sees: an unreturned pair scores below every threshold."""
    return np.where(np.isnan(scores), UNRETURNED, scores)


def reference_curves(truth: np.ndarray, scores: np.ndarray, labels: tuple[str, ...]) -> pd.DataFrame:
    """Slow and obvious: per label, per distinct confidence, predict with scores >= t and count."""
    rows = []
    n_images = truth.shape[0]
    for label_index, label in enumerate(labels):
        y_true = truth[:, label_index]
        y_score = scores[:, label_index]
        for threshold in sorted(set(y_score[~np.isnan(y_score)].tolist()), reverse=True):
            y_pred = y_score >= threshold  # NaN >= t is False: never returned, never predicted
            tp = int((y_pred & y_true).sum())
            fp = int((y_pred & ~y_true).sum())
            fn = int((~y_pred & y_true).sum())
            tn = int((~y_pred & ~y_true).sum())
            assert tp + fp + fn + tn == n_images
            rows.append(
                {
                    "label": label,
                    "threshold": threshold,
                    "tp": tp,
                    "fp": fp,
                    "fn": fn,
                    "tn": tn,
                    "precision": tp / (tp + fp) if tp + fp else np.nan,
                    "recall": tp / (tp + fn) if tp + fn else np.nan,
                    "f1": 2 * tp / (2 * tp + fp + fn) if 2 * tp + fp + fn else np.nan,
                    "support": int(y_true.sum()),
                }
            )
    return pd.DataFrame(rows, columns=list(CURVE_COLUMNS))


def reference_ap(truth: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Slow AP: walk each label's distinct thresholds from the top, add (R_n - R_{n-1}) * P_n."""
    ap = np.full(truth.shape[1], np.nan)
    for label_index in range(truth.shape[1]):
        y_true = truth[:, label_index]
        y_score = scores[:, label_index]
        if not y_true.any():
            continue
        total, last_recall = 0.0, 0.0
        for threshold in sorted(set(y_score[~np.isnan(y_score)].tolist()), reverse=True):
            y_pred = y_score >= threshold
            recall = (y_pred & y_true).sum() / y_true.sum()
            total += (recall - last_recall) * (y_pred & y_true).sum() / y_pred.sum()
            last_recall = recall
        ap[label_index] = total
    return ap


def comparable(frame: pd.DataFrame) -> pd.DataFrame:
    """A curve frame with a plain-string label column, for comparing with a reference."""
    return frame.assign(label=frame["label"].astype(object)).reset_index(drop=True)


# ----------------------------------------------------------------------------------- hand-made case

LABELS = ("Person", "Human", "Cat", "Dog", "Unicorn")


@pytest.fixture
def hand_pairs() -> ScoredPairs:
    """6 images, floor 50. Ground truth: Person on 0,1,2,3; Human on 0,1; Cat on 3; Dog on 4,5; Unicorn
    on none. Person's image 3 is a positive that was never returned; Dog is never returned; Human ties
    Person's confidences (a parent with its child's confidence); Cat is one three-way tie."""
    entries = [
        # label, image, confidence, is_true
        (0, 0, 99.0, True),
        (0, 1, 95.0, True),
        (0, 4, 95.0, False),  # a tie with a true positive
        (0, 2, 70.0, True),
        (0, 5, 60.0, False),
        (1, 0, 99.0, True),
        (1, 1, 95.0, True),
        (2, 2, 80.0, False),
        (2, 3, 80.0, True),
        (2, 4, 80.0, False),
        (4, 1, 55.0, False),
    ]
    label_idx, image_idx, confidence, is_true = zip(*entries, strict=True)
    return ScoredPairs(
        labels=LABELS,
        n_images=6,
        support=np.array([4, 2, 1, 2, 0]),
        label_idx=np.array(label_idx),
        image_idx=np.array(image_idx),
        confidence=np.array(confidence),
        is_true=np.array(is_true),
        floor=50.0,
    )


def test_exact_curves_hand_made(hand_pairs: ScoredPairs) -> None:
    curves = exact_curves(hand_pairs)
    assert list(curves.columns) == list(CURVE_COLUMNS)
    # Person, support 4, N=6: tn = 6 - 4 - fp
    #   99: tp1 fp0 fn3 tn2  P 1    R .25  F1 2/(2+0+3) = .4
    #   95: tp2 fp1 fn2 tn1  P 2/3  R .5   F1 4/(4+1+2) = 4/7   (the tie 95 T / 95 F is one point)
    #   70: tp3 fp1 fn1 tn1  P .75  R .75  F1 6/8
    #   60: tp3 fp2 fn1 tn0  P .6   R .75  F1 6/9            (image 3 never returned: fn stays 1)
    # Human, support 2:  99: tp1 fp0 fn1 tn4 (P 1, R .5, F1 2/3);  95: tp2 fp0 fn0 tn4 (1, 1, 1)
    # Cat, support 1, three-way tie at 80: tp1 fp2 fn0 tn3  P 1/3 R 1 F1 2/4
    # Dog: never returned, no rows.
    # Unicorn, support 0: 55: tp0 fp1 fn0 tn5  P 0  R undefined  F1 0/(0+1+0) = 0
    expected = pd.DataFrame(
        [
            ("Person", 99.0, 1, 0, 3, 2, 1.0, 0.25, 0.4, 4),
            ("Person", 95.0, 2, 1, 2, 1, 2 / 3, 0.5, 4 / 7, 4),
            ("Person", 70.0, 3, 1, 1, 1, 0.75, 0.75, 0.75, 4),
            ("Person", 60.0, 3, 2, 1, 0, 0.6, 0.75, 2 / 3, 4),
            ("Human", 99.0, 1, 0, 1, 4, 1.0, 0.5, 2 / 3, 2),
            ("Human", 95.0, 2, 0, 0, 4, 1.0, 1.0, 1.0, 2),
            ("Cat", 80.0, 1, 2, 0, 3, 1 / 3, 1.0, 0.5, 1),
            ("Unicorn", 55.0, 0, 1, 0, 5, 0.0, np.nan, 0.0, 0),
        ],
        columns=list(CURVE_COLUMNS),
    )
    pd.testing.assert_frame_equal(comparable(curves), expected, check_dtype=False)
    for name in ("tp", "fp", "fn", "tn", "support"):
        assert curves[name].dtype in (np.int32, np.int64)  # counts, exact (32-bit below 2**31 images)
    assert list(curves["label"].cat.categories) == list(LABELS)  # vocabulary order kept


def test_average_precision_hand_made(hand_pairs: ScoredPairs) -> None:
    # Person: recall steps .25 at P 1, .25 at P 2/3, .25 at P 3/4, then nothing (image 3 never
    #   returned: recall ends at .75, no "predict everything" point): 1/4 + 1/6 + 3/16 = 29/48
    # Human: .5 * 1 + .5 * 1 = 1;  Cat: 1 * 1/3;  Dog: never returned, never recalled: 0
    # Unicorn: no positives: undefined
    assert_allclose(average_precision(hand_pairs), [29 / 48, 1.0, 1 / 3, 0.0, np.nan], rtol=1e-15)


def test_global_curve_hand_made(hand_pairs: ScoredPairs) -> None:
    # All 11 entries by confidence, total support 4+2+1+2+0 = 9:
    #   99: T T      tp2 fp0 fn7;  95: T F T  tp4 fp1 fn5;  80: F T F  tp5 fp3 fn4
    #   70: T        tp6 fp3 fn3;  60: F      tp6 fp4 fn3;  55: F      tp6 fp5 fn3
    curve = global_curve(hand_pairs)
    assert list(curve.columns) == list(GLOBAL_COLUMNS)
    assert_array_equal(curve["threshold"], [99, 95, 80, 70, 60, 55])
    assert_array_equal(curve["tp"], [2, 4, 5, 6, 6, 6])
    assert_array_equal(curve["fp"], [0, 1, 3, 3, 4, 5])
    assert_array_equal(curve["fn"], [7, 5, 4, 3, 3, 3])
    assert_allclose(curve["precision"], [1, 4 / 5, 5 / 8, 6 / 9, 6 / 10, 6 / 11])
    assert_allclose(curve["recall"], [2 / 9, 4 / 9, 5 / 9, 6 / 9, 6 / 9, 6 / 9])
    assert_allclose(curve["f1"], [4 / 11, 8 / 14, 10 / 17, 12 / 18, 12 / 19, 12 / 20])


def test_grid_table_hand_made(hand_pairs: ScoredPairs) -> None:
    grid = grid_table(hand_pairs, thresholds=[80, 50, 96, 100, 80])  # unsorted, repeated: made unique
    assert list(grid.columns) == list(CURVE_COLUMNS)
    assert list(grid["label"].astype(object).unique()) == list(LABELS)  # every label, even Dog
    assert_array_equal(grid["threshold"][:4], [100, 96, 80, 50])  # descending, like the exact curves
    person = grid[grid["label"] == "Person"]
    # 100: nothing predicted (precision undefined); 96: the 99; 80: 99, 95, 95; 50: all five
    assert_array_equal(person["tp"], [0, 1, 2, 3])
    assert_array_equal(person["fp"], [0, 0, 1, 2])
    assert_array_equal(person["fn"], [4, 3, 2, 1])
    assert_array_equal(person["tn"], [2, 2, 1, 0])
    assert_allclose(person["precision"], [np.nan, 1, 2 / 3, 0.6])
    assert_allclose(person["recall"], [0, 0.25, 0.5, 0.75])
    dog = grid[grid["label"] == "Dog"]
    assert_array_equal(dog["fn"], [2, 2, 2, 2])
    assert dog["precision"].isna().all()
    assert_array_equal(dog["f1"], [0, 0, 0, 0])  # positives missed: F1 is 0, not undefined
    unicorn = grid[grid["label"] == "Unicorn"]
    assert_allclose(unicorn["f1"], [np.nan, np.nan, np.nan, 0.0])  # no positives; predicted at 50 only


def test_grid_table_default_grid_starts_at_the_floor(hand_pairs: ScoredPairs) -> None:
    grid = grid_table(hand_pairs)
    assert_array_equal(grid["threshold"][:51], np.arange(100, 49, -1))
    assert len(grid) == len(LABELS) * 51
    fractional = make_pairs(np.array([[True]]), np.array([[72.5]]), floor=49.5)
    assert grid_table(fractional)["threshold"].min() == 50.0  # ceil(floor)
    assert grid_table(fractional)["threshold"].max() == 100.0


@pytest.mark.parametrize("thresholds", [[49.0], [101.0], [np.nan], [], [[60.0, 70.0]]])
def test_grid_table_rejects_thresholds_outside_floor_to_100(
    hand_pairs: ScoredPairs, thresholds: list
) -> None:
    with pytest.raises(UserError, match="thresholds must be"):
        grid_table(hand_pairs, thresholds=thresholds)


def test_micro_macro_hand_made(hand_pairs: ScoredPairs) -> None:
    table = micro_macro(grid_table(hand_pairs, thresholds=[50, 80, 96, 100]))
    assert list(table.columns) == list(MICRO_MACRO_COLUMNS)
    assert_array_equal(table["threshold"], [100, 96, 80, 50])
    at_80 = table[table["threshold"] == 80].iloc[0]
    # t=80: Person tp2 fp1 fn2, Human tp2 fp0 fn0, Cat tp1 fp2 fn0, Dog tp0 fp0 fn2, Unicorn 0 0 0
    # micro: tp5 fp3 fn4 -> P 5/8, R 5/9, F1 10/17
    assert at_80["micro_precision"] == pytest.approx(5 / 8)
    assert at_80["micro_recall"] == pytest.approx(5 / 9)
    assert at_80["micro_f1"] == pytest.approx(10 / 17)
    # macro P over the 3 labels with predictions: (2/3 + 1 + 1/3) / 3; R over 4 labels with positives:
    # (.5 + 1 + 1 + 0) / 4; F1 over 4 (Unicorn undefined): (4/7 + 1 + 1/2 + 0) / 4
    assert at_80["macro_precision"] == pytest.approx(2 / 3)
    assert at_80["macro_recall"] == pytest.approx(0.625)
    assert at_80["macro_f1"] == pytest.approx((4 / 7 + 1.5) / 4)
    assert at_80["macro_labels"] == 3
    at_100 = table.iloc[0]  # nothing predicted anywhere: precision undefined, recall 0
    assert np.isnan(at_100["micro_precision"]) and np.isnan(at_100["macro_precision"])
    assert at_100["macro_labels"] == 0
    assert at_100["micro_recall"] == 0.0


def test_micro_macro_needs_a_grid() -> None:
    with pytest.raises(ValueError, match="missing columns"):
        micro_macro(pd.DataFrame({"threshold": [50.0]}))


def test_undefined_reasons(hand_pairs: ScoredPairs) -> None:
    grid = grid_table(hand_pairs, thresholds=[50, 100])
    reasons = undefined_reasons(grid)
    by_label = dict(
        zip(zip(grid["label"].astype(object), grid["threshold"], strict=True), reasons, strict=True)
    )
    assert by_label[("Person", 50.0)] == ""
    assert by_label[("Person", 100.0)] == PRECISION_UNDEFINED
    assert by_label[("Unicorn", 50.0)] == RECALL_UNDEFINED
    assert by_label[("Unicorn", 100.0)] == f"{PRECISION_UNDEFINED}; {RECALL_UNDEFINED}; {F1_UNDEFINED}"
    assert by_label[("Dog", 50.0)] == PRECISION_UNDEFINED
    assert PRECISION_UNDEFINED == "precision undefined: no predictions at this threshold"
    assert RECALL_UNDEFINED == "recall undefined: no positives in the dataset"
    for index, row in grid.iterrows():
        assert undefined_reason(row) == reasons[index]
    # Every NaN has a reason and every reason a NaN.
    for name, reason in (
        ("precision", PRECISION_UNDEFINED),
        ("recall", RECALL_UNDEFINED),
        ("f1", F1_UNDEFINED),
    ):
        assert_array_equal(grid[name].isna(), reasons.str.contains(reason, regex=False))
    assert undefined_reasons(global_curve(hand_pairs)).eq("").all()


def test_no_entries_at_all() -> None:
    pairs = ScoredPairs(
        labels=("Cat", "Dog"),
        n_images=3,
        support=np.array([1, 0]),
        label_idx=[],
        image_idx=[],
        confidence=[],
        is_true=[],
    )
    assert len(exact_curves(pairs)) == 0
    assert list(exact_curves(pairs).columns) == list(CURVE_COLUMNS)
    assert len(global_curve(pairs)) == 0
    assert_allclose(average_precision(pairs), [0.0, np.nan])
    grid = grid_table(pairs)
    assert len(grid) == 2 * 101
    assert (grid["tp"] == 0).all() and (grid["fp"] == 0).all()


# ------------------------------------------------------------------------------------------ validation


def _valid_arguments() -> dict:
    return {
        "labels": ("Cat", "Dog"),
        "n_images": 3,
        "support": np.array([1, 1]),
        "label_idx": np.array([0, 1]),
        "image_idx": np.array([0, 2]),
        "confidence": np.array([60.0, 70.0]),
        "is_true": np.array([True, False]),
        "floor": 50.0,
    }


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"labels": ("Cat", "Cat")}, "labels must be unique; repeated: \\['Cat'\\]"),
        ({"labels": ("Cat", 3)}, "labels must be strings"),
        ({"n_images": -1}, "n_images must be >= 0"),
        ({"n_images": 2.5}, "n_images must be an int"),
        ({"support": np.array([1, 1, 1])}, r"support must have shape \(2,\); got \(3,\)"),
        ({"support": np.array([1.0, 1.0])}, "support must hold integers"),
        ({"support": np.array([4, 1])}, r"support must be in \[0, n_images=3\]"),
        ({"label_idx": np.array([[0, 1]])}, r"label_idx must be 1-D, shape \(M,\); got shape \(1, 2\)"),
        ({"label_idx": np.array([0, 2])}, r"label_idx must be in \[0, L=2\)"),
        ({"image_idx": np.array([0, 3])}, r"image_idx must be in \[0, N=3\)"),
        ({"image_idx": np.array([0])}, r"image_idx must have shape \(2,\); got \(1,\)"),
        ({"confidence": np.array([60.0])}, r"confidence must have shape \(M,\) = \(2,\)"),
        ({"confidence": np.array([60.0, np.nan])}, "confidence must be finite"),
        ({"confidence": np.array([60.0, 100.5])}, r"in \[0, 100\]"),
        ({"confidence": np.array([40.0, 70.0])}, "1 confidence\\(s\\) below floor=50.0"),
        ({"is_true": np.array([True])}, r"is_true must have shape \(M,\) = \(2,\)"),
        ({"is_true": np.array([0.5, 1.0])}, "is_true must be boolean"),
        ({"floor": 120.0}, r"floor must be a confidence in \[0, 100\]"),
        (
            {"image_idx": np.array([0, 0]), "label_idx": np.array([1, 1])},
            "1 repeated \\(image, label\\) pair",
        ),
        ({"is_true": np.array([True, True]), "support": np.array([1, 0])}, "more true entries than support"),
    ],
)
def test_scored_pairs_validation(change: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ScoredPairs(**{**_valid_arguments(), **change})


def test_scored_pairs_is_read_only_but_leaves_the_callers_arrays_alone() -> None:
    arguments = _valid_arguments()
    pairs = ScoredPairs(**arguments)
    with pytest.raises(ValueError, match="read-only"):
        pairs.confidence[0] = 1.0
    arguments["confidence"][0] = 55.0  # the caller's array is still writable
    with pytest.raises(AttributeError):
        pairs.floor = 0.0  # type: ignore[misc]
    assert isinstance(pairs.labels, tuple)
    assert pairs.n_labels == 2 and pairs.n_pairs == 2


def test_the_cached_sweep_cannot_be_changed_through_a_result(hand_pairs: ScoredPairs) -> None:
    first = exact_curves(hand_pairs)
    first.loc[0, "tp"] = 99
    first["threshold"] *= 2
    pd.testing.assert_frame_equal(exact_curves(hand_pairs), exact_curves(dataclasses.replace(hand_pairs)))
    assert exact_curves(hand_pairs).loc[0, "tp"] == 1


# -------------------------------------------------------------------------- random data vs reference


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize(("floor", "decimals"), [(0.0, 0), (50.0, 1), (12.0, 3)])
def test_exact_curves_match_slow_reference(seed: int, floor: float, decimals: int) -> None:
    truth, scores = random_case(seed, floor=floor, decimals=decimals)
    pairs = make_pairs(truth, scores, floor=floor)
    expected = reference_curves(truth, scores, pairs.labels)
    pd.testing.assert_frame_equal(comparable(exact_curves(pairs)), expected, check_dtype=False)
    assert_allclose(average_precision(pairs), reference_ap(truth, scores), rtol=1e-12)


@pytest.mark.parametrize("seed", range(6))
def test_grid_table_matches_exact_curves_and_reference(seed: int) -> None:
    truth, scores = random_case(seed, floor=20.0, decimals=1)
    pairs = make_pairs(truth, scores, floor=20.0)
    thresholds = np.array([20.0, 33.3, 50.0, 61.5, 80.0, 99.9, 100.0])
    grid = grid_table(pairs, thresholds=thresholds)
    for row in grid.itertuples(index=False):
        column = pairs.labels.index(row.label)
        y_pred = scores[:, column] >= row.threshold
        y_true = truth[:, column]
        assert (row.tp, row.fp) == ((y_pred & y_true).sum(), (y_pred & ~y_true).sum())
        assert (row.fn, row.tn) == ((~y_pred & y_true).sum(), (~y_pred & ~y_true).sum())


# ---------------------------------------------------------------------------------- sklearn cross-check


@pytest.mark.parametrize("seed", range(5))
def test_exact_curves_match_sklearn_precision_recall_curve(seed: int) -> None:
    truth, scores = random_case(seed, decimals=0)
    pairs = make_pairs(truth, scores)
    curves = exact_curves(pairs)
    for column, label in enumerate(pairs.labels):
        if not truth[:, column].any():
            continue  # sklearn's recall is undefined without positives
        precision, recall, thresholds = precision_recall_curve(
            truth[:, column], dense_scores(scores)[:, column]
        )
        known = thresholds >= 0  # drop sklearn's point at UNRETURNED: "predict every image"
        ours = curves[curves["label"] == label].iloc[::-1]  # ascending, like sklearn
        assert_array_equal(ours["threshold"], thresholds[known])
        assert_allclose(ours["precision"], precision[:-1][known], rtol=1e-15)
        assert_allclose(ours["recall"], recall[:-1][known], rtol=1e-15)


@pytest.mark.parametrize("seed", range(5))
def test_average_precision_equals_sklearn_when_every_image_is_scored(seed: int) -> None:
    truth, scores = random_case(seed, decimals=0)
    rng = np.random.default_rng(seed)
    scores = np.where(np.isnan(scores), np.round(rng.uniform(0, 100, scores.shape)), scores)  # all scored
    pairs = make_pairs(truth, scores)
    ours = average_precision(pairs)
    for column in range(truth.shape[1]):
        if truth[:, column].any():
            assert ours[column] == pytest.approx(
                average_precision_score(truth[:, column], scores[:, column]), rel=1e-14, abs=0
            )
        else:
            assert np.isnan(ours[column])


@pytest.mark.parametrize("seed", range(5))
def test_average_precision_differs_from_sklearn_by_the_predict_everything_point(seed: int) -> None:
    # sklearn, on dense scores where unreturned pairs score below every threshold, ends its curve with
    # "predict every image": recall 1 at precision support/N. We leave that point out, so
    #   sklearn = ours + (1 - R_last) * support / N, where R_last is our last recall (0 if never returned).
    truth, scores = random_case(seed, decimals=0)
    pairs = make_pairs(truth, scores)
    ours = average_precision(pairs)
    curves = exact_curves(pairs)
    n_images = truth.shape[0]
    differs = 0
    for column, label in enumerate(pairs.labels):
        support = truth[:, column].sum()
        if not support:
            continue
        recall = curves.loc[curves["label"] == label, "recall"]
        last_recall = recall.iloc[-1] if len(recall) else 0.0
        sklearn_ap = average_precision_score(truth[:, column], dense_scores(scores)[:, column])
        assert sklearn_ap == pytest.approx(ours[column] + (1 - last_recall) * support / n_images, rel=1e-12)
        differs += last_recall < 1
    assert differs  # the random cases do have positives that were never returned


@pytest.mark.parametrize("seed", range(4))
def test_grid_table_matches_sklearn_scores(seed: int) -> None:
    truth, scores = random_case(seed, decimals=0)
    pairs = make_pairs(truth, scores)
    grid = grid_table(pairs, thresholds=[0, 25, 50, 75, 90, 100])
    for row in grid.itertuples(index=False):
        column = pairs.labels.index(row.label)
        y_true, y_pred = truth[:, column], dense_scores(scores)[:, column] >= row.threshold
        assert_allclose(row.precision, precision_score(y_true, y_pred, zero_division=np.nan))
        assert_allclose(row.recall, recall_score(y_true, y_pred, zero_division=np.nan))
        assert_allclose(row.f1, f1_score(y_true, y_pred, zero_division=np.nan))


@pytest.mark.parametrize("seed", range(4))
def test_micro_macro_matches_sklearn_averages(seed: int) -> None:
    truth, scores = random_case(seed, decimals=0)
    pairs = make_pairs(truth, scores)
    table = micro_macro(grid_table(pairs, thresholds=[0, 30, 60, 90, 100]))
    for row in table.itertuples(index=False):
        y_pred = dense_scores(scores) >= row.threshold
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # sklearn warns where a label's score is undefined
            for average in ("micro", "macro"):
                for name, metric in (
                    ("precision", precision_score),
                    ("recall", recall_score),
                    ("f1", f1_score),
                ):
                    expected = metric(truth, y_pred, average=average, zero_division=np.nan)
                    assert_allclose(getattr(row, f"{average}_{name}"), expected, rtol=1e-12, err_msg=name)
        assert row.macro_labels == (y_pred.sum(axis=0) > 0).sum()


@pytest.mark.parametrize("seed", range(4))
def test_global_curve_matches_sklearn_on_all_pairs_flattened(seed: int) -> None:
    truth, scores = random_case(seed, decimals=0)
    pairs = make_pairs(truth, scores)
    curve = global_curve(pairs).iloc[::-1]
    precision, recall, thresholds = precision_recall_curve(truth.ravel(), dense_scores(scores).ravel())
    known = thresholds >= 0
    assert_array_equal(curve["threshold"], thresholds[known])
    assert_allclose(curve["precision"], precision[:-1][known], rtol=1e-15)
    assert_allclose(curve["recall"], recall[:-1][known], rtol=1e-15)


# ------------------------------------------------------------------------------------------ invariance


def _shuffled(pairs: ScoredPairs, entry_order: np.ndarray, image_ids: np.ndarray) -> ScoredPairs:
    return ScoredPairs(
        labels=pairs.labels,
        n_images=pairs.n_images,
        support=pairs.support,
        label_idx=pairs.label_idx[entry_order],
        image_idx=image_ids[pairs.image_idx[entry_order]],
        confidence=pairs.confidence[entry_order],
        is_true=pairs.is_true[entry_order],
        floor=pairs.floor,
    )


@pytest.mark.parametrize("seed", range(3))
def test_shuffling_entries_and_relabeling_images_changes_nothing(seed: int) -> None:
    truth, scores = random_case(seed, n_images=60, decimals=0)
    pairs = make_pairs(truth, scores)
    rng = np.random.default_rng(seed + 100)
    identity_images = np.arange(pairs.n_images)
    for moved in (
        _shuffled(pairs, rng.permutation(pairs.n_pairs), identity_images),  # entry order
        _shuffled(pairs, np.arange(pairs.n_pairs), rng.permutation(pairs.n_images)),  # image ids
        _shuffled(pairs, rng.permutation(pairs.n_pairs), rng.permutation(pairs.n_images)),  # both
    ):
        pd.testing.assert_frame_equal(exact_curves(moved), exact_curves(pairs))
        pd.testing.assert_frame_equal(grid_table(moved), grid_table(pairs))
        pd.testing.assert_frame_equal(global_curve(moved), global_curve(pairs))
        assert_array_equal(average_precision(moved), average_precision(pairs))


def test_reordering_the_vocabulary_only_reorders_labels() -> None:
    truth, scores = random_case(7, decimals=0)
    pairs = make_pairs(truth, scores)
    order = np.random.default_rng(7).permutation(truth.shape[1])
    reordered = make_pairs(truth[:, order], scores[:, order], labels=tuple(pairs.labels[i] for i in order))
    assert_array_equal(average_precision(reordered), average_precision(pairs)[order])
    ours = comparable(exact_curves(pairs)).set_index(["label", "threshold"]).sort_index()
    theirs = comparable(exact_curves(reordered)).set_index(["label", "threshold"]).sort_index()
    pd.testing.assert_frame_equal(ours, theirs)


def test_a_bigger_sparse_case_stays_sparse() -> None:
    # 20,000 images x 2,000 labels would be 40M dense cells; the sweep only touches the 100k pairs.
    rng = np.random.default_rng(0)
    n_images, n_labels, n_pairs = 20_000, 2_000, 100_000
    key = np.unique(rng.integers(0, n_images * n_labels, n_pairs))
    label_idx, image_idx = key // n_images, key % n_images
    is_true = rng.random(key.size) < 0.5
    support = np.bincount(label_idx[is_true], minlength=n_labels) + 1  # one unreturned positive each
    pairs = ScoredPairs(
        labels=tuple(f"label{i}" for i in range(n_labels)),
        n_images=n_images,
        support=support,
        label_idx=label_idx,
        image_idx=image_idx,
        confidence=np.round(rng.uniform(50, 100, key.size), 1),
        is_true=is_true,
        floor=50.0,
    )
    curves = exact_curves(pairs)
    last = curves.groupby("label", observed=True).tail(1)
    assert_array_equal(last["fn"], 1)  # every label ends with its unreturned positive missed
    assert (average_precision(pairs) < 1).all()
    assert len(grid_table(pairs)) == n_labels * 51


def _next_lower_everywhere(
    code: np.ndarray, threshold: np.ndarray, floor: float
) -> tuple[np.ndarray, np.ndarray]:
    """The reference: next_lower_at's values at every point at once (the package's former
    next_lower_threshold, which recommend and min_cost_thresholds used before they read only their rows)."""
    same_next = code[1:] == code[:-1]
    low = np.full(threshold.shape[0], float(floor))
    low[:-1][same_next] = threshold[1:][same_next]
    lowest = np.ones(threshold.shape[0], dtype=bool)
    lowest[:-1] = ~same_next
    return low, lowest


def test_curve_points_by_label_sorts_by_vocabulary_then_threshold_down_and_finds_the_next_lower():
    from evaluation.stats.curve_points import curve_points_by_label, next_lower_at

    curves = pd.DataFrame(
        {
            "label": ["Dog", "Cat", "Dog", "Cat", "Cat"],
            "threshold": [40.0, 10.0, 90.0, 80.0, 55.5],
            "tp": [2, 3, 1, 1, 2],
            "fp": [1, 2, 0, 0, 1],
            "precision": [2 / 3, 0.6, 1.0, 1.0, 2 / 3],
        }
    )
    points = curve_points_by_label(curves, ["Cat", "Dog"], ("tp", "fp", "precision"))
    assert points["code"].tolist() == [0, 0, 0, 1, 1]
    assert points["threshold"].tolist() == [80.0, 55.5, 10.0, 90.0, 40.0]
    assert points["tp"].tolist() == [1, 2, 3, 1, 2] and points["tp"].dtype == np.int64
    assert points["precision"].dtype == np.float64
    low, lowest = _next_lower_everywhere(points["code"], points["threshold"], floor=5.0)
    assert low.tolist() == [55.5, 10.0, 5.0, 40.0, 5.0]
    assert lowest.tolist() == [False, False, True, False, True]
    for rows in ([0, 1, 2, 3, 4], [4, 2, 2, 0], []):  # at a few points: the same values
        low_at, lowest_at = next_lower_at(
            points["code"], points["threshold"], 5.0, np.array(rows, dtype=np.int64)
        )
        assert low_at.tolist() == low[rows].tolist() and lowest_at.tolist() == lowest[rows].tolist()
    with pytest.raises(ValueError, match="not in labels: \\['Dog'\\]"):
        curve_points_by_label(curves, ["Cat"])


def test_curve_points_by_label_reads_a_categorical_label_by_category():
    """A categorical label column (exact_curves') gives the codes its text gives; a sorted curve's
    columns come back as they are (not copies), an unsorted one's sorted."""
    from evaluation.stats.curve_points import curve_points_by_label

    text = pd.DataFrame(
        {
            "label": ["Cat", "Cat", "Dog", None, "Emu"],
            "threshold": [80.0, 10.0, 90.0, 50.0, 40.0],
            "tp": np.array([1, 2, 3, 4, 5], dtype=np.int32),
            "precision": [1.0, 0.5, 1.0, 0.25, 0.2],
        }
    )
    categorical = text.assign(label=pd.Categorical(text["label"], categories=["Emu", "Dog", "Ant", "Cat"]))
    known = text.iloc[[0, 1, 2, 4]].astype({"label": object})
    for labels in (["Cat", "Dog", "Emu"], ["Dog", "Cat", "Emu", "Ant"]):
        for frame in (text.iloc[[0, 1, 2, 4]], categorical.iloc[[0, 1, 2, 4]]):
            points = curve_points_by_label(frame, labels, ("tp", "precision"))
            expected = curve_points_by_label(known, labels, ("tp",))
            assert points["code"].tolist() == expected["code"].tolist()
            assert points["threshold"].tolist() == expected["threshold"].tolist()
            assert points["tp"].tolist() == expected["tp"].tolist() and points["tp"].dtype == np.int64
    for frame in (text, categorical):  # a missing label is unknown, as the text lookup has it
        with pytest.raises(ValueError, match="not in labels"):
            curve_points_by_label(frame, ["Cat", "Dog", "Emu"])
