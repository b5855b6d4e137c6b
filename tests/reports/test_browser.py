"""report.html and compare.html in a real browser: opened from disk, clicked and slid like a person would.

Headless Chromium (Debian's `chromium` package) through the DevTools protocol; screenshots are kept in
test-artifacts/ (git-ignored) for people to look at.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pandas as pd
import pytest
import yaml

from evaluation.pipeline import write_run
from evaluation.reports.recommended import confidence_text
from tests.support.chromium import Chromium, find_chromium
from tests.support.cli import run_cli
from tests.support.reports import NASTY
from tests.support.runs import synthetic_result

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"

if find_chromium() is None and os.environ.get("REKOGNITION_EVAL_REQUIRE_BROWSER"):
    raise RuntimeError("REKOGNITION_EVAL_REQUIRE_BROWSER is set (CI) but chromium is not installed")
pytestmark = pytest.mark.skipif(
    find_chromium() is None,
    reason="chromium is not installed (apt-get install -y chromium); the real-browser test needs it",
)


@pytest.fixture(scope="module")
def browser():
    with Chromium(find_chromium()) as chromium:
        yield chromium


def column(browser: Chromium, table: str, index: int) -> list[str]:
    return browser.evaluate(
        f"[...document.querySelectorAll('#{table} tbody tr')].map((tr) => tr.cells[{index}].textContent)"
    )


def shown(browser: Chromium, element_id: str) -> tuple[str, str]:
    """What a number's element says, and the full-precision value behind it."""
    return tuple(
        browser.evaluate(
            f"(() => {{ const e = document.getElementById('{element_id}');"
            " return [e.textContent, e.getAttribute('data-value')]; })()"
        )
    )


def text(value: float) -> str:
    return "–" if math.isnan(value) else f"{value:.3f}"


def assert_same(value: str, expected: float) -> None:
    """A value the page computed equals metrics.csv's (an empty data-value is an undefined number)."""
    if math.isnan(expected):
        assert value == ""
    else:
        assert float(value) == pytest.approx(expected, rel=1e-12, abs=1e-15)


def slide(browser: Chromium, slider: str, value: str) -> None:
    """Click the slider (it takes the focus), then Home and ArrowRight until it shows `value`, as a
    keyboard user would (its stops are the whole numbers and the recommended MinConfidence)."""
    browser.click(slider)
    browser.press("Home")
    output = slider.lstrip("#") + "-value"
    for _ in range(205):
        if shown(browser, output)[0] == value:
            return
        browser.press("ArrowRight")
    raise AssertionError(f"{slider} never showed {value}")


def test_report_opens_from_disk_sorts_and_its_sliders_show_metrics_csv(
    browser: Chromium, run_folder: Path
) -> None:
    browser.open(run_folder / "report.html")
    assert browser.console_errors() == []
    metrics = pd.read_csv(run_folder / "metrics.csv")
    labels = pd.read_csv(run_folder / "labels.csv")
    at = metrics.set_index(["label", "threshold"])

    # the table starts sorted by support; clicking a header sorts by it, again reverses
    support = [int(value) for value in column(browser, "labels-table", 1)]
    assert support == sorted(support, reverse=True) and len(support) == 5
    browser.click('#labels-table th[data-key="name"]')
    assert column(browser, "labels-table", 0) == sorted(labels["label"])
    browser.click('#labels-table th[data-key="name"]')
    assert column(browser, "labels-table", 0) == sorted(labels["label"], reverse=True)
    browser.click('#labels-table th[data-key="ap"]')
    assert column(browser, "labels-table", 2) == [
        f"{ap:.3f}" for ap in labels["ap"].sort_values(ascending=False)
    ]

    # the global slider: micro counts over all labels, and every label's "@" columns, at 0 then at 37
    slide(browser, "#global-threshold", "0")
    at_zero = shown(browser, "global-precision")
    slide(browser, "#global-threshold", "37")
    rows = metrics[metrics["threshold"] == 37]
    tp, fp, fn = rows["tp"].sum(), rows["fp"].sum(), rows["fn"].sum()
    assert [shown(browser, f"global-{name}")[0] for name in ("tp", "fp", "fn")] == [str(tp), str(fp), str(fn)]
    assert_same(shown(browser, "global-precision")[1], tp / (tp + fp))
    assert_same(shown(browser, "global-recall")[1], tp / (tp + fn))
    assert shown(browser, "global-precision") != at_zero
    assert (
        browser.evaluate("document.querySelector('#labels-table th[data-key=live_precision]').textContent")
        == "P @ 37"
    )
    names = column(browser, "labels-table", 0)
    assert column(browser, "labels-table", 8) == [text(at.loc[(name, 37.0), "precision"]) for name in names]
    assert column(browser, "labels-table", 10) == [text(at.loc[(name, 37.0), "f1"]) for name in names]

    # a label: click its row, then its slider; every number is metrics.csv's at that threshold
    browser.click('#labels-table tbody tr[data-key="Cat"]', x_fraction=0.1)
    assert browser.evaluate("document.getElementById('label-name').textContent") == "Cat"
    before = shown(browser, "label-precision")
    slide(browser, "#label-threshold", "55")
    row = at.loc[("Cat", 55.0)]
    assert [shown(browser, f"label-{name}")[0] for name in ("tp", "fp", "fn", "tn")] == [
        str(int(row[name])) for name in ("tp", "fp", "fn", "tn")
    ]
    for name in ("precision", "recall", "f1"):
        assert_same(shown(browser, f"label-{name}")[1], row[name])
    assert shown(browser, "label-precision") != before

    # the errors behind the numbers: thumbnails, with Cat's boxes drawn over them
    assert browser.evaluate("document.querySelectorAll('#label-errors figure.thumb img').length") > 0
    assert browser.evaluate("document.querySelectorAll('#label-errors figure.thumb svg rect').length") > 0
    assert browser.evaluate("document.querySelectorAll('#label-charts svg.chart path.series').length") == 4
    browser.evaluate("window.scrollTo(0, 0)")
    browser.screenshot(ARTIFACTS / "report.png")
    browser.screenshot(ARTIFACTS / "report-full.png", full_page=True)

    # the filter box keeps the labels whose name contains what was typed
    browser.click("#label-filter")
    browser.type_text("ca")
    assert sorted(column(browser, "labels-table", 0)) == ["Car", "Cat"]
    assert browser.console_errors() == []


def test_label_names_show_as_text_and_run_nothing(browser: Chromium, tmp_path: Path) -> None:
    result = synthetic_result(tmp_path, labels=[*NASTY, "Plain"], n_images=120)
    write_run(result, tmp_path / "run")
    browser.open(tmp_path / "run" / "report.html")
    assert browser.console_errors() == []
    assert sorted(column(browser, "labels-table", 0)) == sorted([*NASTY, "Plain"])
    assert (
        browser.evaluate("document.querySelectorAll('#labels-table img, #labels-table script').length") == 0
    )
    assert not [e for e in browser.events if e.get("method") == "Page.javascriptDialogOpening"]
    browser.click(f'#labels-table tbody tr[data-key="{NASTY[4]}"]', x_fraction=0.1)
    assert browser.evaluate("document.getElementById('label-name').textContent") == NASTY[4]


def test_compare_page_opens_and_sorts(browser: Chromium, tmp_path: Path, two_runs) -> None:
    run_a, run_b = two_runs
    assert run_cli("compare", str(run_a), str(run_b), "--out", str(tmp_path / "cmp")) == 0
    browser.open(tmp_path / "cmp" / "compare.html")
    assert browser.console_errors() == []
    table = pd.read_csv(tmp_path / "cmp" / "compare.csv")
    assert column(browser, "compare-table", 0)[0] == table.loc[table["ap_change"].idxmax(), "label"]
    browser.click('#compare-table th[data-key="label"]')
    assert column(browser, "compare-table", 0) == sorted(table["label"])
    browser.screenshot(ARTIFACTS / "compare.png")
    assert browser.console_errors() == []


def test_labels_of_every_status_open_without_errors(browser: Chromium, tmp_path: Path) -> None:
    result = synthetic_result(
        None,
        labels=[f"L{i}" for i in range(120)],
        n_images=60,
        objective="recall-at-precision:0.95",
        min_confidence=55.5,
    )
    write_run(result, tmp_path / "run")
    browser.open(tmp_path / "run" / "report.html")
    # few positives everywhere: the data advice's too-few-positives outranks low-support and at-floor
    for status in ("no-positives", "no-predictions", "unreachable", "too-few-positives"):
        name = result.labels.loc[result.labels["status"] == status, "label"].iloc[0]
        browser.click(f'#labels-table tbody tr[data-key="{name}"]', x_fraction=0.1)
        assert browser.evaluate("document.getElementById('label-name').textContent") == name
        assert status in browser.evaluate("document.getElementById('label-facts').textContent")
    browser.click("#global-threshold")
    browser.press("Home")
    assert shown(browser, "global-threshold-value")[0] == "56"  # the floor, rounded up
    assert browser.console_errors() == []
    assert browser.evaluate("document.querySelectorAll('#reliability svg circle').length") > 0


def focus(browser: Chromium, slider: str) -> None:
    """Give a slider the keyboard focus without moving it (a click would move it where it lands)."""
    browser.evaluate(f"document.querySelector('{slider}').focus()")


def test_the_sliders_start_on_the_recommendation_and_step_through_whole_numbers(
    browser: Chromium, tmp_path: Path
) -> None:
    """The reviewer's case: a recommendation between two whole numbers with no whole number giving its
    counts (Cat at 41.95, the next lower confidence 41.12). The slider starts on the recommended value
    with labels.csv's numbers, and its other stops are whole numbers with metrics.csv's."""
    names = ["Cat", "Dog", "Car", "Tree", "Animal", "Bird", "Boat"]
    result = synthetic_result(tmp_path, labels=names, n_images=300, answer_seed=3)
    run = write_run(result, tmp_path / "run")
    document = yaml.safe_load((run / "thresholds.yaml").read_text())
    summary = json.loads((run / "summary.json").read_text())
    labels = pd.read_csv(run / "labels.csv").set_index("label")
    metrics = pd.read_csv(run / "metrics.csv").set_index(["label", "threshold"])
    curves = pd.read_parquet(run / "curves.parquet")
    browser.open(run / "report.html")
    assert browser.console_errors() == []

    # the global slider starts on thresholds.yaml's value, beside the recommendation's own numbers
    best = result.global_threshold  # summary.json's has 6 decimals; these are the exact numbers
    assert [best[name] for name in ("tp", "fp", "fn")] == [summary["global"][n] for n in ("tp", "fp", "fn")]
    use = document["global"]["min_confidence"]
    assert use % 1 and shown(browser, "global-threshold-value")[0] == confidence_text(use)
    assert "recommended" in browser.evaluate("document.getElementById('global-threshold-kind').textContent")
    assert [shown(browser, f"global-{name}")[0] for name in ("tp", "fp", "fn")] == [
        str(best[name]) for name in ("tp", "fp", "fn")
    ]
    for name in ("precision", "recall", "f1"):
        assert_same(shown(browser, f"global-{name}")[1], best[name])
    # and the table's "@" columns are each label at that MinConfidence, from the exact curves
    shown_names = column(browser, "labels-table", 0)
    expected = []
    for name in shown_names:
        curve = curves[(curves["label"] == name) & (curves["threshold"] >= best["threshold"])]
        tp, fp = (0, 0) if curve.empty else curve.loc[curve["threshold"].idxmin(), ["tp", "fp"]]
        expected.append(text(tp / (tp + fp) if tp + fp else math.nan))
    assert column(browser, "labels-table", 8) == expected
    header = "document.querySelector('#labels-table th[data-key=live_precision]').textContent"
    assert browser.evaluate(header) == f"P @ {confidence_text(use)}"
    # the recommended MinConfidence column is thresholds.yaml's, every digit
    assert column(browser, "labels-table", 3) == [
        confidence_text(document["labels"][name]["min_confidence"]) for name in shown_names
    ]
    # one step left is the whole number below, with metrics.csv's counts; two steps right, the one above
    focus(browser, "#global-threshold")
    for key, whole in (("ArrowLeft", math.floor(use)), ("ArrowRight", math.ceil(use))):
        browser.press(key, 1 if key == "ArrowLeft" else 2)
        assert shown(browser, "global-threshold-value")[0] == str(whole)
        assert browser.evaluate("document.getElementById('global-threshold-kind').textContent") == ""
        rows = metrics.xs(float(whole), level="threshold")
        assert [shown(browser, f"global-{name}")[0] for name in ("tp", "fp", "fn")] == [
            str(rows[name].sum()) for name in ("tp", "fp", "fn")
        ]

    # every label: the same, against labels.csv and metrics.csv
    for name in names:
        row = labels.loc[name]
        use = document["labels"][name]["min_confidence"]
        browser.click(f'#labels-table tbody tr[data-key="{name}"]', x_fraction=0.1)
        assert shown(browser, "label-threshold-value")[0] == confidence_text(use)
        facts = browser.evaluate("document.getElementById('label-facts').textContent")
        assert f"recommended MinConfidence {confidence_text(use)} (any value above" in facts
        tn = 300 - row["support"] - row["fp"]
        assert [shown(browser, f"label-{key}")[0] for key in ("tp", "fp", "fn", "tn")] == [
            str(int(row[key])) for key in ("tp", "fp", "fn")
        ] + [str(int(tn))]
        for key in ("precision", "recall", "f1"):
            assert_same(shown(browser, f"label-{key}")[1], row[key])
        focus(browser, "#label-threshold")
        browser.press("ArrowLeft")
        # the robust value may itself be a whole number (its own stop, marked): then the one below it
        whole = math.floor(use) if use % 1 else int(use) - 1
        assert shown(browser, "label-threshold-value")[0] == str(whole)
        at = metrics.loc[(name, float(whole))]
        assert [shown(browser, f"label-{key}")[0] for key in ("tp", "fp", "fn", "tn")] == [
            str(int(at[key])) for key in ("tp", "fp", "fn", "tn")
        ]
        for key in ("precision", "recall", "f1"):
            assert_same(shown(browser, f"label-{key}")[1], at[key])
        if whole > row["threshold_low"]:  # a whole number in the range gives the very same counts
            assert (at["tp"], at["fp"]) == (row["tp"], row["fp"])
        if name == "Cat":
            assert whole <= row["threshold_low"] and at["tp"] + at["fp"] > row["tp"] + row["fp"]
            browser.press("ArrowRight")
            browser.evaluate("window.scrollTo(0, 0)")
            browser.screenshot(ARTIFACTS / "report-recommended.png")
    assert browser.console_errors() == []


def test_problems_are_shown_at_the_top_of_the_page(browser: Chromium, problem_run: Path) -> None:
    browser.open(problem_run / "report.html")
    assert browser.console_errors() == []
    box = browser.evaluate(
        "(() => { const r = document.getElementById('problems').getBoundingClientRect();"
        " return [r.top, r.height]; })()"
    )
    assert box[0] < 1000 and box[1] > 100  # on the first screen, not folded away
    rows = browser.evaluate("document.querySelectorAll('#images-not-evaluated tbody tr').length")
    assert rows == 3
    assert "hit MaxLabels" in browser.evaluate("document.getElementById('floor-warning').textContent")
    browser.screenshot(ARTIFACTS / "report-problems.png")
