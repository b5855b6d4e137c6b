"""Tests for evaluation.stats.thresholds: objectives, tie-breaks, every status, and the YAML document."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import yaml

from evaluation.errors import UserError
from evaluation.stats.metrics import CURVE_COLUMNS, ScoredPairs, exact_curves, global_curve
from evaluation.stats.thresholds import (
    RECOMMEND_COLUMNS,
    STATUSES,
    Objective,
    recommend,
    recommend_global,
    safe_min_confidence,
    thresholds_document,
)
from tests.support.scored import pairs_of

# ---------------------------------------------------------------------------------------------- helpers


def curve_frame(points: dict[str, list[tuple[float, int, int]]], support: dict[str, int]) -> pd.DataFrame:
    """An exact-curve frame from (threshold, tp, fp) points per label, rates derived as in metrics."""
    n_images = 1000
    rows = []
    for label, label_points in points.items():
        positives = support[label]
        for threshold, tp, fp in label_points:
            fn = positives - tp
            rows.append(
                {
                    "label": label,
                    "threshold": float(threshold),
                    "tp": tp,
                    "fp": fp,
                    "fn": fn,
                    "tn": n_images - positives - fp,
                    "precision": tp / (tp + fp),
                    "recall": tp / positives if positives else math.nan,
                    "f1": 2 * tp / (2 * tp + fp + fn),
                    "support": positives,
                }
            )
    return pd.DataFrame(rows, columns=list(CURVE_COLUMNS))


def recommend_one(
    label_points: list[tuple[float, int, int]], support: int, objective: str, **options: object
) -> pd.Series:
    curves = curve_frame({"A": label_points}, {"A": support})
    return recommend(curves, labels=["A"], support=[support], objective=objective, **options).iloc[0]


# ------------------------------------------------------------------------------------------ objective


@pytest.mark.parametrize(
    ("text", "kind", "target"),
    [
        ("best-f1", "best-f1", None),
        (" Best_F1 ", "best-f1", None),
        ("f1", "best-f1", None),
        ("recall-at-precision:0.9", "recall-at-precision", 0.9),
        ("recall-at-precision: 90%", "recall-at-precision", 0.9),
        ("precision-at-recall:0.8", "precision-at-recall", 0.8),
        ("precision-at-recall:1", "precision-at-recall", 1.0),
        ("precision>=0.95", "recall-at-precision", 0.95),
        ("recall >= 80%", "precision-at-recall", 0.8),
    ],
)
def test_objective_parse(text: str, kind: str, target: float | None) -> None:
    objective = Objective.parse(text)
    assert (objective.kind, objective.target) == (kind, target)
    assert Objective.parse(str(objective)) == objective  # str round-trips


@pytest.mark.parametrize("target", [0.9, 0.123456789012345, 1.0, 1e-9])
def test_objective_str_round_trips_exactly(target: float) -> None:
    for kind in ("recall-at-precision", "precision-at-recall"):
        objective = Objective(kind, target)
        assert Objective.parse(str(objective)) == objective
    assert str(Objective("recall-at-precision", 0.9)) == "recall-at-precision:0.9"
    assert str(Objective("best-f1")) == "best-f1"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("best-recall", "unknown objective 'best-recall'; use best-f1, recall-at-precision:P"),
        ("recall-at-precision", "needs a target, e.g. recall-at-precision:0.9"),
        ("recall-at-precision:", "needs a target"),
        ("recall-at-precision:high", "target 'high' is not a number"),
        (
            "recall-at-precision:90",
            "target 90 is above 1; targets are fractions in \\(0, 1\\] \\(write 0.9 or 90%",
        ),
        ("precision-at-recall:0", "needs a target in \\(0, 1\\]; got 0.0"),
        ("precision-at-recall:-0.5", "needs a target in \\(0, 1\\]; got -0.5"),
        ("precision-at-recall:150%", "needs a target in \\(0, 1\\]; got 1.5"),
        ("precision-at-recall:nan", "needs a target in \\(0, 1\\]; got nan"),
        ("precision>=", "needs a target, e.g. precision>=0.9"),
        ("", "unknown objective ''"),
    ],
)
def test_objective_parse_errors_name_the_value_and_what_is_allowed(text: str, message: str) -> None:
    with pytest.raises(UserError, match=message):
        Objective.parse(text)


def test_objective_constructor_validates() -> None:
    with pytest.raises(UserError, match=r"best-f1 takes no target; got 0\.5"):
        Objective("best-f1", 0.5)
    with pytest.raises(UserError, match="recall-at-precision needs a target in \\(0, 1\\]; got None"):
        Objective("recall-at-precision")
    with pytest.raises(UserError, match="unknown objective kind 'f2'"):
        Objective("f2")
    with pytest.raises(UserError, match="objective must be text"):
        Objective.parse(0.9)  # type: ignore[arg-type]
    assert Objective("precision-at-recall", 1).target == 1.0
    assert Objective.parse("precision>=0.9").describe() == "maximise recall with precision >= 0.9"


# ------------------------------------------------------------------------------ objectives, tie-breaks


def test_best_f1_ties_go_to_the_highest_threshold() -> None:
    # support 4; F1 = 2tp / (tp + fp + support)
    #   90: tp2 fp0 -> 4/6 = 2/3;  70: tp3 fp2 -> 6/9 = 2/3 (tie);  60: tp4 fp6 -> 8/14 = .571
    row = recommend_one([(90, 2, 0), (70, 3, 2), (60, 4, 6)], 4, "best-f1", min_support=1)
    assert (row["threshold"], row["threshold_low"]) == (90.0, 70.0)  # any MinConfidence in (70, 90]
    assert (row["tp"], row["fp"], row["fn"]) == (2, 0, 2)
    assert row["f1"] == pytest.approx(2 / 3)
    assert row["status"] == "ok" and row["note"] == ""


def test_recall_at_precision_takes_the_highest_recall_then_the_highest_threshold() -> None:
    # support 4:  95: tp1 fp0 (P 1, R .25)   90: tp2 fp0 (1, .5)   80: tp3 fp1 (.75, .75)
    #             75: tp3 fp2 (.6, .75)      60: tp4 fp6 (.4, 1)
    points = [(95, 1, 0), (90, 2, 0), (80, 3, 1), (75, 3, 2), (60, 4, 6)]
    # precision >= .6: 95, 90, 80, 75 qualify; recall .75 is tied at 80 and 75: the higher threshold (80)
    # has fewer false positives for the same true positives.
    row = recommend_one(points, 4, "recall-at-precision:0.6", min_support=1)
    assert (row["threshold"], row["precision"], row["recall"]) == (80.0, 0.75, 0.75)
    # precision >= .76: only 95 and 90; the highest recall is 90's.
    assert recommend_one(points, 4, "precision>=0.76", min_support=1)["threshold"] == 90.0
    # a precision exactly at the target qualifies (3/4 == 0.75 in floating point too)
    assert recommend_one(points, 4, "precision>=0.75", min_support=1)["threshold"] == 80.0


def test_precision_at_recall_ties_go_to_the_highest_recall() -> None:
    # support 4:  95: tp1 fp0 (P 1, R .25)   90: tp2 fp0 (1, .5)   85: tp3 fp0 (1, .75)
    #             80: tp3 fp1 (.75, .75)     70: tp4 fp2 (.667, 1)
    points = [(95, 1, 0), (90, 2, 0), (85, 3, 0), (80, 3, 1), (70, 4, 2)]
    # recall >= .5: 90, 85, 80, 70 qualify; precision 1 is tied at 90 and 85: 85 gives more recall at the
    # same precision, so it wins although its threshold is lower.
    row = recommend_one(points, 4, "precision-at-recall:0.5", min_support=1)
    assert (row["threshold"], row["precision"], row["recall"]) == (85.0, 1.0, 0.75)
    row = recommend_one(points, 4, "recall>=1", min_support=1)  # only 70 reaches recall 1
    assert (row["threshold"], row["threshold_low"]) == (70.0, 0.0)


# ------------------------------------------------------------------------------------------ statuses


@pytest.fixture
def status_case() -> tuple[pd.DataFrame, list[str], list[int]]:
    labels = ["Ok", "Few", "Empty", "Silent", "Wrong", "Floor", "FewFloor"]
    support = [20, 3, 0, 12, 15, 10, 2]
    points = {
        "Ok": [(99, 10, 0), (90, 18, 2), (80, 20, 12)],  # best F1 at 90 (36/40), recall 1 reached at 80
        "Few": [(97, 2, 0), (60, 3, 4)],  # F1 4/5 at 97 vs 6/10 at 60
        "Empty": [(70, 0, 3), (55, 0, 5)],  # no positives; returned for 5 images up to 70
        # "Silent" has positives but no rows: never returned
        "Wrong": [(88, 0, 1), (65, 0, 9)],  # every prediction wrong
        "Floor": [(95, 3, 0), (52, 7, 0)],  # best at the lowest point, 3 positives never returned
        "FewFloor": [(75, 1, 0)],  # both low-support and at-floor
    }
    return curve_frame(points, dict(zip(labels, support, strict=True))), labels, support


def test_every_status_best_f1(status_case: tuple[pd.DataFrame, list[str], list[int]]) -> None:
    curves, labels, support = status_case
    table = recommend(curves, labels=labels, support=support, objective="best-f1", min_support=10, floor=50)
    assert list(table.columns) == list(RECOMMEND_COLUMNS)
    assert list(table["label"]) == labels  # every label, vocabulary order
    rows = table.set_index("label")
    assert dict(rows["status"]) == {
        "Ok": "ok",
        "Few": "low-support",
        "Empty": "no-positives",
        "Silent": "no-predictions",
        "Wrong": "unreachable",
        "Floor": "at-floor",
        "FewFloor": "low-support",
    }
    assert set(rows["status"]) <= set(STATUSES)
    assert rows.loc["FewFloor", "flags"] == "low-support,at-floor"  # status is the most important flag
    assert rows.loc["Silent", "flags"] == "no-predictions"

    assert rows.loc["Ok", "threshold"] == 90.0 and rows.loc["Ok", "threshold_low"] == 80.0
    assert rows.loc["Few", "threshold"] == 97.0  # still computed, but flagged
    assert "only 3 positive image(s), fewer than the minimum support of 10" in rows.loc["Few", "note"]

    empty = rows.loc["Empty"]
    assert math.isnan(empty["threshold"]) and pd.isna(empty["tp"])
    assert "no positive images" in empty["note"]
    assert "returned for 5 image(s), all false positives, up to confidence 70" in empty["note"]

    silent = rows.loc["Silent"]
    assert math.isnan(silent["threshold"]) and math.isnan(silent["precision"])
    assert (silent["tp"], silent["fp"], silent["fn"], silent["recall"], silent["f1"]) == (0, 0, 12, 0.0, 0.0)
    assert "never returned at or above the floor 50: all 12 positive(s) are missed" in silent["note"]

    wrong = rows.loc["Wrong"]
    assert math.isnan(wrong["threshold"]) and pd.isna(wrong["fp"])
    assert "no threshold gives a true positive" in wrong["note"]

    floor = rows.loc["Floor"]
    assert (floor["threshold"], floor["threshold_low"], floor["fn"]) == (52.0, 50.0, 3)
    assert "3 of 10 positive(s) were never returned at or above the floor 50" in floor["note"]
    assert "a lower MinConfidence floor might do better" in floor["note"]

    few_floor = rows.loc["FewFloor"]
    assert few_floor["threshold"] == 75.0
    assert (
        "fewer than the minimum support" in few_floor["note"]
        and "lower MinConfidence floor" in few_floor["note"]
    )


def test_unreachable_notes_say_the_best_achievable(
    status_case: tuple[pd.DataFrame, list[str], list[int]],
) -> None:
    curves, labels, support = status_case
    rows = recommend(curves, labels=labels, support=support, objective="precision>=0.95", floor=50)
    rows = rows.set_index("label")
    # Ok: precision 1 at 99 qualifies (recall .5); Floor: precision 1 down to 52
    assert rows.loc["Ok", "threshold"] == 99.0 and rows.loc["Ok", "status"] == "ok"
    assert rows.loc["Few", "status"] == "low-support"  # precision 1 at 97
    assert rows.loc["Floor", "threshold"] == 52.0  # precision 1 all the way down: the most recall
    assert rows.loc["Floor", "status"] == "at-floor"
    assert rows.loc["Wrong", "status"] == "unreachable"
    assert "the best is precision 0.000 (recall 0.000) at confidence 88" in rows.loc["Wrong", "note"]

    rows = recommend(curves, labels=labels, support=support, objective="recall>=0.9", floor=50).set_index(
        "label"
    )
    assert rows.loc["Ok", "threshold"] == 90.0  # recall .9 at precision .9 beats recall 1 at .625
    assert rows.loc["Floor", "status"] == "unreachable"
    assert math.isnan(rows.loc["Floor", "threshold"])
    assert (
        "recall >= 0.9 is not reached at any threshold at or above the floor 50; the most is recall 0.700 "
        "(precision 1.000) at confidence 52" in rows.loc["Floor", "note"]
    )
    assert "a lower MinConfidence floor might reach it" in rows.loc["Floor", "note"]
    assert rows.loc["Few", "status"] == "low-support"  # recall 1 at 60
    assert rows.loc["FewFloor", "flags"] == "unreachable,low-support"  # recall .5 at most

    few = curve_frame({"A": [(90, 1, 1), (80, 2, 4)]}, {"A": 20})
    row = recommend(few, labels=["A"], support=[20], objective="precision>=0.9").iloc[0]
    assert row["status"] == "unreachable"
    assert "precision >= 0.9 is not reached at any threshold; the best is precision 0.500" in row["note"]


def test_recommend_validates_its_inputs(status_case: tuple[pd.DataFrame, list[str], list[int]]) -> None:
    curves, labels, support = status_case
    with pytest.raises(ValueError, match="not in labels: \\['Wrong'\\]"):
        recommend(
            curves, labels=[x for x in labels if x != "Wrong"], support=support[:-1], objective="best-f1"
        )
    with pytest.raises(ValueError, match="support must be 7 integers"):
        recommend(curves, labels=labels, support=support[:-1], objective="best-f1")
    with pytest.raises(ValueError, match="disagrees"):
        recommend(curves, labels=labels, support=[s + 1 for s in support], objective="best-f1")
    with pytest.raises(ValueError, match="missing columns \\['f1'\\]"):
        recommend(curves.drop(columns="f1"), labels=labels, support=support, objective="best-f1")
    with pytest.raises(UserError, match="unknown objective"):
        recommend(curves, labels=labels, support=support, objective="best")


def reference_choice(rows: pd.DataFrame, objective: Objective) -> pd.Series | None:
    """Obvious version of the objective on one label's rows: filter, then max by the tie-break keys."""
    candidates = []
    for _, row in rows.iterrows():
        if objective.kind == "best-f1" and row["f1"] > 0:
            candidates.append(((row["f1"], row["threshold"]), row))
        elif (
            objective.kind == "recall-at-precision" and row["precision"] >= objective.target and row["tp"] > 0
        ):
            candidates.append(((row["recall"], row["threshold"]), row))
        elif objective.kind == "precision-at-recall" and row["recall"] >= objective.target:
            candidates.append(((row["precision"], row["recall"], row["threshold"]), row))
    return max(candidates, key=lambda item: item[0])[1] if candidates else None


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("objective", ["best-f1", "recall-at-precision:0.7", "precision-at-recall:0.6"])
def test_recommend_matches_a_slow_reference_on_random_curves(seed: int, objective: str) -> None:
    rng = np.random.default_rng(seed)
    n_images, n_labels = 80, 12
    truth = rng.random((n_images, n_labels)) < 0.3
    returned = rng.random((n_images, n_labels)) < np.where(truth, 0.85, 0.4)
    image_idx, label_idx = np.nonzero(returned)
    confidence = np.round(np.clip(rng.normal(np.where(truth, 75, 60), 12), 50, 100))[image_idx, label_idx]
    pairs = pairs_of(truth, image_idx, label_idx, confidence, floor=50.0)
    curves = exact_curves(pairs)
    parsed = Objective.parse(objective)
    table = recommend(curves, labels=pairs.labels, support=pairs.support, objective=parsed, floor=50.0)
    for _, row in table.iterrows():
        expected = reference_choice(curves[curves["label"] == row["label"]], parsed)
        if expected is None:
            assert math.isnan(row["threshold"]), row["label"]
        else:
            assert row["threshold"] == expected["threshold"], row["label"]
            assert (row["tp"], row["fp"]) == (expected["tp"], expected["fp"])
    # threshold_low really is the next lower confidence: nothing of the label lies in (low, threshold)
    for _, row in table.dropna(subset=["threshold"]).iterrows():
        mine = pairs.confidence[pairs.label_idx == pairs.labels.index(row["label"])]
        assert not ((mine > row["threshold_low"]) & (mine < row["threshold"])).any()


# ------------------------------------------------------------------------------------------ global


@pytest.fixture
def global_df() -> pd.DataFrame:
    # 11 pairs, support 9 (the hand-made case of test_metrics):
    #   99: tp2 fp0 fn7 F1 4/11;  95: tp4 fp1 fn5 F1 8/14;  80: tp5 fp3 fn4 F1 10/17
    #   70: tp6 fp3 fn3 F1 12/18; 60: tp6 fp4 fn3 F1 12/19; 55: tp6 fp5 fn3 F1 12/20
    labels = ("Person", "Human", "Cat", "Dog", "Unicorn")
    entries = [(0, 0, 99, 1), (0, 1, 95, 1), (0, 4, 95, 0), (0, 2, 70, 1), (0, 5, 60, 0), (1, 0, 99, 1)]
    entries += [(1, 1, 95, 1), (2, 2, 80, 0), (2, 3, 80, 1), (2, 4, 80, 0), (4, 1, 55, 0)]
    label_idx, image_idx, confidence, is_true = (np.array(column) for column in zip(*entries, strict=True))
    pairs = ScoredPairs(
        labels=labels,
        n_images=6,
        support=np.array([4, 2, 1, 2, 0]),
        label_idx=label_idx,
        image_idx=image_idx,
        confidence=confidence.astype(float),
        is_true=is_true.astype(bool),
        floor=50.0,
    )
    return global_curve(pairs)


def test_recommend_global(global_df: pd.DataFrame) -> None:
    best = recommend_global(global_df, objective=Objective.parse("best-f1"), floor=50)
    assert best == {
        "threshold": 70.0,
        "threshold_low": 60.0,
        "precision": pytest.approx(2 / 3),
        "recall": pytest.approx(2 / 3),
        "f1": pytest.approx(2 / 3),
        "tp": 6,
        "fp": 3,
        "fn": 3,
        "support": 9,
        "status": "ok",
        "note": "",
    }
    assert all(type(best[key]) is float for key in ("threshold", "precision", "recall", "f1"))
    assert all(type(best[key]) is int for key in ("tp", "fp", "fn", "support"))
    # precision >= .8: 99 (R 2/9) and 95 (R 4/9) qualify -> 95
    assert recommend_global(global_df, objective="precision>=0.8", floor=50)["threshold"] == 95.0
    # recall >= 2/3 is first met at 70; 60 and 55 have the same recall and lower precision
    assert recommend_global(global_df, objective="recall>=0.66", floor=50)["threshold"] == 70.0
    unreachable = recommend_global(global_df, objective="recall>=0.9", floor=50)
    assert unreachable["status"] == "unreachable" and unreachable["threshold"] is None
    assert "the most is recall 0.667" in unreachable["note"]


def test_recommend_global_edge_statuses(global_df: pd.DataFrame) -> None:
    nothing = recommend_global(global_df.iloc[:0], objective="best-f1", floor=50)
    assert nothing["status"] == "no-predictions" and nothing["threshold"] is None
    no_positives = global_df.assign(tp=0, fn=0, fp=global_df["tp"] + global_df["fp"], recall=np.nan)
    assert recommend_global(no_positives, objective="best-f1")["status"] == "no-positives"
    at_floor = global_df.iloc[:2]  # 95 is now the lowest point, with 5 positives never returned
    result = recommend_global(at_floor, objective="best-f1", floor=90)
    assert (result["status"], result["threshold"], result["threshold_low"]) == ("at-floor", 95.0, 90.0)
    assert "5 of 9 positive pair(s) were never returned at or above the floor 90" in result["note"]


# ------------------------------------------------------------------------------------------ document


@pytest.mark.parametrize(
    ("threshold", "low", "expected"),
    [
        (70.0, 60.0, 70.0),
        (87.123456, 80.0, 87.1234),  # rounded DOWN: 87.1235 would drop the prediction at 87.123456
        (87.123456, 87.12341, 87.12345),  # 87.1234 would let in the prediction at 87.12341
        (99.05210876464844, 98.0, 99.0521),
        (55.0, 55.0, 55.0),  # nothing in (low, t]: the threshold itself
    ],
)
def test_safe_min_confidence(threshold: float, low: float, expected: float) -> None:
    assert safe_min_confidence(threshold, low) == expected


def _walk(value: object) -> list[type]:
    if isinstance(value, dict):
        return [type(key) for key in value] + [t for item in value.values() for t in _walk(item)]
    if isinstance(value, list):
        return [t for item in value for t in _walk(item)]
    return [type(value)]


def test_thresholds_document_loads_back_with_plain_types(
    status_case: tuple[pd.DataFrame, list[str], list[int]], global_df: pd.DataFrame
) -> None:
    curves, labels, support = status_case
    objective = Objective.parse("best-f1")
    per_label = recommend(curves, labels=labels, support=support, objective=objective, floor=50)
    global_rec = recommend_global(global_df, objective=objective, floor=50)
    metadata = {"label_model_version": "3.0", "n_images": np.int64(6), "run": {"seeds": np.array([1, 2])}}
    document = thresholds_document(per_label, global_rec, objective=objective, floor=50, metadata=metadata)
    assert set(_walk(document)) <= {dict, list, str, int, float, bool, type(None)}
    loaded = yaml.safe_load(yaml.safe_dump(document, sort_keys=False))
    assert loaded == document
    assert loaded["objective"] == "best-f1" and loaded["floor"] == 50.0
    assert loaded["metadata"] == {"label_model_version": "3.0", "n_images": 6, "run": {"seeds": [1, 2]}}
    # the robust value: the middle of the equally-good range (60, 70], (80, 90] (it was the top before)
    assert loaded["global"]["min_confidence"] == 65.0
    assert loaded["global"]["same_counts_range"] == [60.0, 70.0]
    assert list(loaded["labels"]) == labels
    assert loaded["labels"]["Ok"] == {
        "min_confidence": 85.0,
        "same_counts_range": [80.0, 90.0],
        "precision": 0.9,
        "recall": 0.9,
        "f1": 0.9,
        "support": 20,
        "status": "ok",
        "note": "",
    }
    assert loaded["labels"]["Silent"]["min_confidence"] is None
    assert loaded["labels"]["Silent"]["precision"] is None  # undefined, not 0
    assert loaded["labels"]["Few"]["status"] == "low-support"


def test_document_thresholds_select_exactly_the_evaluated_predictions() -> None:
    rng = np.random.default_rng(3)
    n_images, n_labels = 300, 6
    truth = rng.random((n_images, n_labels)) < 0.4
    returned = rng.random((n_images, n_labels)) < np.where(truth, 0.9, 0.5)
    image_idx, label_idx = np.nonzero(returned)
    confidence = rng.uniform(50, 100, image_idx.size)  # full float precision, like Rekognition's
    pairs = pairs_of(truth, image_idx, label_idx, confidence, floor=50.0)
    per_label = recommend(
        exact_curves(pairs), labels=pairs.labels, support=pairs.support, objective="best-f1", floor=50
    )
    document = thresholds_document(
        per_label,
        recommend_global(global_curve(pairs), objective="best-f1"),
        objective="best-f1",
        floor=50,
        metadata={},
    )
    for index, label in enumerate(pairs.labels):
        min_confidence = document["labels"][label]["min_confidence"]
        row = per_label.iloc[index]
        selected = (pairs.label_idx == index) & (pairs.confidence >= min_confidence)
        assert selected.sum() == row["tp"] + row["fp"]
        assert len(repr(min_confidence)) < len(repr(row["threshold"]))  # actually shorter


def test_min_confidence_to_use_is_the_robust_value_inside_the_range():
    from evaluation.stats.thresholds import min_confidence_to_use

    # the middle of (low, threshold], with the fewest digits that stay inside: never above the point
    assert min_confidence_to_use(87.1267, 80.0) == 84.0
    assert min_confidence_to_use(92.32631234, 1.34) == 47.0  # the demo case: 1.34..92.3263
    assert min_confidence_to_use(92.32634735107422, 92.1) == 92.2
    assert min_confidence_to_use(50.00002, 50.00001) == 50.00002  # more decimals when the range is narrow
    assert min_confidence_to_use(float("nan"), 1.0) is None
    assert min_confidence_to_use(None, None) is None
    assert min_confidence_to_use(40.0, float("nan")) == 40.0  # range unknown (old labels.csv): the point
    assert min_confidence_to_use(0.0, 0.0) == 0.0  # an empty range: the threshold is the only value


def test_notes_say_when_positives_are_never_returned_and_no_floor_can_help():
    import numpy as np

    from evaluation.stats.metrics import ScoredPairs, exact_curves
    from evaluation.stats.thresholds import recommend

    def notes(confidences, truths):
        pairs = ScoredPairs(
            labels=("Person",),
            n_images=10,
            support=np.array([4]),
            label_idx=np.zeros(len(confidences), dtype=np.int64),
            image_idx=np.arange(len(confidences), dtype=np.int64),
            confidence=np.array(confidences, dtype=float),
            is_true=np.array(truths),
            floor=0.0,
        )
        row = recommend(
            exact_curves(pairs),
            labels=pairs.labels,
            support=pairs.support,
            objective="best-f1",
            min_support=1,
        ).iloc[0]
        return row["status"], row["note"]

    # chosen at 80, the lowest point: 2 of 4 positives were never returned, and the floor is already 0
    status, note = notes([90, 85, 80], [True, False, True])
    assert (
        status == "at-floor" and "no MinConfidence finds them" in note and "lower MinConfidence" not in note
    )
    # chosen at 80 with a lower point at 10: the note says recall can never pass 0.5
    status, note = notes([90, 85, 80, 10], [True, False, True, False])
    assert (
        status == "ok" and "2 of 4 positive(s) are never returned" in note and "cannot exceed 0.500" in note
    )


def _reference_first_per_sorted_group(group, n_groups, keys_desc):
    """`_first_per_sorted_group` as it was before its temporaries were cut (kept as the reference)."""
    n_rows = group.shape[0]
    starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
    segment = np.repeat(np.arange(starts.size), np.diff(np.r_[starts, n_rows]))
    left = np.ones(n_rows, dtype=bool)
    for key in keys_desc:
        values = np.asarray(key, dtype=np.float64)
        masked = np.where(left & ~np.isnan(values), values, -np.inf)
        best = np.maximum.reduceat(masked, starts)
        left &= (masked == best[segment]) | (np.isneginf(best[segment]) & np.isnan(values))
    first = np.minimum.reduceat(np.where(left, np.arange(n_rows), n_rows), starts)
    chosen = np.full(n_groups, -1, dtype=np.int64)
    chosen[group[starts]] = first
    return chosen


@pytest.mark.parametrize("seed", range(20))
def test_first_per_sorted_group_equals_the_reference(seed):
    from evaluation.stats.thresholds import _first_per_group, _first_per_sorted_group

    rng = np.random.default_rng(seed)
    rows = int(rng.integers(1, 400))
    n_groups = int(rng.integers(1, 30))
    group = np.sort(rng.integers(0, n_groups, rows))
    choices = np.array([np.nan, -np.inf, np.inf, 0.0, 0.5, 1.0, 2.0])
    keys = [rng.choice(choices, rows) for _ in range(int(rng.integers(1, 4)))]
    expected = _reference_first_per_sorted_group(group, n_groups, keys)
    assert np.array_equal(_first_per_sorted_group(group, n_groups, keys), expected)
    assert np.array_equal(_first_per_group(group, n_groups, keys), expected)
