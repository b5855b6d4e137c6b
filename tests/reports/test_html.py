"""The data behind report.html: it must say what metrics.csv says, stay small, and never run a label name."""

from __future__ import annotations

import base64
import html
import io
import json
import math
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image

from evaluation.pipeline import reanalyse, write_run
from evaluation.reports.html import (
    MAX_PROBLEMS_LISTED,
    cost_text,
    header_facts,
    page_data,
    problems_html,
    render_html,
    script_json,
)
from evaluation.reports.plots import labels_to_plot, png_name, write_plots
from evaluation.reports.recommended import confidence_text, min_confidence, same_counts_range, use_text
from evaluation.reports.thumbnails import label_errors, thumbnail_data_uri
from tests.support.reports import NASTY, embedded
from tests.support.runs import BOXED, synthetic_result


def counts_at(label: dict, threshold: float) -> tuple[int, int]:
    """tp and fp of a label at MinConfidence `threshold`, from its exact bins, the way report.js sums them:
    every bin at a confidence at or above the threshold."""
    tp = sum(added for confidence, added, _ in label["x"] if confidence >= threshold)
    fp = sum(added for confidence, _, added in label["x"] if confidence >= threshold)
    return tp, fp


def decode(data: dict, at: str = "whole") -> pd.DataFrame:
    """The page's counts at every whole number (or, with at="exact", at every distinct confidence of each
    label), rebuilt in plain Python the way report.js rebuilds them."""
    rows = []
    for label in data["labels"]:
        values = data["thresholds"] if at == "whole" else [confidence for confidence, _, _ in label["x"]]
        for threshold in values:
            tp, fp = counts_at(label, threshold)
            fn, tn = label["support"] - tp, data["n_images"] - label["support"] - fp
            rows.append(
                {
                    "label": label["name"],
                    "threshold": float(threshold),
                    "tp": tp,
                    "fp": fp,
                    "fn": fn,
                    "tn": tn,
                    "precision": tp / (tp + fp) if tp + fp else math.nan,
                    "recall": tp / (tp + fn) if tp + fn else math.nan,
                    "f1": 2 * tp / (2 * tp + fp + fn) if 2 * tp + fp + fn else math.nan,
                    "support": label["support"],
                }
            )
    return pd.DataFrame(rows)


def test_the_embedded_exact_bins_give_curves_csv_at_every_distinct_confidence(run_folder: Path) -> None:
    data = embedded((run_folder / "report.html").read_text(encoding="utf-8"))
    curves = pd.read_parquet(run_folder / "curves.parquet")
    rebuilt = decode(data, at="exact")
    key = ["label", "threshold"]
    expected = curves.sort_values(key).reset_index(drop=True)
    rebuilt = rebuilt.sort_values(key).reset_index(drop=True)[list(curves.columns)]
    expected["label"] = expected["label"].astype(object)  # Parquet reads names back as a string array
    rebuilt["label"] = rebuilt["label"].astype(object)
    assert len(rebuilt) == len(expected) > 5 * 101
    pd.testing.assert_frame_equal(rebuilt, expected, check_dtype=False, rtol=1e-12)


def test_a_label_with_too_many_confidences_keeps_exact_counts_at_its_kept_stops(run_folder: Path) -> None:
    from evaluation.reports.html import exact_bins

    result = reanalyse(run_folder)
    full, _ = exact_bins(result)
    thin, thinned = exact_bins(result, max_stops=7)
    assert all(thinned) and all(len(few) < len(whole) for few, whole in zip(thin, full, strict=True))
    assert all(len(label) <= 7 + 101 + 2 for label in thin)  # the quantiles, whole numbers, recommendation
    for name, whole, few, recommended in zip(
        result.labels["label"], full, thin, result.labels["threshold"], strict=True
    ):
        kept = [confidence for confidence, _, _ in few]
        assert any(abs(value - recommended) < 1e-9 for value in kept), name  # the recommendation stays
        for value in [*kept, *range(101)]:
            label_full, label_thin = {"x": whole}, {"x": few}
            assert counts_at(label_thin, value) == counts_at(label_full, value), (name, value)


def test_the_embedded_counts_equal_metrics_csv_at_every_threshold(run_folder: Path) -> None:
    page = (run_folder / "report.html").read_text(encoding="utf-8")
    data = embedded(page)
    metrics = pd.read_csv(run_folder / "metrics.csv")
    rebuilt = decode(data)
    key = ["label", "threshold"]
    expected = metrics.sort_values(key).reset_index(drop=True)
    metrics = metrics[[name for name in metrics.columns if name in rebuilt.columns]]  # counts and rates
    expected = metrics.sort_values(key).reset_index(drop=True)
    rebuilt = rebuilt.sort_values(key).reset_index(drop=True)[list(metrics.columns)]
    assert len(rebuilt) == len(expected) == 5 * 101
    pd.testing.assert_frame_equal(rebuilt, expected, check_dtype=False, rtol=1e-12)

    # and the global slider's micro numbers equal averages.csv
    averages = pd.read_csv(run_folder / "averages.csv").set_index("threshold")
    micro = rebuilt.groupby("threshold")[["tp", "fp", "fn"]].sum()
    with np.errstate(invalid="ignore"):
        precision = micro["tp"] / (micro["tp"] + micro["fp"])
    recall = micro["tp"] / (micro["tp"] + micro["fn"])
    np.testing.assert_allclose(averages.loc[micro.index, "micro_precision"], precision, equal_nan=True)
    np.testing.assert_allclose(averages.loc[micro.index, "micro_recall"], recall)

    # the recommendations are labels.csv's
    labels = pd.read_csv(run_folder / "labels.csv", keep_default_na=False, na_values=[""])
    for entry, row in zip(data["labels"], labels.to_dict("records"), strict=True):
        assert entry["name"] == row["label"] and entry["support"] == row["support"]
        assert entry["t"] == pytest.approx(row["threshold"]) and entry["ap"] == pytest.approx(row["ap"])
        assert entry["status"] == row["status"]


def test_the_header_says_what_ran(run_folder: Path) -> None:
    page = (run_folder / "report.html").read_text(encoding="utf-8")
    header = page[page.index("<header") : page.index("</header>")]
    for text in ("Dataset", "rekognition", "DetectLabels", "3.0", "240 evaluated of 240", "240 made", "Cost"):
        assert text in header
    assert "<dt>Cost</dt><dd>–</dd>" in header  # the summary has no cost yet
    assert "not evaluated" not in header and "raised" not in header
    # nothing went wrong, and the page says so in one line
    problems = page[page.index('<section id="problems"') : page.index("</section>", page.index("problems"))]
    assert "None: every dataset line was read and every image evaluated." in problems
    assert "<details" not in problems and 'class="warning"' not in problems


def test_problems_are_on_the_page_not_only_in_report_md(problem_run: Path) -> None:
    summary = json.loads((problem_run / "summary.json").read_text())
    page = (problem_run / "report.html").read_text(encoding="utf-8")
    header = page[page.index("<header") : page.index("</header>")]
    assert "60 evaluated of 63; 3 not evaluated: 2 rejected, 1 failed; 1 dataset line skipped" in header
    floor = summary["floor"]
    assert floor["answers_truncated_at_max_labels"] > 0 and floor["evaluated_from"] > 0
    assert f"confidence {floor['evaluated_from']:g} (raised: see Problems)" in header

    start = page.index('<section id="problems"')
    section = html.unescape(page[start : page.index("</section>", start)])
    assert "3 images not evaluated and 1 dataset line skipped" in section
    cut = floor["answers_truncated_at_max_labels"]
    answers = f"{cut} answer{'s' if cut > 1 else ''}"
    assert f"{answers} hit MaxLabels (5): nothing below {floor['evaluated_from']:g} is evaluated" in section
    assert "3 images not evaluated (2 rejected, 1 failed)" in section
    for error in summary["errors"]:  # every image, its status, error code and reason
        row = "".join(
            f'<td class="{kind}">{error[key] or "–"}</td>'
            for key, kind in (
                ("image", "text"),
                ("status", "text"),
                ("error_code", "text"),
                ("reason", "text wrap"),
            )
        )
        assert row in section
    assert {e["reason"] for e in summary["errors"]} >= {"file not found"}
    assert '<details id="images-not-evaluated" open>' in section  # three entries: shown open
    (bad_line,) = summary["dataset"]["bad_lines"]
    assert "expected at least 2 columns" in bad_line and f"<li><code>{bad_line}</code></li>" in section
    # the section comes before the numbers it qualifies
    assert start < page.index('<section id="global"')


def test_long_problem_lists_are_folded_capped_and_escaped(tmp_path: Path) -> None:
    result = synthetic_result(None, labels=["A", "B"], n_images=40)
    summary = result.summary
    total = MAX_PROBLEMS_LISTED + 50
    summary["errors"] = [
        {
            "image": f"/x/{NASTY[i % len(NASTY)]}{i}.png",
            "status": "rejected",
            "error_code": None,
            "reason": NASTY[0],
        }
        for i in range(total)
    ]
    summary["images"].update(
        total=40 + total, not_evaluated=total, by_status={"called": 40, "rejected": total}
    )
    summary["dataset"]["bad_lines"] = [f"data.csv:{i}: {NASTY[0]}" for i in range(total)]
    section = problems_html(summary)
    assert section.count("<tr>") == 1 + MAX_PROBLEMS_LISTED and section.count("<li>") == MAX_PROBLEMS_LISTED
    assert section.count("and 50 more (all in") == 2
    assert (
        '<details id="images-not-evaluated">' in section and '<details id="bad-lines">' in section
    )  # folded
    assert "<script>" not in section and "&lt;script&gt;" in section
    assert f"{total} images not evaluated (250 rejected)" in section
    assert dict(header_facts(summary))["Images"] == (
        f"40 evaluated of {total + 40}; {total} not evaluated: {total} rejected; "
        f"{total} dataset lines skipped"
    )
    page = render_html(result)
    assert page.count("<script") == 2 and "<img src=x" not in page


def test_a_floor_raised_by_the_service_is_a_warning(tmp_path: Path) -> None:
    result = synthetic_result(None, labels=["A", "B"], n_images=40)
    result.summary["floor"].update(
        requested_min_confidence=0.0,
        lowest_confidence_seen=50.25,
        answers_truncated_at_max_labels=0,
        truncation_floor=None,
        evaluated_from=50.0,
    )
    section = problems_html(result.summary)
    assert (
        "The service returned nothing below 50.25 (MinConfidence 0 was asked): nothing below 50 is evaluated."
        in section
    )


def test_the_recommended_min_confidence_is_never_rounded_up() -> None:
    # the reviewer's case: 92.33 would lose the image at 92.3263; the value shown is the robust middle
    assert min_confidence(92.32634735107422, 92.1) == 92.2
    assert (
        use_text(92.32634735107422, 92.1) == "92.2 (any value above 92.1 up to 92.3263 gives the same counts)"
    )
    assert min_confidence(50.00002, 50.00001) == 50.00002  # more decimals when 4 would fall below the range
    assert same_counts_range(50.00002, 50.00001) == (50.00001, 50.00002)
    assert same_counts_range(92.32634735107422, 92.10000610351562) == (92.1001, 92.3263)  # inside (low, t]
    assert min_confidence(math.nan, math.nan) is None and use_text(None, None) == "–"
    assert same_counts_range(None, 3.0) is None
    assert confidence_text(60.0) == "60" and confidence_text(40.72) == "40.72"


def test_every_recommended_min_confidence_on_the_page_is_thresholds_yaml_s(tmp_path: Path) -> None:
    result = synthetic_result(
        None, labels=["Cat", "Dog", "Car", "Tree", "Animal", "Bird", "Boat"], n_images=300, answer_seed=3
    )
    write_run(result, tmp_path / "run")
    document = yaml.safe_load((tmp_path / "run" / "thresholds.yaml").read_text())
    page = (tmp_path / "run" / "report.html").read_text(encoding="utf-8")
    data = embedded(page)
    labels = result.labels.set_index("label")
    for label in data["labels"]:
        expected = document["labels"][label["name"]]["min_confidence"]
        assert label["mc"] == expected
        above, up_to = label["range"]
        row = labels.loc[label["name"]]
        assert row["threshold_low"] <= above < expected <= up_to <= row["threshold"]
    use = document["global"]["min_confidence"]
    assert data["global"]["mc"] == use
    best = result.global_threshold
    assert (
        f"Recommended: MinConfidence {use_text(best['threshold'], best['threshold_low'])}: precision"
        in html.unescape(page)
    )
    assert f"MinConfidence {confidence_text(use)} (any value above" in html.unescape(page)


def test_the_table_s_at_columns_at_the_global_recommendation_add_up_to_it(tmp_path: Path) -> None:
    result = synthetic_result(
        None, labels=["Cat", "Dog", "Car", "Tree", "Animal", "Bird", "Boat"], n_images=300, answer_seed=3
    )
    data = page_data(result)
    best = result.global_threshold
    counts = [label["g"] for label in data["labels"]]
    assert sum(tp for tp, _ in counts) == best["tp"] and sum(fp for _, fp in counts) == best["fp"]
    # each is the label's exact curve at the global threshold, worked out plainly from the curves
    for label, (tp, fp) in zip(data["labels"], counts, strict=True):
        curve = result.curves[
            (result.curves["label"] == label["name"]) & (result.curves["threshold"] >= best["threshold"])
        ]
        assert (tp, fp) == (
            (0, 0) if curve.empty else tuple(curve.loc[curve["threshold"].idxmin(), ["tp", "fp"]])
        )


@pytest.mark.parametrize(
    ("cost", "text"),
    [(None, "–"), (1.234, "$1.23"), ({"estimated_usd": 0.5}, "$0.50 (estimated)"), ({"usd": "x"}, "–")],
)
def test_cost_is_shown_when_the_summary_has_one(cost, text) -> None:
    assert cost_text({"cost": cost}) == text


def test_the_page_is_self_contained(run_folder: Path) -> None:
    page = (run_folder / "report.html").read_text(encoding="utf-8")
    assert "Content-Security-Policy" in page and "default-src 'none'" in page
    assert not re.search(r"<(script|img|link|iframe)[^>]+(src|href)=\"(https?:)?//", page)
    assert not re.search(r"<script[^>]+src=", page)
    assert not re.search(r'<link[^>]+rel="stylesheet"', page)
    assert not re.search(r"(src|href|action)=\"?(https?:)?//|url\(\s*['\"]?(https?:)?//|@import", page)


def test_label_names_are_data_never_markup(tmp_path: Path) -> None:
    result = synthetic_result(tmp_path, labels=[*NASTY, "Plain"], n_images=80)
    result.summary["dataset"]["name"] = "<b>bold</b> & co"
    page = render_html(result)
    assert page.count("</script>") == 2 and page.count("<script") == 2  # the data and the code, nothing else
    assert "<b>bold</b>" not in page and "&lt;b&gt;bold&lt;/b&gt; &amp; co" in page
    assert "<img src=x" not in page and "<!--" not in page
    assert [label["name"] for label in embedded(page)["labels"]] == [*NASTY, "Plain"]
    assert script_json({"x": "</script>\u2028"}) == '{"x":"\\u003c/script\\u003e\\u2028"}'
    assert {png_name(i, name) for i, name in enumerate(NASTY)} == {
        "0000-script-alert-x-script.png",
        "0001-A-B.png",
        "0002-it-s-quoted.png",
        "0003-script.png",
        "0004-img-src-x-onerror-alert-1.png",
    }


def test_thumbnails_are_capped_per_label_and_in_total(tmp_path: Path) -> None:
    result = synthetic_result(tmp_path, labels=[f"L{i:02d}" for i in range(30)], n_images=300)
    data = page_data(result, per_kind=2, max_thumbnails=10)
    assert len(data["thumbs"]) == 10
    shown = set()
    for label in data["labels"]:
        errors = label["errors"]
        if errors is None:
            continue
        assert len(errors["fp"]) <= 2 and len(errors["fn"]) <= 2
        shown.update(example[0] for example in (*errors["fp"], *errors["fn"]))
    assert set(map(int, data["thumbs"])) <= shown == set(range(len(data["images"])))
    assert len(data["images"]) == len(set(data["images"]))  # each image named once
    # the labels with the most support get their thumbnails first
    first = data["labels"][0]["errors"]
    assert all(str(example[0]) in data["thumbs"] for example in (*first["fp"], *first["fn"]))
    for uri in data["thumbs"].values():
        assert uri.startswith("data:image/jpeg;base64,")
        with Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))) as image:
            assert image.format == "JPEG" and max(image.size) <= 96


def test_a_thumbnail_is_small_and_keeps_the_aspect_ratio(tmp_path: Path) -> None:
    path = tmp_path / "wide.jpg"
    Image.new("RGB", (800, 400), (200, 30, 30)).save(path, quality=95)
    uri = thumbnail_data_uri(path)
    assert uri is not None and len(uri) < 4000
    with Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))) as image:
        assert image.size == (96, 48)
    assert thumbnail_data_uri(tmp_path / "missing.jpg") is None
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff not really")
    assert thumbnail_data_uri(tmp_path / "broken.jpg") is None


def test_unreadable_images_get_no_thumbnail_and_do_not_use_the_budget(tmp_path: Path) -> None:
    result = synthetic_result(None, labels=list("ABCDEFGH"), n_images=200)  # the images do not exist
    data = page_data(result, max_thumbnails=3)
    assert data["thumbs"] == {}
    assert any(
        label["errors"] and (label["errors"]["fp"] or label["errors"]["fn"]) for label in data["labels"]
    )
    # shown relative to the dataset's folder (data.csv, here the working folder), never as a local path
    assert data["image_prefix"] == os.path.relpath("/nowhere/images", os.getcwd()) + "/"


def test_errors_are_the_most_confident_false_positives_and_the_nearest_false_negatives(
    run_folder: Path, boxed_dataset
) -> None:
    csv, expected = boxed_dataset
    page = (run_folder / "report.html").read_text(encoding="utf-8")
    data = embedded(page)
    # the page names images relative to the dataset's folder
    names = [str((csv.parent / (data["image_prefix"] + name)).resolve()) for name in data["images"]]
    for label in data["labels"]:
        errors, threshold = label["errors"], label["t"]
        if errors is None:
            continue
        # worked out independently from the scripted answers
        scores = {image: scored.get(label["name"]) for image, (_, scored) in expected.items()}
        truth = {image: label["name"] in labels for image, (labels, _) in expected.items()}
        fps = sorted(
            (
                (-s, image)
                for image, s in scores.items()
                if s is not None and s >= threshold and not truth[image]
            )
        )
        missed = sorted(
            ((-s, image) for image, s in scores.items() if s is not None and s < threshold and truth[image])
        )
        never = sorted(image for image, s in scores.items() if s is None and truth[image])
        assert errors["fp_total"] == len(fps) == label["fp"]
        assert errors["fn_total"] == len(missed) + len(never) == label["fn"]
        assert [(names[i], c) for i, c, _ in errors["fp"]] == [(image, -s) for s, image in fps[:4]]
        expected_fn = [(image, -s) for s, image in missed] + [(image, None) for image in never]
        assert [(names[i], c) for i, c, _ in errors["fn"]] == expected_fn[:4]


def test_boxes_are_those_of_the_returned_labels_that_count(run_folder: Path) -> None:
    data = embedded((run_folder / "report.html").read_text(encoding="utf-8"))
    by_name = {label["name"]: label for label in data["labels"]}
    for name in BOXED:
        for image, _, boxes in by_name[name]["errors"]["fp"]:
            index = int(re.search(r"img(\d+)", data["images"][image]).group(1))
            assert boxes == [[round(0.05 + (index % 5) * 0.08, 4), 0.1, 0.45, 0.6]]
    assert all(boxes == [] for _, _, boxes in by_name["Tree"]["errors"]["fp"])
    # Animal is implied by Cat and Dog (their Parents): their boxes show where it came from
    animal_boxes = [
        boxes for _, _, boxes in by_name["Animal"]["errors"]["fp"] + by_name["Animal"]["errors"]["fn"]
    ]
    assert any(animal_boxes)


def test_error_totals_match_labels_csv_for_every_label(tmp_path: Path) -> None:
    result = synthetic_result(None, labels=[f"L{i}" for i in range(12)], n_images=400, min_support=30)
    errors = label_errors(result)
    for entry, row in zip(errors, result.labels.to_dict("records"), strict=True):
        if row["status"] in ("no-positives", "unreachable"):
            assert entry is None
            continue
        assert (entry.fp_total, entry.fn_total) == (row["fp"], row["fn"])
        confidences = [e.confidence for e in entry.false_positives]
        assert confidences == sorted(confidences, reverse=True)
        assert all(c >= row["threshold"] for c in confidences)


def test_png_plots_only_for_the_labels_with_the_most_support(tmp_path: Path) -> None:
    result = synthetic_result(None, labels=["A", "B", "C", "D"], n_images=120)
    support = result.labels["support"].to_numpy()
    assert labels_to_plot(result.labels, 2) == list(np.argsort(-support, kind="stable")[:2])
    written = write_plots(result, tmp_path, limit=3)
    assert len(written) == 3
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == sorted(
        [Path(path).name for path in written.values()] + ["global.png"]
    )
    (tmp_path / "plots" / "notes.png").write_bytes(b"not ours")
    write_plots(result, tmp_path, limit=1)  # a later report with fewer plots leaves no stale PNG
    assert len(list((tmp_path / "plots").glob("0*.png"))) == 1
    assert (tmp_path / "plots" / "notes.png").exists()  # and never removes a file it did not write
    with Image.open(tmp_path / "plots" / "global.png") as image:
        assert image.format == "PNG"


def test_labels_without_a_threshold_and_a_floor_above_zero(tmp_path: Path) -> None:
    result = synthetic_result(
        None,
        labels=[f"L{i}" for i in range(120)],
        n_images=60,
        objective="recall-at-precision:0.95",
        min_confidence=55.5,
    )
    data = page_data(result)
    assert data["thresholds"][0] == 56 and data["thresholds"][-1] == 100  # nothing below the floor is known
    statuses = {label["status"] for label in data["labels"]}
    # few positives: the data advice's too-few-positives outranks low-support (still among the flags)
    assert {"no-positives", "no-predictions", "unreachable", "too-few-positives"} <= statuses
    for label in data["labels"]:
        if label["status"] in ("no-positives", "unreachable"):
            assert label["errors"] is None and label["t"] is None
        elif label["status"] == "no-predictions":
            errors = label["errors"]
            assert (
                errors["threshold"] is None and errors["fp"] == [] and errors["fn_total"] == label["support"]
            )
            assert all(confidence is None for _, confidence, _ in errors["fn"])
