"""report.html and compare.html in a real browser: opened from disk, clicked and slid like a person would.

Headless Chromium (Debian's `chromium` package) through the DevTools protocol; screenshots are kept in
test-artifacts/ (git-ignored) for people to look at.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import pandas as pd
import pytest

from tests.reports.conftest import NASTY, run_cli
from tests.support.chromium import Chromium, find_chromium
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


def slide(browser: Chromium, slider: str, steps_from_lowest: int) -> None:
    """Click the slider (it takes the focus), then Home and ArrowRight, as a keyboard user would."""
    browser.click(slider)
    browser.press("Home")
    browser.press("ArrowRight", steps_from_lowest)


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
    slide(browser, "#global-threshold", 0)
    assert shown(browser, "global-threshold-value")[0] == "0"
    at_zero = shown(browser, "global-precision")
    browser.press("ArrowRight", 37)
    assert shown(browser, "global-threshold-value")[0] == "37"
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
    slide(browser, "#label-threshold", 55)
    assert shown(browser, "label-threshold-value")[0] == "55"
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
    result.write(tmp_path / "run")
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
    result.write(tmp_path / "run")
    browser.open(tmp_path / "run" / "report.html")
    for status in ("no-positives", "no-predictions", "unreachable", "low-support", "at-floor"):
        name = result.labels.loc[result.labels["status"] == status, "label"].iloc[0]
        browser.click(f'#labels-table tbody tr[data-key="{name}"]', x_fraction=0.1)
        assert browser.evaluate("document.getElementById('label-name').textContent") == name
        assert status in browser.evaluate("document.getElementById('label-facts').textContent")
    slide(browser, "#global-threshold", 0)
    assert shown(browser, "global-threshold-value")[0] == "56"  # the floor, rounded up
    assert browser.console_errors() == []
