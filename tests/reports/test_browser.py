"""report.html and compare.html in a real browser: opened from disk, clicked and slid like a person would.

Playwright drives the system Chromium (Debian's `chromium`, launched by its path: no browser download);
screenshots are kept in test-artifacts/ (git-ignored) for people to look at.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import yaml

from evaluation.pipeline import evaluate, write_run
from evaluation.reports.recommended import confidence_text
from tests.support.cli import run_cli
from tests.support.reports import NASTY, embedded
from tests.support.runs import synthetic_result

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
SAMPLE = REPO / "datasets" / "sample"
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
WIDTHS = (700, 1024, 1440)


def find_chromium() -> str | None:
    """The browser to test with: $CHROMIUM, else the first of CHROMIUM_NAMES on PATH."""
    explicit = os.environ.get("CHROMIUM")
    if explicit:
        return shutil.which(explicit)
    return next((found for name in CHROMIUM_NAMES if (found := shutil.which(name))), None)


try:
    from playwright.sync_api import Page, sync_playwright
except ImportError:  # pragma: no cover - the test extra installs it
    sync_playwright = None  # type: ignore[assignment]

MISSING = (
    "playwright is not installed (pip install -e '.[test]')"
    if sync_playwright is None
    else "chromium is not installed (apt-get install -y chromium)"
    if find_chromium() is None
    else None
)
if MISSING and os.environ.get("REKOGNITION_EVAL_REQUIRE_BROWSER"):
    raise RuntimeError(f"REKOGNITION_EVAL_REQUIRE_BROWSER is set (CI) but {MISSING}")
pytestmark = pytest.mark.skipif(MISSING is not None, reason=f"{MISSING}; the real-browser test needs it")


@pytest.fixture(scope="module")
def chromium() -> Iterator[object]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=find_chromium(), args=["--no-sandbox"])
        yield browser
        browser.close()


class Tab:
    """One page with every console error and uncaught exception recorded."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.errors: list[str] = []
        page.on("console", lambda line: self.errors.append(line.text) if line.type == "error" else None)
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.requests: list[str] = []
        page.on("request", lambda request: self.requests.append(request.url))

    def open(self, path: Path) -> Tab:
        self.page.goto(path.resolve().as_uri())
        return self

    def evaluate(self, script: str):  # type: ignore[no-untyped-def]
        return self.page.evaluate(script)


@pytest.fixture
def browser(chromium) -> Iterator[Tab]:  # type: ignore[no-untyped-def]
    page = chromium.new_page(viewport={"width": 1400, "height": 1000})
    yield Tab(page)
    page.close()


def column(tab: Tab, table: str, index: int) -> list[str]:
    return tab.evaluate(
        f"[...document.querySelectorAll('#{table} tbody tr')].map((tr) => tr.cells[{index}].textContent)"
    )


def shown(tab: Tab, element_id: str) -> tuple[str, str]:
    """What a number's element says, and the full-precision value behind it."""
    return tuple(
        tab.evaluate(
            f"(() => {{ const e = document.getElementById('{element_id}');"
            " return [e.textContent, e.getAttribute('data-value')]; })()"
        )
    )


def text(value: float) -> str:
    return "–" if math.isnan(value) else f"{value:.3f}"


def assert_same(value: str, expected: float) -> None:
    """A value the page computed equals the CSV's (an empty data-value is an undefined number)."""
    if math.isnan(expected):
        assert value == ""
    else:
        assert float(value) == pytest.approx(expected, rel=1e-12, abs=1e-15)


def slide(tab: Tab, slider: str, value: str) -> None:
    """Move the slider to the stop that shows `value`, as dragging it would (an input event per stop)."""
    found = tab.page.evaluate(
        """([selector, wanted]) => {
            const input = document.querySelector(selector);
            const output = document.getElementById(input.id + "-value");
            for (let i = Number(input.min); i <= Number(input.max); i++) {
              input.value = String(i);
              input.dispatchEvent(new Event("input", { bubbles: true }));
              if (output.textContent === wanted) return true;
            }
            return false;
        }""",
        [slider, value],
    )
    assert found, f"{slider} never showed {value}"


def stop_values(tab: Tab, slider: str) -> list[str]:
    """Every stop's text, from the first to the last, as the keyboard would step through them."""
    return tab.page.evaluate(
        """(selector) => {
            const input = document.querySelector(selector);
            const output = document.getElementById(input.id + "-value");
            const start = input.value, seen = [];
            for (let i = Number(input.min); i <= Number(input.max); i++) {
              input.value = String(i);
              input.dispatchEvent(new Event("input", { bubbles: true }));
              seen.push(output.textContent);
            }
            input.value = start;
            input.dispatchEvent(new Event("input", { bubbles: true }));
            return seen;
        }""",
        slider,
    )


def click_label(tab: Tab, name: str) -> None:
    tab.page.locator(f'#labels-table tbody tr[data-key="{name}"] td').first.click()


def exact_counts(curves: pd.DataFrame, label: str, threshold: float) -> tuple[int, int]:
    """tp and fp of a label at MinConfidence `threshold`: curves.csv's row at the lowest threshold at or
    above it, or nothing predicted."""
    curve = curves[(curves["label"] == label) & (curves["threshold"] >= threshold)]
    if curve.empty:
        return 0, 0
    row = curve.loc[curve["threshold"].idxmin()]
    return int(row["tp"]), int(row["fp"])


def test_report_opens_from_disk_sorts_and_its_sliders_show_metrics_csv(
    browser: Tab, run_folder: Path
) -> None:
    browser.open(run_folder / "report.html")
    assert browser.errors == []
    metrics = pd.read_csv(run_folder / "metrics.csv")
    curves = pd.read_parquet(run_folder / "curves.parquet")
    labels = pd.read_csv(run_folder / "labels.csv")
    at = metrics.set_index(["label", "threshold"])

    # the table starts sorted by support; clicking a header sorts by it, again reverses
    support = [int(value) for value in column(browser, "labels-table", 1)]
    assert support == sorted(support, reverse=True) and len(support) == 5
    browser.page.click('#labels-table th[data-key="name"]')
    assert column(browser, "labels-table", 0) == sorted(labels["label"])
    browser.page.click('#labels-table th[data-key="name"]')
    assert column(browser, "labels-table", 0) == sorted(labels["label"], reverse=True)
    browser.page.click('#labels-table th[data-key="ap"]')
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
    header = "document.querySelector('#labels-table th[data-key=live_precision]').textContent"
    assert browser.evaluate(header) == "P @ 37"
    names = column(browser, "labels-table", 0)
    assert column(browser, "labels-table", 8) == [text(at.loc[(name, 37.0), "precision"]) for name in names]
    assert column(browser, "labels-table", 10) == [text(at.loc[(name, 37.0), "f1"]) for name in names]

    # a label: click its row, then its slider; at a whole number every number is metrics.csv's ...
    click_label(browser, "Cat")
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
    # ... and at a confidence returned, curves.csv's
    cat = curves[(curves["label"] == "Cat") & (curves["threshold"] % 1 != 0)]
    point = cat.iloc[len(cat) // 2]
    slide(browser, "#label-threshold", confidence_text(point["threshold"]))
    assert browser.evaluate("document.getElementById('label-threshold-kind').textContent") in (
        "a confidence returned",
        "\u2605 recommended",
    )
    assert [shown(browser, f"label-{name}")[0] for name in ("tp", "fp", "fn")] == [
        str(int(point[name])) for name in ("tp", "fp", "fn")
    ]
    assert_same(shown(browser, "label-precision")[1], point["precision"])

    # the errors behind the numbers: thumbnails, with Cat's boxes drawn over them
    assert browser.evaluate("document.querySelectorAll('#label-errors figure.thumb img').length") > 0
    assert browser.evaluate("document.querySelectorAll('#label-errors figure.thumb svg rect').length") > 0
    assert browser.evaluate("document.querySelectorAll('#label-charts svg.chart path.series').length") == 4
    browser.page.screenshot(path=str(ARTIFACTS / "report.png"))

    # the filter box keeps the labels whose name contains what was typed
    browser.page.fill("#label-filter", "ca")
    assert sorted(column(browser, "labels-table", 0)) == ["Car", "Cat"]
    # nothing but the page itself was loaded: no plot, script or image from a file or the network
    assert [url for url in browser.requests if not url.startswith("data:")] == [
        (run_folder / "report.html").resolve().as_uri()
    ]
    links = "[...document.querySelectorAll('a[href]')].map((a) => a.getAttribute('href'))"
    assert browser.evaluate(links) == []
    assert browser.errors == []


def test_label_names_show_as_text_and_run_nothing(browser: Tab, tmp_path: Path) -> None:
    result = synthetic_result(tmp_path, labels=[*NASTY, "Plain"], n_images=120)
    write_run(result, tmp_path / "run")
    dialogs: list[str] = []
    browser.page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    browser.open(tmp_path / "run" / "report.html")
    assert browser.errors == []
    assert sorted(column(browser, "labels-table", 0)) == sorted([*NASTY, "Plain"])
    inside = "document.querySelectorAll('#labels-table img, #labels-table script').length"
    assert browser.evaluate(inside) == 0
    assert dialogs == []
    browser.page.locator("#labels-table tbody tr").filter(has_text=NASTY[4]).locator("td").first.click()
    assert browser.evaluate("document.getElementById('label-name').textContent") == NASTY[4]


def test_compare_page_opens_sorts_and_colours_by_better_or_worse(
    browser: Tab, tmp_path: Path, two_runs
) -> None:
    run_a, run_b = two_runs
    assert run_cli("compare", str(run_a), str(run_b), "--out", str(tmp_path / "cmp")) == 0
    browser.open(tmp_path / "cmp" / "compare.html")
    assert browser.errors == []
    table = pd.read_csv(tmp_path / "cmp" / "compare.csv")
    assert column(browser, "compare-table", 0)[0] == table.loc[table["ap_change"].idxmax(), "label"]
    # a higher AP in B is better, a lower one worse; a changed MinConfidence is only a change
    classes = browser.evaluate(
        "[...document.querySelectorAll('#compare-table tbody tr')].map((tr) => ["
        "tr.cells[0].textContent, tr.cells[5].firstChild.className, tr.cells[8].firstChild.className])"
    )
    by_label = table.set_index("label")
    for label, ap_class, threshold_class in classes:
        change = by_label.loc[label, "ap_change"]
        assert ap_class == ("better" if change > 0 else "worse" if change < 0 else "")
        assert threshold_class in ("shift", "")
    assert any(threshold_class == "shift" for _, _, threshold_class in classes)
    browser.page.click('#compare-table th[data-key="label"]')
    assert column(browser, "compare-table", 0) == sorted(table["label"])
    browser.page.screenshot(path=str(ARTIFACTS / "compare.png"))
    assert browser.errors == []


def test_labels_of_every_status_open_without_errors(browser: Tab, tmp_path: Path) -> None:
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
        click_label(browser, name)
        assert browser.evaluate("document.getElementById('label-name').textContent") == name
        assert status in browser.evaluate("document.getElementById('label-facts').textContent")
    data = embedded((tmp_path / "run" / "report.html").read_text(encoding="utf-8"))
    lowest = min([*data["thresholds"], *data["global_stops"]])
    assert lowest >= 55.5 and stop_values(browser, "#global-threshold")[0] == confidence_text(lowest)
    assert browser.errors == []
    assert browser.evaluate("document.querySelectorAll('#reliability svg circle').length") > 0


def test_the_sliders_start_on_the_recommendation_and_step_through_every_confidence(
    browser: Tab, tmp_path: Path
) -> None:
    """A recommendation between two whole numbers (Cat at 41.95, the next lower confidence 41.12): the
    slider starts on the recommended value with labels.csv's numbers; its other stops are the whole
    numbers (metrics.csv's counts) and every confidence returned (curves.csv's)."""
    names = ["Cat", "Dog", "Car", "Tree", "Animal", "Bird", "Boat"]
    result = synthetic_result(tmp_path, labels=names, n_images=300, answer_seed=3)
    run = write_run(result, tmp_path / "run")
    document = yaml.safe_load((run / "thresholds.yaml").read_text())
    summary = json.loads((run / "summary.json").read_text())
    labels = pd.read_csv(run / "labels.csv").set_index("label")
    metrics = pd.read_csv(run / "metrics.csv").set_index(["label", "threshold"])
    curves = pd.read_parquet(run / "curves.parquet")
    browser.open(run / "report.html")
    assert browser.errors == []

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
    # the table's "@" columns are each label at that MinConfidence, from the exact curves
    shown_names = column(browser, "labels-table", 0)
    expected = []
    for name in shown_names:
        tp, fp = exact_counts(curves, name, best["threshold"])
        expected.append(text(tp / (tp + fp) if tp + fp else math.nan))
    assert column(browser, "labels-table", 8) == expected
    header = "document.querySelector('#labels-table th[data-key=live_precision]').textContent"
    assert browser.evaluate(header) == f"P @ {confidence_text(use)}"
    assert column(browser, "labels-table", 3) == [
        confidence_text(document["labels"][name]["min_confidence"]) for name in shown_names
    ]
    # every stop of the global slider: each whole number and each confidence any label returned, with
    # the micro counts of curves.csv there; one keyboard step left and right of the recommendation
    stops = stop_values(browser, "#global-threshold")
    confidences = sorted(set(curves["threshold"]) | set(range(101)))
    assert len(stops) > 101 and stops == [
        confidence_text(use) if value == best["threshold"] else confidence_text(value)
        for value in confidences
        if not (use < value < best["threshold"])
    ]
    browser.page.focus("#global-threshold")
    for key in ("ArrowLeft", "ArrowRight", "ArrowRight"):
        browser.page.keyboard.press(key)
    value = float(shown(browser, "global-threshold-value")[1])
    assert value > best["threshold"] and browser.evaluate(
        "document.getElementById('global-threshold-kind').textContent"
    ) in ("", "a confidence returned")
    counts = [exact_counts(curves, name, value) for name in names]
    fn = int(labels["support"].sum()) - sum(tp for tp, _ in counts)
    assert [shown(browser, f"global-{name}")[0] for name in ("tp", "fp", "fn")] == [
        str(sum(tp for tp, _ in counts)),
        str(sum(fp for _, fp in counts)),
        str(fn),
    ]

    # every label: starts on labels.csv's numbers; one step left is the next lower stop
    for name in names:
        row = labels.loc[name]
        use = document["labels"][name]["min_confidence"]
        click_label(browser, name)
        assert shown(browser, "label-threshold-value")[0] == confidence_text(use)
        facts = browser.evaluate("document.getElementById('label-facts').textContent")
        assert f"recommended MinConfidence {confidence_text(use)} (any value above" in facts
        tn = 300 - row["support"] - row["fp"]
        assert [shown(browser, f"label-{key}")[0] for key in ("tp", "fp", "fn", "tn")] == [
            str(int(row[key])) for key in ("tp", "fp", "fn")
        ] + [str(int(tn))]
        for key in ("precision", "recall", "f1"):
            assert_same(shown(browser, f"label-{key}")[1], row[key])
        browser.page.focus("#label-threshold")
        browser.page.keyboard.press("ArrowLeft")
        below = float(shown(browser, "label-threshold-value")[1])
        label_curve = curves.loc[curves["label"] == name, "threshold"]
        candidates = [v for v in [*label_curve, *range(101)] if v < use]
        assert below == max(candidates)
        tp, fp = exact_counts(curves, name, below)
        assert [shown(browser, f"label-{key}")[0] for key in ("tp", "fp")] == [str(tp), str(fp)]
        if below % 1 == 0:
            at = metrics.loc[(name, below)]
            assert (tp, fp) == (at["tp"], at["fp"])
    assert browser.errors == []


def test_problems_are_shown_at_the_top_of_the_page(browser: Tab, problem_run: Path) -> None:
    browser.open(problem_run / "report.html")
    assert browser.errors == []
    box = browser.evaluate(
        "(() => { const r = document.getElementById('problems').getBoundingClientRect();"
        " return [r.top, r.height]; })()"
    )
    assert box[0] < 1000 and box[1] > 100  # on the first screen, not folded away
    assert browser.evaluate("document.querySelectorAll('#images-not-evaluated tbody tr').length") == 3
    assert "hit MaxLabels" in browser.evaluate("document.getElementById('floor-warning').textContent")
    browser.page.screenshot(path=str(ARTIFACTS / "report-problems.png"))


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled sample, judged by the offline baseline: Person's positives are half never returned,
    and Cup's and Rocket's confidences sit below 3."""
    pytest.importorskip("onnxruntime")
    folder = tmp_path_factory.mktemp("sample")
    evaluate(
        SAMPLE / "manifest.jsonl",
        backend="local",
        label_map=SAMPLE / "label_map.yaml",
        min_support=5,
        cache=folder / "cache.sqlite",
        progress=False,
        out=folder / "run",
    )
    return folder / "run"


def test_the_sample_page_reads_at_three_widths(chromium, sample_run: Path) -> None:  # type: ignore[no-untyped-def]
    labels = pd.read_csv(sample_run / "labels.csv").set_index("label")
    for width in WIDTHS:
        tab = Tab(chromium.new_page(viewport={"width": width, "height": 1000}))
        tab.open(sample_run / "report.html")
        assert tab.errors == []
        # nothing is cut: the page never scrolls sideways; the label table scrolls inside its box
        assert tab.evaluate("document.documentElement.scrollWidth") <= width
        table = tab.evaluate(
            "(() => { const box = document.querySelector('#labels .scroll').getBoundingClientRect();"
            " return [box.left, box.right]; })()"
        )
        assert table[0] >= 0 and table[1] <= width
        # Person: positives never returned, a warning (not a green ok) that says how many
        cell = tab.page.locator('#labels-table tbody tr[data-key="Person"] td.status-cell')
        assert "6 of 12 never returned" in cell.text_content()
        assert tab.evaluate(
            "document.querySelector('#labels-table tr[data-key=\"Person\"] .status').className"
        ).split() == ["status", "warn"]
        click_label(tab, "Person")
        assert "6 of 12 never returned" in tab.evaluate("document.getElementById('label-facts').textContent")
        tab.page.screenshot(path=str(ARTIFACTS / f"sample-person-{width}.png"), full_page=True)
        # Cup: confidences below 3, so its curves take the logarithmic axis and its slider stops at each
        click_label(tab, "Cup")
        axis = "document.querySelectorAll('#label-charts svg.chart')[1].getAttribute('data-axis')"
        assert tab.evaluate(axis) == "log"
        stops = stop_values(tab, "#label-threshold")
        below_three = [value for value in stops if float(value) < 3]
        assert len(below_three) > 10  # every confidence returned under 3, not just 0, 1 and 2
        use = shown(tab, "label-threshold-value")[0]  # the slider starts on the recommendation
        assert "recommended" in tab.evaluate("document.getElementById('label-threshold-kind').textContent")
        assert float(use) <= labels.loc["Cup", "threshold"] and use in stops
        tab.page.select_option("#axis-scale", "linear")
        assert tab.evaluate(axis) == "linear"
        tab.page.select_option("#axis-scale", "auto")
        tab.page.screenshot(path=str(ARTIFACTS / f"sample-cup-{width}.png"), full_page=True)
        # the words are explained on the page
        glossary = tab.evaluate("document.getElementById('glossary').textContent")
        for term in ("AP", "F1", "Precision", "Recall", "Micro", "Macro"):
            assert term in glossary
        assert tab.errors == []
        tab.page.close()


def test_thumbnail_confidences_have_the_digits_that_matter(browser: Tab, sample_run: Path) -> None:
    browser.open(sample_run / "report.html")
    cases = browser.evaluate(
        "[[41.949, 41.95], [41.2, 41.95], [92.32634, 92.3263], [92.32629, 92.3263], [0.40971, 0.4097],"
        " [60, 60], [59.99, 60]].map(([c, t]) => confidenceText(c, t))"
    )
    assert cases == ["41.949", "41.20", "92.3263", "92.32629", "0.4097", "60.0", "59.99"]
    assert browser.errors == []
