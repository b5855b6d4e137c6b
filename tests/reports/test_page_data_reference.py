"""report.html's exact bins and error examples, vectorised, equal the code they replaced (kept verbatim in
tests/reports/page_data_reference.py) on many inputs: curves in the stored order and shuffled, ties,
labels absent or unknown, thinning, empty and one-image results, labels without positives or never
returned, answers as objects and as columns, parents counted or not, a label map."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest

from evaluation.analysis.summary import PathView
from evaluation.operations.answers import LabelsAnswer, PredictedBox, PredictedLabel
from evaluation.operations.label_columns import LabelColumns, LazyAnswers
from evaluation.pipeline import reanalyse
from evaluation.reports import exact_curve, thumbnails
from evaluation.reports.exact_curve import descending_order, exact_bins, round10
from evaluation.reports.html import _shown_paths
from evaluation.reports.thumbnails import evaluated_images, label_errors
from evaluation.stats.metrics import ScoredPairs
from tests.reports import page_data_reference as reference
from tests.support.runs import synthetic_result

# ---------------------------------------------------------------------------------------- exact bins


def _mirrored_lexsort(label: np.ndarray, threshold: np.ndarray) -> np.ndarray:
    """np.lexsort((threshold, label)) with each label's positions reversed, written plainly."""
    order = np.lexsort((threshold, label))
    return np.concatenate([order[label[order] == value][::-1] for value in np.unique(label)] or [order])


def test_descending_order_is_lexsorts_reversed_label_by_label() -> None:
    rng = np.random.default_rng(3)
    for size in (1, 2, 5, 50, 2000):
        for labels in (1, 3, 40):
            label = rng.integers(-1, labels, size)
            threshold = rng.choice([0.0, 12.5, 50.0, 99.5, 100.0], size) + rng.integers(0, 3, size) / 7
            stored = _mirrored_lexsort(label, threshold)
            for order in (np.arange(size), stored, stored[::-1], rng.permutation(size)):
                found = descending_order(label[order], threshold[order])
                if found is None:  # already each label's run, strictly descending
                    found = np.arange(size)
                    runs = np.flatnonzero(np.diff(label[order]) != 0)
                    assert len(np.unique(label[order])) == len(runs) + 1
                    assert all(
                        np.diff(part).max(initial=-1) < 0 for part in np.split(threshold[order], runs + 1)
                    )
                mirrored = _mirrored_lexsort(label[order], threshold[order])
                runs = np.flatnonzero(np.diff(label[order][found]) != 0)
                assert len(np.unique(label)) == len(runs) + 1  # each label in one run
                for value in np.unique(label):  # each label's points in lexsort's order reversed
                    mine = found[label[order][found] == value]
                    np.testing.assert_array_equal(mine, mirrored[label[order][mirrored] == value])
    # strictly descending runs in any label order are taken as they are; one label in two runs is not
    label = np.array([2, 2, 2, 0, 0, 1, 5, 5])
    assert descending_order(label, np.array([90.0, 50.5, 3.0, 80.0, 70.0, 60.0, 99.0, 98.0])) is None
    assert descending_order(np.array([1, 1, 0, 1]), np.array([9.0, 8.0, 7.0, 6.0])) is not None
    assert descending_order(np.array([1, 1]), np.array([9.0, 9.0])) is not None  # a tie


def test_round10_is_pythons_round() -> None:
    rng = np.random.default_rng(5)
    values = np.concatenate(
        [
            rng.uniform(50, 100, 200_000).astype(np.float32).astype(np.float64),  # exact ties: 1 in 128
            rng.uniform(0, 100, 200_000),
            np.round(rng.uniform(0, 100, 50_000), 11),
            -rng.uniform(0, 100, 10_000),
            rng.uniform(0, 1e-6, 10_000),
            rng.uniform(1e5, 1e9, 1_000),
            np.arange(0, 1, 2.0**-14),
            [
                0.0,
                -0.0,
                np.inf,
                -np.inf,
                np.nan,
                5e-324,
                1e308,
                2.5e-10,
                1.5e-10,
                99.99999999995,
                99.99999999985,
            ],
        ]
    )
    found = round10(values)
    expected = [round(value, 10) for value in values.tolist()]
    assert [repr(value) for value in found] == [repr(value) for value in expected]  # -0.0 and nan too
    assert round10(np.array([])) == []


def _curves_result(
    rows: list[tuple[str, float, int, int]],
    labels: list[str],
    recommended: list[float],
    *,
    floor: float | None = 0.0,
    categorical: bool = True,
) -> Any:
    curves = pd.DataFrame(rows, columns=["label", "threshold", "tp", "fp"])
    curves["tp"] = curves["tp"].astype(np.int32)
    curves["fp"] = curves["fp"].astype(np.int32)
    if categorical:
        curves["label"] = curves["label"].astype("category")
    return SimpleNamespace(
        labels=pd.DataFrame({"label": labels, "threshold": recommended}, index=labels),
        summary={"floor": {"evaluated_from": floor}} if floor is not None else {},
        curves=curves,
        curve_table=curves,  # a frame reads as the table does: by column
    )


def _random_curve(rng: np.random.Generator, name: str, size: int, *, ties: bool) -> list[Any]:
    """A label's cumulative counts at descending thresholds, as curves.csv holds them."""
    if ties:
        threshold = np.sort(rng.choice(np.arange(0, 100.5, 0.5), size))[::-1]
    else:
        threshold = np.sort(rng.choice(np.round(rng.uniform(0, 100, size * 3), 6), size, replace=False))[::-1]
    tp = np.cumsum(rng.integers(0, 3, size))
    fp = np.cumsum(rng.integers(0, 2, size))
    return [(name, float(t), int(a), int(b)) for t, a, b in zip(threshold, tp, fp, strict=True)]


@pytest.mark.parametrize(
    ("seed", "block"), [*((seed, None) for seed in range(6)), (0, 1), (1, 150), (2, 2600)]
)
def test_exact_bins_equal_the_reference_on_generated_curves(
    seed: int, block: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    if block is not None:  # a block of whole labels at a time: one label, a few, a long one alone
        monkeypatch.setattr(exact_curve, "BLOCK_POINTS", block)
    rng = np.random.default_rng(seed)
    labels = [f"L{i}" for i in range(7)]
    sizes = {"L0": 1, "L1": 40, "L2": 300, "L3": 0, "L5": 120, "L6": 2500}
    rows = [row for name, size in sizes.items() for row in _random_curve(rng, name, size, ties=seed % 3 == 2)]
    rows += _random_curve(rng, "Unknown", 30, ties=False)  # a label result.labels does not have
    rows += [("L4", 60.0, 0, 0), ("L4", 40.0, 0, 0)]  # a label with nothing returned: no bins
    recommended = [float(rng.choice([np.nan, 50.0, 99.9, 0.0, 73.25])) for _ in labels]
    recommended[6] = rows[len(rows) // 2][1]  # a recommendation on a confidence returned
    orders = {
        "stored": rows,
        "shuffled": [rows[i] for i in rng.permutation(len(rows))],
        "ascending": sorted(rows, key=lambda row: (row[0], row[1])),
    }
    for name, ordered in orders.items():
        for floor in (0.0, 35.0, None):
            for categorical in (True, False):
                result = _curves_result(ordered, labels, recommended, floor=floor, categorical=categorical)
                for max_stops in (1, 3, 7, 100, 1000):
                    expected = reference.exact_bins(result, max_stops=max_stops)
                    assert exact_bins(result, max_stops=max_stops) == expected, (name, floor, max_stops)


def test_exact_bins_of_empty_and_tiny_curves() -> None:
    labels = ["A", "B"]
    cases = [
        _curves_result([], labels, [np.nan, np.nan]),
        _curves_result([("A", 10.0, 1, 0)], labels, [10.0, np.nan]),
        _curves_result([("A", 10.0, 1, 0)], labels, [10.0, np.nan], floor=50.0),  # all below the floor
        _curves_result([("Z", 10.0, 1, 0)], labels, [np.nan, np.nan]),  # only an unknown label
        _curves_result(
            [("B", 10.0, 0, 0), ("B", 10.0, 1, 1), ("A", 5.0, 2, 0)], labels, [5.0, 10.0]
        ),  # a tie
    ]
    for result in cases:
        for max_stops in (1, 1000):
            assert exact_bins(result, max_stops=max_stops) == reference.exact_bins(
                result, max_stops=max_stops
            )


@pytest.mark.parametrize(("n_images", "n_labels", "seed"), [(1, 3, 0), (60, 5, 1), (400, 12, 2)])
def test_exact_bins_equal_the_reference_on_analysed_results(n_images: int, n_labels: int, seed: int) -> None:
    result = synthetic_result(None, labels=[f"L{i}" for i in range(n_labels)], n_images=n_images, seed=seed)
    for max_stops in (2, 5, 1000):
        assert exact_bins(result, max_stops=max_stops) == reference.exact_bins(result, max_stops=max_stops)


# -------------------------------------------------------------------------------------- label errors


def _answers(result: Any, seed: int) -> tuple[LabelsAnswer, ...]:
    """Answers with names spelled differently, parents and aliases naming labels, and boxes (label_errors
    reads them only for the boxes, so they need not agree with the pairs)."""
    rng = np.random.default_rng(seed)
    vocabulary = list(result.labels["label"])
    spellings = [*vocabulary, *(name.lower() for name in vocabulary), " Other ", "Thing"]
    answers = []
    for _ in range(result.pairs.n_images):
        labels = []
        for name in rng.choice(spellings, rng.integers(0, 6)):
            boxes = tuple(
                PredictedBox(*(float(value) for value in rng.uniform(0, 1, 4)), float(rng.uniform(50, 100)))
                for _ in range(rng.integers(0, 3))
            )
            labels.append(
                PredictedLabel(
                    name=str(name),
                    confidence=float(rng.uniform(0, 100)),
                    parents=tuple(str(p) for p in rng.choice(spellings, rng.integers(0, 3))),
                    aliases=tuple(str(a) for a in rng.choice(spellings, rng.integers(0, 2))),
                    categories=("Cat",) if rng.random() < 0.3 else (),
                    instances=boxes,
                )
            )
        answers.append(LabelsAnswer(labels=tuple(labels), model_version="3.0"))
    return tuple(answers)


def _with(result: Any, **changes: Any) -> Any:
    fields = {name: getattr(result, name) for name in ("labels", "pairs", "positives", "answers", "run")}
    return SimpleNamespace(**(fields | changes))


def _assert_errors_equal(result: Any) -> None:
    """The reference on answer objects; the fast one on them and on the same answers as columns."""
    expected = reference.label_errors(result)
    assert label_errors(result) == expected
    columns = _with(result, answers=LazyAnswers(LabelColumns.from_answers(list(result.answers))))
    assert label_errors(columns) == expected
    for per_kind in (0, 1, 7, 10_000):  # 10,000: every error is an example
        assert label_errors(columns, per_kind=per_kind) == reference.label_errors(result, per_kind=per_kind)
    default = thumbnails._PAIRS_PER_BLOCK
    try:  # pairs judged a few at a time
        thumbnails._PAIRS_PER_BLOCK = 3
        assert label_errors(columns) == expected
    finally:
        thumbnails._PAIRS_PER_BLOCK = default


def _never_returned(result: Any, index: int) -> Any:
    """`result` with label `index` never returned: no entries, no threshold (status no-predictions)."""
    pairs = result.pairs
    keep = pairs.label_idx != index
    labels = result.labels.copy()
    labels.loc[labels.index[index], ["threshold", "status"]] = [np.nan, "no-predictions"]
    scored = ScoredPairs(
        labels=pairs.labels,
        n_images=pairs.n_images,
        support=pairs.support,
        label_idx=pairs.label_idx[keep],
        image_idx=pairs.image_idx[keep],
        confidence=pairs.confidence[keep],
        is_true=pairs.is_true[keep],
        floor=pairs.floor,
    )
    return _with(result, pairs=scored, labels=labels)


ERROR_CASES = [(1, 3, 0, 1), (30, 20, 1, 3), (400, 12, 2, 30)]  # images, labels, seed, min_support


@pytest.mark.parametrize(("n_images", "n_labels", "seed", "min_support"), ERROR_CASES)
def test_label_errors_equal_the_reference(
    tmp_path: Path, n_images: int, n_labels: int, seed: int, min_support: int
) -> None:
    result = synthetic_result(
        None, labels=[f"L{i}" for i in range(n_labels)], n_images=n_images, seed=seed, min_support=min_support
    )
    _assert_errors_equal(result)  # the scripted answers (boxes on every other label, no parents)
    answers = _answers(result, seed)
    _assert_errors_equal(_with(result, answers=answers))
    _assert_errors_equal(_never_returned(_with(result, answers=answers), 0))
    raised = result.labels.copy()  # thresholds above most confidences: many missed, never returned last
    raised["threshold"] = raised["threshold"].where(raised["threshold"].isna(), 70.0)
    _assert_errors_equal(_with(result, answers=answers, labels=raised))
    order = np.random.default_rng(seed).permutation(len(result.positives[0]))  # not image-major
    shuffled = _with(result, answers=answers, positives=tuple(part[order] for part in result.positives))
    _assert_errors_equal(shuffled)
    _assert_errors_equal(_never_returned(shuffled, 0))
    without_parents = result.run | {"analysis": result.run["analysis"] | {"use_parents": False}}
    _assert_errors_equal(_with(result, answers=answers, run=without_parents))
    label_map = tmp_path / "map.yaml"
    label_map.write_text("L0: [thing, L1]\nl2: [' other ']\n", encoding="utf-8")
    mapped = result.run | {"analysis": result.run["analysis"] | {"label_map": str(label_map)}}
    _assert_errors_equal(_with(result, answers=answers, run=mapped))


def test_the_generated_results_have_labels_without_positives_and_with_a_threshold() -> None:
    statuses: set[str] = set()
    for n_images, n_labels, seed, min_support in ERROR_CASES:
        labels = [f"L{i}" for i in range(n_labels)]
        result = synthetic_result(None, labels=labels, n_images=n_images, seed=seed, min_support=min_support)
        statuses.update(result.labels["status"])
    assert {"no-positives", "ok", "too-few-positives"} <= statuses


def test_no_pairs_or_answers_give_no_errors() -> None:
    result = synthetic_result(None, labels=["A", "B"], n_images=20)
    for changed in (_with(result, pairs=None), _with(result, positives=None), _with(result, answers=())):
        assert label_errors(changed) == reference.label_errors(changed) == [None, None]


def test_a_run_read_back_gives_the_reference_bins_and_errors(run_folder: Path) -> None:
    """Through the pipeline: curves as stored, answers as columns with parents and boxes."""
    result = reanalyse(run_folder)
    assert isinstance(result.answers, LazyAnswers)
    for max_stops in (7, 1000):
        assert exact_bins(result, max_stops=max_stops) == reference.exact_bins(result, max_stops=max_stops)
    errors = label_errors(result)
    assert errors == reference.label_errors(result)
    uris = evaluated_images(result)  # local paths: the page names them relative to the dataset's folder
    dataset = result.summary.get("dataset") or {}
    view = PathView.of(result.run.get("dataset") or {}, absolute=dataset.get("paths") == "absolute")
    every = [view.path(uri) for uri in uris]  # what the page named before: every image
    shown = _shown_paths(result, uris, errors)
    assert shown and all(path == every[image] != uris[image] for image, path in shown.items())
    assert any(example.boxes for entry in errors if entry for example in entry.false_positives)
    without_parents = result.run | {"analysis": result.run["analysis"] | {"use_parents": False}}
    changed = _with(result, run=without_parents)
    assert label_errors(changed) == reference.label_errors(changed)
