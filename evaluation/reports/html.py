"""report.html: one self-contained page to choose thresholds from (curves, table, explorer, errors).

The page opens from disk with no server and no network: CSS and JavaScript are inline, thumbnails are
data: URIs, plots are SVG drawn by the page from its embedded data, and a Content-Security-Policy forbids
fetching anything. What is embedded (one JSON document, see `page_data`):
- per label, the recommendation and its exact curve as sparse bins (what first appears at each distinct
  confidence returned, curves.csv), from which the page rebuilds tp, fp, fn, tn and the rates at every
  distinct confidence and every whole number: the explorer's numbers are curves.csv's and metrics.csv's,
  not an approximation (a label with more than MAX_EXACT_STOPS distinct confidences keeps that many,
  chosen by quantile, each with its exact counts, plus every whole number), see
  `evaluation.reports.exact_curve`;
- per label, the positives the service never returned at any confidence (no MinConfidence finds them);
- per label, a few false positives and false negatives at the recommended threshold (thumbnails capped
  in total, each image embedded once), see `evaluation.reports.thumbnails`.
So the page stays small for 1,000 labels: no plot is stored in it, only the numbers to draw them, and it
links to no other file (the PNGs under plots/ are for slides; the page draws its own).
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import math
import os
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from evaluation.analysis.summary import PathView
from evaluation.reports.aws_section import html_section as aws_html_section
from evaluation.reports.exact_curve import exact_bins
from evaluation.reports.faces_section import html_section as faces_html_section
from evaluation.reports.recommended import confidence_text, min_confidence, same_counts_range, use_text
from evaluation.reports.sure import sure_html
from evaluation.reports.thumbnails import (
    EXAMPLES_PER_KIND,
    MAX_THUMBNAILS,
    LabelErrors,
    choose_thumbnails,
    evaluated_images,
    label_errors,
)
from evaluation.reports.video_section import html_section as video_html_section
from evaluation.runfolder import api_and_operation
from evaluation.stats.intervals import z_value

if TYPE_CHECKING:
    from evaluation.analysis import EvaluationResult

REPORT_FILE = "report.html"
SLIDER_NOTE = (
    "The slider stops at every distinct confidence the service returned (the exact counts of curves.csv) "
    "and at every whole number (metrics.csv's); the recommended MinConfidence is marked \u2605. Arrow keys "
    "step one stop."
)
MAX_GLOBAL_STOPS = 5000  # the global slider stops at every distinct confidence of every label up to this
# One line each, in plain words, where the numbers appear (the glossary and the column headers' hover).
EXPLAINED = {
    "MinConfidence": "the threshold sent to the service: a label is returned when its confidence is at "
    "least this.",
    "Precision": "of the images a label was returned for, the share that really show it.",
    "Recall": "of the images that really show a label, the share it was returned for.",
    "F1": "one number balancing precision and recall (their harmonic mean); 1 is perfect.",
    "AP": "average precision: precision averaged over every recall reached as the threshold goes down; "
    "how good the label is at any threshold, not just one.",
    "Support": "how many images show the label in the ground truth; few means the numbers are uncertain.",
    "Micro": "over all labels at once: every (image, label) pair counts the same, so common labels weigh "
    "more.",
    "Macro": "the plain mean of the labels' own numbers: every label counts the same, rare or common.",
    "TP, FP, FN, TN": "returned and right, returned but wrong, missed, and rightly not returned.",
}
# Nothing may be fetched: inline styles, data: images, and only the page's own scripts, named by their
# hashes (an injected script or event handler does not run); no <base>, no form submission.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src {scripts}; "
    "base-uri 'none'; form-action 'none'"
)


def script_body(*names: str) -> str:
    """The text of one inline <script> made of shipped assets, exactly as the page holds it."""
    return "\n" + "\n".join(asset(name) for name in names) + "\n"


def script_hash(body: str) -> str:
    """A CSP source for an inline script: 'sha256-' and the base64 digest of its UTF-8 text."""
    return "'sha256-" + base64.b64encode(hashlib.sha256(body.encode("utf-8")).digest()).decode("ascii") + "'"


def content_security_policy(scripts: Sequence[str] = ()) -> str:
    """The policy for a page whose inline scripts are `scripts` (their bodies); none runs otherwise."""
    return CONTENT_SECURITY_POLICY.format(scripts=" ".join(map(script_hash, scripts)) or "'none'")


def page_start(title: str, *, scripts: Sequence[str] = ()) -> str:
    """The head every page shares (self-contained: its policy forbids fetching anything, and allows only
    the inline `scripts` given, by hash) and its title."""
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{content_security_policy(scripts)}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<link rel="icon" href="data:,">
<style>{asset("report.css")}</style>
</head>
<body>
<header class="page">
<h1>{html.escape(title)}</h1>"""


def asset(name: str) -> str:
    """A stylesheet or script shipped in evaluation/reports/assets (package data)."""
    return resources.files("evaluation.reports").joinpath("assets", name).read_text(encoding="utf-8")


def script_json(data: Any) -> str:
    """JSON that is safe inside <script>: no "</script>", no "<!--", whatever the label names hold."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    for raw, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(raw, escaped)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def number(value: Any, digits: int = 6) -> float | int | None:
    """A JSON number, or None for NaN / NA (undefined, never a silent 0)."""
    if value is None or value is pd.NA:
        return None
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value)
    value = float(value)
    return None if math.isnan(value) else round(value, digits)


def cost_text(summary: dict[str, Any]) -> str:
    """The run's cost if the summary carries one (a number, or a dict with a dollar amount), else "–"."""
    cost = summary.get("cost")
    if isinstance(cost, dict):
        amount = next(
            (cost[key] for key in ("usd", "total_usd", "estimated_usd", "total") if key in cost), None
        )
        suffix = " (estimated)" if any("estimat" in str(key) for key in cost) else ""
    else:
        amount, suffix = cost, ""
    if isinstance(amount, (int, float)) and not isinstance(amount, bool) and math.isfinite(amount):
        return f"${amount:,.2f}{suffix}"
    return "–"


MAX_PROBLEMS_LISTED = 200  # per kind (dataset lines, images); the rest is counted, all are in the files
OPEN_PROBLEMS = 10  # a list this short is shown open, a longer one folded
EVALUATED = ("called", "cached")


def not_evaluated_by_status(summary: dict[str, Any]) -> dict[str, int]:
    """How many images were not evaluated, by status (rejected, failed, missing), most first."""
    images = summary.get("images") or {}
    counts = {
        str(status): int(count)
        for status, count in (images.get("by_status") or {}).items()
        if status not in EVALUATED and count
    }
    if not counts:
        for error in summary.get("errors") or []:
            status = str(error.get("status") or "not evaluated")
            counts[status] = counts.get(status, 0) + 1
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def images_text(summary: dict[str, Any]) -> str:
    """ "230 evaluated of 240; 10 not evaluated: 8 rejected, 2 failed" (the header's Images)."""
    images = summary["images"]
    text = f"{images['evaluated']} evaluated of {images['total']}"
    missed = int(images.get("not_evaluated") or 0)
    if missed:
        why = ", ".join(f"{count} {status}" for status, count in not_evaluated_by_status(summary).items())
        text += f"; {missed} not evaluated" + (f": {why}" if why else "")
    skipped = len(summary["dataset"].get("bad_lines") or [])
    if skipped:
        text += f"; {skipped} dataset line{'' if skipped == 1 else 's'} skipped"
    return text


def floor_warning(summary: dict[str, Any]) -> str | None:
    """Why thresholds below the floor are not evaluated, when the floor is above the MinConfidence asked."""
    floor = summary.get("floor") or {}
    evaluated_from = floor.get("evaluated_from")
    if evaluated_from is None:
        return None
    truncated = int(floor.get("answers_truncated_at_max_labels") or 0)
    requested = floor.get("requested_min_confidence")
    if truncated:
        max_labels = (summary.get("request") or {}).get("MaxLabels")
        limit = f" ({max_labels})" if max_labels else ""
        return (
            f"{truncated} answer{'' if truncated == 1 else 's'} hit MaxLabels{limit}: nothing below "
            f"{confidence_text(evaluated_from)} is evaluated (an answer cut at MaxLabels is complete only "
            "down to its lowest label). A larger --max-labels evaluates lower thresholds."
        )
    if isinstance(requested, (int, float)) and evaluated_from > requested:
        seen = floor.get("lowest_confidence_seen")
        lowest = "nothing that low"
        if isinstance(seen, (int, float)):
            lowest = f"nothing below {confidence_text(seen)}"
        return (
            f"The service returned {lowest} (MinConfidence {requested:g} was asked): nothing below "
            f"{confidence_text(evaluated_from)} is evaluated."
        )
    return None


def header_facts(summary: dict[str, Any]) -> list[tuple[str, str]]:
    """The page header, as (name, value) pairs in reading order."""
    where = summary.get("endpoint_url") or summary.get("region") or ""
    backend = " · ".join(
        str(part) for part in (summary.get("backend"), api_and_operation(summary)[0], where) if part
    )
    dataset = summary["dataset"]
    return [
        ("Dataset", f"{dataset['name']} ({dataset.get('format') or '?'}: {dataset.get('source') or '?'})"),
        ("Backend", backend or "–"),
        ("Model version(s)", ", ".join(summary.get("model_versions") or []) or "–"),
        ("Images", images_text(summary)),
        ("API calls", f"{summary.get('api_calls', 0)} made, {summary.get('cache_hits', 0)} from the cache"),
        ("Cost", cost_text(summary)),
        ("Date", str(summary.get("created_at") or "–")),
        ("Objective", f"{summary.get('objective')}, minimum support {summary.get('min_support')}"),
        (
            "Evaluated from",
            f"confidence {confidence_text(summary['floor']['evaluated_from'])}"
            + (" (raised: see Problems)" if floor_warning(summary) else ""),
        ),
    ]


def grid_bins(result: EvaluationResult) -> tuple[list[float], list[list[list[int]]], int]:
    """The grid thresholds (ascending), per label the sparse bins [k, tp added at k, fp added at k],
    and the number of images, all from result.metrics (the table written as metrics.csv)."""
    metrics = result.metrics
    labels = list(result.labels["label"])
    thresholds = np.sort(metrics["threshold"].unique().astype(np.float64))
    if metrics.empty:
        return [], [[] for _ in labels], int(result.summary["images"]["evaluated"])
    codes = pd.Index(labels, dtype=object).get_indexer(metrics["label"].astype(object))
    if (codes < 0).any():
        raise ValueError("metrics name labels that result.labels does not have")
    position = np.searchsorted(thresholds, metrics["threshold"].to_numpy(np.float64))
    shape = (len(labels), len(thresholds))
    tp = np.zeros(shape, np.int64)
    fp = np.zeros(shape, np.int64)
    tp[codes, position] = metrics["tp"].to_numpy(np.int64)
    fp[codes, position] = metrics["fp"].to_numpy(np.int64)
    zero = np.zeros((len(labels), 1), np.int64)
    added_tp = tp - np.hstack([tp[:, 1:], zero])
    added_fp = fp - np.hstack([fp[:, 1:], zero])
    if (added_tp < 0).any() or (added_fp < 0).any():
        raise ValueError("metrics counts must not grow with the threshold")
    rows, columns = np.nonzero(added_tp | added_fp)
    bins: list[list[list[int]]] = [[] for _ in labels]
    for row, column in zip(rows.tolist(), columns.tolist(), strict=True):
        bins[row].append([column, int(added_tp[row, column]), int(added_fp[row, column])])
    first = metrics.iloc[0]
    n_images = int(first["tn"] + first["fp"] + first["support"])
    return [float(value) if value % 1 else int(value) for value in thresholds], bins, n_images


def never_returned(result: EvaluationResult) -> list[int]:
    """Per label, the positives never returned at any confidence evaluated (support - tp at the floor)."""
    return [int(value) for value in result.never_returned.tolist()]


def _judged_per_label(result: EvaluationResult) -> list[int]:
    """Per label, tp + fp + fn + tn (the images, for image labels), from metrics.csv's first row of it."""
    metrics = result.metrics
    n_images = int(result.summary["images"]["evaluated"])
    if metrics.empty:
        return [n_images] * len(result.labels)
    first = metrics.drop_duplicates("label")
    judged = first["tn"] + first["fp"] + first["support"]
    total = dict(zip(first["label"].astype(object), judged.astype("int64"), strict=True))
    return [int(total.get(label, n_images)) for label in result.labels["label"].astype(object)]


def _image_prefix(uris: list[str]) -> str:
    """The folder all shown images share, written once instead of in every name."""
    if not uris:
        return ""
    folders = [uri.split("/")[:-1] for uri in uris]
    shared = folders[0]
    for parts in folders[1:]:
        size = next(
            (i for i, (a, b) in enumerate(zip(shared, parts, strict=False)) if a != b),
            min(len(shared), len(parts)),
        )
        shared = shared[:size]
    return "/".join(shared) + "/" if shared else ""


def _shown_paths(
    result: EvaluationResult, uris: list[str], errors: list[LabelErrors | None]
) -> dict[int, str]:
    """The images the errors show, as summary.json names them: relative to the dataset's folder unless
    asked otherwise. Only these (a few hundred): naming 100,000 local images took most of a second."""
    dataset = result.summary.get("dataset") or {}
    view = PathView.of(result.run.get("dataset") or {}, absolute=dataset.get("paths") == "absolute")
    shown = {e.image for entry in errors if entry for e in (*entry.false_positives, *entry.false_negatives)}
    return {image: view.path(uris[image]) for image in shown}


def _errors_data(
    errors: list[LabelErrors | None], thumbnails: dict[int, str], uris: Mapping[int, str]
) -> tuple[list[dict[str, Any] | None], list[str], dict[str, str], str]:
    """Errors with images renumbered to the few that are shown; names relative to their common folder."""
    shown = sorted(
        {e.image for entry in errors if entry for e in (*entry.false_positives, *entry.false_negatives)}
    )
    renumber = {image: index for index, image in enumerate(shown)}
    prefix = _image_prefix([uris[image] for image in shown])
    names = [uris[image][len(prefix) :] for image in shown]

    def examples(items: tuple[Any, ...]) -> list[list[Any]]:
        return [[renumber[e.image], number(e.confidence), [list(box) for box in e.boxes]] for e in items]

    data = [
        None
        if entry is None
        else {
            "threshold": number(entry.threshold),
            "fp": examples(entry.false_positives),
            "fn": examples(entry.false_negatives),
            "fp_total": entry.fp_total,
            "fn_total": entry.fn_total,
        }
        for entry in errors
    ]
    thumbs = {str(renumber[image]): uri for image, uri in thumbnails.items()}
    return data, names, thumbs, prefix


def _counts_at(result: EvaluationResult, threshold: float) -> list[list[int]]:
    """Per label [tp, fp] at an exact threshold (the global recommendation), from the exact curves: the
    row with the lowest threshold at or above it, or nothing predicted."""
    labels = list(result.labels["label"].astype(object))
    curves = result.curve_table
    if curves.empty:
        return [[0, 0] for _ in labels]
    rows = np.flatnonzero(curves["threshold"].to_numpy(np.float64) >= threshold)
    above = curves.frame(rows=rows, columns=("label", "threshold", "tp", "fp"))
    lowest = above.sort_values("threshold", kind="stable").drop_duplicates("label")
    found = {
        label: [int(tp), int(fp)]
        for label, tp, fp in zip(lowest["label"].astype(object), lowest["tp"], lowest["fp"], strict=True)
    }
    return [found.get(label, [0, 0]) for label in labels]


def _intervals(row: Any) -> dict[str, Any]:
    """The page's intervals of one recommendation: [low, high] pairs (absent when not computed)."""
    out: dict[str, Any] = {}
    for key, name in (
        ("p_ci", "precision"),
        ("r_ci", "recall"),
        ("f1_ci", "f1"),
        ("mc_ci", "min_confidence"),
    ):
        low, high = number(row.get(f"{name}_low")), number(row.get(f"{name}_high"))
        if low is not None and high is not None:
            out[key] = [low, high]
    needed = row.get("positives_needed")
    if needed is not None and needed is not pd.NA and not (isinstance(needed, float) and math.isnan(needed)):
        out["needed"] = int(needed)
    return out


def _recommendation(threshold: Any, low: Any) -> dict[str, Any]:
    """What to use (thresholds.yaml's min_confidence) and the range with the same counts."""
    bounds = same_counts_range(threshold, low)
    return {"mc": min_confidence(threshold, low), "range": None if bounds is None else list(bounds)}


def page_data(
    result: EvaluationResult,
    *,
    per_kind: int = EXAMPLES_PER_KIND,
    max_thumbnails: int = MAX_THUMBNAILS,
) -> dict[str, Any]:
    """Everything the page shows, as one JSON-ready dict (see the module docstring)."""
    thresholds, _, n_images = grid_bins(result)
    exact, thinned = exact_bins(result)
    never = never_returned(result)
    global_stops = sorted({value for label in exact for value, _, _ in label})
    if any(thinned) or len(global_stops) > MAX_GLOBAL_STOPS:
        global_stops = []  # the global slider keeps the whole numbers and the recommendation
    errors = label_errors(result, per_kind=per_kind)
    uris = evaluated_images(result)
    support = result.labels["support"].to_numpy(np.int64)
    priority = np.lexsort((np.arange(len(support)), -support)).tolist()  # most support first
    thumbnails = choose_thumbnails(errors, priority, uris, limit=max_thumbnails) if uris else {}
    errors_json, names, thumbs, prefix = _errors_data(errors, thumbnails, _shown_paths(result, uris, errors))
    judged = _judged_per_label(result)
    best = result.global_threshold
    global_threshold = number(best.get("threshold"))
    at_global = _counts_at(result, float(best["threshold"])) if global_threshold is not None else None
    labels = []
    for position, row in enumerate(result.labels.to_dict("records")):
        labels.append(
            {
                "name": str(row["label"]),
                "support": int(row["support"]),
                "ap": number(row["ap"]),
                "t": number(row["threshold"]),
                "t_low": number(row["threshold_low"]),
                **_recommendation(row["threshold"], row["threshold_low"]),
                "p": number(row["precision"]),
                "r": number(row["recall"]),
                "f1": number(row["f1"]),
                "tp": number(row["tp"]),
                "fp": number(row["fp"]),
                "fn": number(row["fn"]),
                **_intervals(row),
                "status": str(row["status"]),
                "note": str(row["note"] or ""),
                "x": exact[position],
                "errors": errors_json[position],
            }
            # Detections (boxes, faces, words) are judged per detection, not per image: each label has its
            # own count of judged units, from which the page derives true negatives.
            | ({"n": judged[position]} if judged[position] != n_images else {})
            # Its counts at the global recommendation, for the table's "@" columns when the global slider
            # is on that stop (not a whole number, so not in metrics.csv).
            | ({"g": at_global[position]} if at_global else {})
            | ({"never": never[position]} if never[position] > 0 else {})
            | ({"thinned": True} if thinned[position] else {})
        )
    return {
        "version": 2,
        "thresholds": thresholds,
        "global_stops": global_stops,
        "explained": EXPLAINED,
        "n_images": n_images,
        "min_support": result.summary.get("min_support"),
        "global": {
            name: number(best.get(name))
            for name in ("threshold", "threshold_low", "precision", "recall", "f1", "tp", "fp", "fn")
        }
        | _recommendation(best.get("threshold"), best.get("threshold_low"))
        | _intervals(best)
        | {"status": best.get("status"), "note": best.get("note") or ""},
        "labels": labels,
        "images": names,
        "image_prefix": prefix,
        "thumbs": thumbs,
        "limits": {"examples_per_kind": per_kind, "thumbnails": max_thumbnails},
        # the z of the intervals' level, so the page's Wilson bands equal metrics.csv's intervals
        "z": z_value(float((result.summary.get("intervals") or {}).get("level") or 0.95)),
    }


def _global_text(result: EvaluationResult) -> str:
    best = result.global_threshold
    if number(best.get("threshold")) is None:
        return f"No single MinConfidence meets the objective. {best.get('note') or ''}".strip()
    rates = ", ".join(
        f"{name} {'–' if number(best.get(key)) is None else format(best[key], '.3f')}"
        for key, name in (("precision", "precision"), ("recall", "recall"), ("f1", "F1"))
    )
    use = use_text(best.get("threshold"), best.get("threshold_low"))
    return f"Recommended: MinConfidence {use}: {rates}, micro over all labels."


def _listed(total: int, shown: int, where: str) -> str:
    rest = total - shown
    return f'<p class="note">and {rest} more (all in {where})</p>' if rest > 0 else ""


def problems_html(summary: dict[str, Any]) -> str:
    """The "Problems" section: skipped dataset lines, images not evaluated, a raised floor; each list
    folded when long and capped at MAX_PROBLEMS_LISTED entries. One line when there is none."""
    escape = html.escape
    bad_lines = [str(line) for line in summary["dataset"].get("bad_lines") or []]
    errors = list(summary.get("errors") or [])
    missed = max(int(summary["images"].get("not_evaluated") or 0), len(errors))
    floor = floor_warning(summary)
    warnings = [str(text) for text in summary["dataset"].get("warnings") or []]
    if not bad_lines and not missed and floor is None and not warnings:
        return (
            '<section id="problems" class="problems none"><h2>Problems</h2><p class="note">None: every '
            "dataset line was read and every image evaluated.</p></section>\n"
        )
    parts = ['<section id="problems" class="problems"><h2>Problems</h2>']
    if bad_lines or missed:
        counted = []
        if missed:
            counted.append(f"{missed} image{'' if missed == 1 else 's'} not evaluated")
        if bad_lines:
            counted.append(f"{len(bad_lines)} dataset line{'' if len(bad_lines) == 1 else 's'} skipped")
        parts.append(
            f'<p class="warning">{escape(" and ".join(counted))}: every number on this page is over the '
            f"{escape(str(summary['images']['evaluated']))} images evaluated, without them.</p>"
        )
    if floor is not None:
        parts.append(f'<p class="warning" id="floor-warning">{escape(floor)}</p>')
    if warnings:  # what the dataset reader found and did not use
        items = "".join(f"<li>{escape(text)}</li>" for text in warnings[:MAX_PROBLEMS_LISTED])
        parts.append(f'<ul class="warnings" id="dataset-warnings">{items}</ul>')
    if missed:
        why = ", ".join(f"{count} {status}" for status, count in not_evaluated_by_status(summary).items())
        rows = "".join(
            "<tr>"
            + "".join(
                f'<td class="{kind}">{escape(str(error.get(key) or "–"))}</td>'
                for key, kind in (
                    ("image", "text"),
                    ("status", "text"),
                    ("error_code", "text"),
                    ("reason", "text wrap"),
                )
            )
            + "</tr>"
            for error in errors[:MAX_PROBLEMS_LISTED]
        )
        parts.append(
            f'<details id="images-not-evaluated"{" open" if len(errors) <= OPEN_PROBLEMS else ""}>'
            f"<summary>{missed} image{'' if missed == 1 else 's'} not evaluated"
            + (f" ({escape(why)})" if why else "")
            + '</summary><div class="scroll"><table class="data problems-table"><thead><tr>'
            '<th class="text">Image</th><th class="text">Status</th><th class="text">Error</th>'
            f'<th class="text">Reason</th></tr></thead><tbody>{rows}</tbody></table></div>'
            + _listed(len(errors), min(len(errors), MAX_PROBLEMS_LISTED), "images.csv and summary.json")
            + "</details>"
        )
    if bad_lines:
        items = "".join(f"<li><code>{escape(line)}</code></li>" for line in bad_lines[:MAX_PROBLEMS_LISTED])
        parts.append(
            f'<details id="bad-lines"{" open" if len(bad_lines) <= OPEN_PROBLEMS else ""}>'
            f"<summary>{len(bad_lines)} dataset line{'' if len(bad_lines) == 1 else 's'} skipped "
            f"(--skip-bad-lines)</summary><ul>{items}</ul>"
            + _listed(len(bad_lines), min(len(bad_lines), MAX_PROBLEMS_LISTED), "summary.json")
            + "</details>"
        )
    parts.append("</section>\n")
    return "".join(parts)


def render_html(result: EvaluationResult, **limits: int) -> str:
    """The page as text; `limits` are page_data's per_kind and max_thumbnails."""
    summary = result.summary
    data = page_data(result, **limits)
    escape = html.escape
    version = str(summary.get("tool_version") or "")
    facts = "".join(
        f"<div><dt>{escape(name)}</dt><dd>{escape(value)}</dd></div>" for name, value in header_facts(summary)
    )
    title = f"Rekognition evaluation: {summary['dataset']['name']}"
    glossary = "".join(
        f"<div><dt>{escape(term)}</dt><dd>{escape(text)}</dd></div>" for term, text in EXPLAINED.items()
    )

    def numbers(prefix: str, counts: tuple[str, ...]) -> str:
        rates = "".join(
            f'<span>{name} <b id="{prefix}-{key}"></b></span>'
            for key, name in (("precision", "precision"), ("recall", "recall"), ("f1", "F1"))
        )
        return rates + "".join(f'<span>{key.upper()} <b id="{prefix}-{key}"></b></span>' for key in counts)

    script = script_body("table.js", "report.js")
    return f"""{page_start(title, scripts=[script])}
<dl class="facts">{facts}</dl>
</header>
<main>
{problems_html(summary)}
<noscript><p>This page needs JavaScript for its table, explorer and plots; report.md has the same
recommendations as text.</p></noscript>
<section id="global">
<h2>One MinConfidence for all labels</h2>
<p class="note">{escape(_global_text(result))}</p>
<div class="explorer">
<label for="global-threshold">MinConfidence <output id="global-threshold-value"></output>
<span id="global-threshold-kind" class="stop-kind"></span></label>
<input type="range" id="global-threshold" aria-label="MinConfidence for all labels">
<div class="numbers">{numbers("global", ("tp", "fp", "fn"))}</div>
</div>
<p class="note">{SLIDER_NOTE}</p>
<div class="axis-control"><label for="axis-scale">Confidence axis</label>
<select id="axis-scale" aria-label="confidence axis of the plots">
<option value="auto">automatic (log when the confidences are low)</option>
<option value="linear">0 to 100</option><option value="log">logarithmic</option>
<option value="zoom">zoomed to the confidences returned</option>
</select></div>
<div id="global-chart" class="charts"></div>
<p class="note">The slider also sets the table's "@" columns: each label's precision, recall and F1 at that
MinConfidence. Counts are (image, label) pairs, micro-averaged over labels.</p>
<details id="glossary" class="glossary"><summary>What the numbers mean</summary>
<dl>{glossary}</dl></details>
</section>
<div class="layout">
<section id="labels">
<h2>Labels</h2>
<div class="controls">
<input type="search" id="label-filter" placeholder="filter labels" aria-label="filter labels">
<select id="status-filter" aria-label="filter by status">
<option value="">every status</option><option value="attention">needs attention (not ok)</option>
</select>
<span id="labels-count" class="note"></span>
</div>
<div class="scroll"><table id="labels-table" class="data"></table></div>
<p class="note">Click a column to sort, a row to see its plots and errors. A dash is an undefined value
(no prediction, or no positive image), never a zero.</p>
</section>
<section id="label-detail" class="detail">
<h2 id="label-name"></h2>
<p id="label-facts"></p>
<p id="label-note" class="note"></p>
<div class="explorer">
<label for="label-threshold">MinConfidence <output id="label-threshold-value"></output>
<span id="label-threshold-kind" class="stop-kind"></span></label>
<input type="range" id="label-threshold" aria-label="MinConfidence for this label">
<div class="numbers">{numbers("label", ("tp", "fp", "fn", "tn"))}</div>
</div>
<p class="note">{SLIDER_NOTE}</p>
<div id="label-charts" class="charts"></div>
<div id="label-errors"></div>
</section>
</div>
{sure_html(result)}{aws_html_section(result)}{faces_html_section(result)}{video_html_section(result)}</main>
<footer>
The explorer's numbers are metrics.csv's at whole-number thresholds, curves.csv's at every other stop
and labels.csv's at the recommended one (a label is predicted when its confidence is at or above
MinConfidence); recommended thresholds come from the exact curves (curves.parquet) and are shown as
thresholds.yaml writes them: the middle of the range of MinConfidences that give the recommended counts,
so unseen confidences have margin on both sides.
Thumbnails: at most {data["limits"]["examples_per_kind"]} false positives and false negatives per label and
{data["limits"]["thumbnails"]} images per page, labels with the most support first. The page is
self-contained (copy it alone); PNG plots of the labels with the most support are also in the run folder's
plots/, for slides. Written by rekognition-eval {escape(version)}.
</footer>
<script type="application/json" id="report-data">{script_json(data)}</script>
<script>{script}</script>
</body>
</html>
"""


def write_html(result: EvaluationResult, out_dir: Path) -> Path:
    """Write report.html into a run folder (its PNG plots are evaluation.reports.plots'); returns the
    page's path."""
    target = out_dir / REPORT_FILE
    temporary = target.with_name(target.name + ".tmp")
    temporary.write_text(render_html(result), encoding="utf-8")
    os.replace(temporary, target)
    return target
