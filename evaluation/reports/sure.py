"""report.html's "How sure" section: the interval rules, the data advice ("label about N more images with
Cat"), costs, the human-review band and a reliability plot, drawn on the server as inline SVG (the page's
policy allows no fetching; an inline SVG fetches nothing). A renderer only: every number is the result's.
"""

from __future__ import annotations

import html
import math
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from evaluation.analysis.missing import fixed_with_interval, is_missing
from evaluation.reports.recommended import confidence_text
from evaluation.stats.thresholds import min_confidence_to_use

if TYPE_CHECKING:
    from evaluation.analysis import EvaluationResult

MAX_ADVICE_LISTED = 50
MAX_RELIABILITY_PLOTS = 6  # the pooled plot and the labels with the most predictions


def advice_lines(labels: pd.DataFrame) -> list[str]:
    """'label about 370 more images with Cat (has 14 of 384 needed)', most needed first."""
    if "positives_needed" not in labels.columns:
        return []
    lines = []
    rows = labels[labels["positives_needed"].notna() & (labels["support"] > 0)].copy()
    rows["more"] = rows["positives_needed"].astype(int) - rows["support"].astype(int)
    for row in rows[rows["more"] > 0].sort_values("more", ascending=False).to_dict("records"):
        lines.append(
            f"label about {int(row['more'])} more images with {row['label']} "
            f"(has {int(row['support'])} positive(s) of about {int(row['positives_needed'])} needed)"
        )
    return lines


def _table(header: list[str], rows: list[list[str]], *, table_id: str) -> str:
    escape = html.escape
    head = "".join(f"<th>{escape(name)}</th>" for name in header)
    body = "".join("<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in row) + "</tr>" for row in rows)
    return (
        f'<div class="scroll"><table class="data" id="{table_id}"><thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table></div>"
    )


def reliability_svg(table: pd.DataFrame, title: str) -> str:
    """Observed precision (with its interval) against the mean confidence of each bin, and the diagonal
    where "Confidence 90" means right 90% of the time."""
    width, height, left, right, top, bottom = 240, 210, 36, 10, 24, 30

    def x(value: float) -> float:
        return left + value * (width - left - right)

    def y(value: float) -> float:
        return top + (1 - value) * (height - top - bottom)

    parts = [
        f'<svg class="chart reliability" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img"><title>{html.escape(title)}</title>',
        f'<text x="2" y="12" font-weight="600">{html.escape(title)}</text>',
        f'<line class="diagonal" x1="{x(0):.1f}" y1="{y(0):.1f}" x2="{x(1):.1f}" y2="{y(1):.1f}"/>',
        f'<path class="axis" fill="none" stroke="#666" d="M{left},{top}V{height - bottom}H{width - right}"/>',
    ]
    for tick in (0.0, 0.5, 1.0):
        parts.append(f'<text x="{left - 4}" y="{y(tick) + 3:.1f}" text-anchor="end">{tick:.1f}</text>')
        parts.append(
            f'<text x="{x(tick):.1f}" y="{height - bottom + 12}" text-anchor="middle">{tick * 100:.0f}</text>'
        )
    parts.append(
        f'<text x="{(left + width - right) / 2:.0f}" y="{height - 4}" text-anchor="middle">'
        "mean confidence</text>"
    )
    for row in table[table["predictions"] > 0].to_dict("records"):
        cx, cy = x(float(row["mean_confidence"]) / 100.0), y(float(row["observed_precision"]))
        if not is_missing(row["precision_low"]):
            parts.append(
                f'<line class="ci" x1="{cx:.1f}" x2="{cx:.1f}" y1="{y(float(row["precision_low"])):.1f}" '
                f'y2="{y(float(row["precision_high"])):.1f}"/>'
            )
        tip = (
            f"confidence {row['bin_low']:g}-{row['bin_high']:g}: {int(row['tp'])} right of "
            f"{int(row['predictions'])} (mean confidence {float(row['mean_confidence']):.1f})"
        )
        parts.append(f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="3"><title>{html.escape(tip)}</title></circle>')
    parts.append("</svg>")
    return "".join(parts)


def pooled(table: pd.DataFrame) -> pd.DataFrame:
    """All labels' bins added up (the intervals of the pooled counts)."""
    from evaluation.stats.intervals import wilson_interval

    grouped = (
        table.assign(weighted=table["mean_confidence"].fillna(0) * table["predictions"])
        .groupby(["bin_low", "bin_high"], as_index=False, observed=True)[["predictions", "tp", "weighted"]]
        .sum()
    )
    predictions = grouped["predictions"].to_numpy(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        grouped["mean_confidence"] = grouped["weighted"] / predictions
        grouped["observed_precision"] = grouped["tp"] / predictions
    low, high = wilson_interval(grouped["tp"], predictions)
    return grouped.assign(precision_low=low, precision_high=high)


def sure_html(result: EvaluationResult) -> str:
    """The section, or "" for a result analysed without intervals (older code paths)."""
    intervals = result.summary.get("intervals")
    if not intervals:
        return ""
    escape = html.escape
    level = f"{float(intervals['level']):.0%}"
    parts = [
        '<section id="how-sure"><h2>How sure these numbers are</h2>',
        f'<p class="note">Precision and recall carry {level} Wilson score intervals over the exact counts; '
        f"F1 and the MinConfidence a {level} {escape(str(intervals['f1_min_confidence']))}. The "
        "MinConfidence to send is the middle of the range of values that give the recommended counts "
        "(rounded to the fewest digits that stay inside it): any value in the range keeps exactly the "
        "evaluated predictions, and the middle has the most margin on both sides for unseen images.</p>",
    ]
    advice = advice_lines(result.labels)
    if advice:
        items = "".join(f"<li>{escape(line)}</li>" for line in advice[:MAX_ADVICE_LISTED])
        more = len(advice) - MAX_ADVICE_LISTED
        parts.append(
            f'<h3>Enough data?</h3><p class="note">For both intervals to be within '
            f"+-{float(intervals['half_width']):g} at the recommendation (the dataset growing in proportion, "
            f'the rates as observed):</p><ul id="data-advice">{items}</ul>'
            + (
                f'<p class="note">and {more} more labels (positives_needed in labels.csv)</p>'
                if more > 0
                else ""
            )
        )
    parts.append(_costs_html(result))
    parts.append(_band_html(result))
    parts.append(_reliability_html(result))
    parts.append("</section>\n")
    return "".join(parts)


def _costs_html(result: EvaluationResult) -> str:
    costs = result.summary.get("costs")
    labels = result.labels
    if not costs or "cost_per_1000" not in labels.columns:
        return ""
    rows = [
        [
            str(row["label"]),
            confidence_text(min_confidence_to_use(row["threshold"], row["threshold_low"])),
            fixed_with_interval(row["cost_per_1000"], row.get("cost_low"), row.get("cost_high"), 4),
            str(row["status"]),
        ]
        for row in labels.to_dict("records")
    ]
    total = fixed_with_interval(
        costs["application_cost_per_1000"],
        costs.get("application_cost_low"),
        costs.get("application_cost_high"),
        4,
    )
    return (
        f'<h3>Costs</h3><p class="note">Expected cost per 1,000 images for the whole application, calls '
        f"included: {html.escape(total)} (cost per call {float(costs['call_resolved']):.6g}).</p>"
        + _table(["Label", "MinConfidence", "Cost per 1,000 images", "Status"], rows, table_id="costs-table")
    )


def _band_html(result: EvaluationResult) -> str:
    band = result.extra_tables.get("review_band")
    settings = result.summary.get("review_band")
    if band is None or not settings:
        return ""

    def bound(value: float) -> str:
        return confidence_text(value) if math.isfinite(value) else "–"

    rows = [
        [
            str(row["label"]),
            bound(row["upper_min_confidence"]),
            bound(row["lower_min_confidence"]),
            str(row["reviewed"]),
            f"{row['review_rate']:.3f}",
            str(row["errors_left"]),
            f"{row['error_rate']:.3f}",
            str(row["status"]),
        ]
        for row in band.to_dict("records")
    ]
    return (
        f'<h3>Human review band</h3><p class="note">Accept at or above "accept from", a person checks from '
        f'"review from" up to it, reject below; at most {settings["max_errors"]:g} errors left and '
        f"{settings['max_review_rate']:g} reviews per image ({html.escape(str(settings['file']))}).</p>"
        + _table(
            [
                "Label",
                "Accept from",
                "Review from",
                "Reviewed",
                "Review rate",
                "Errors left",
                "Error rate",
                "Status",
            ],
            rows,
            table_id="review-band-table",
        )
    )


def _reliability_html(result: EvaluationResult) -> str:
    table = result.extra_tables.get("calibration")
    if table is None or table.empty or not int(table["predictions"].sum()):
        return ""
    plots = [reliability_svg(pooled(table), "all labels")]
    busiest = table.groupby("label", observed=True)["predictions"].sum().sort_values(ascending=False)
    for label in busiest.index[: MAX_RELIABILITY_PLOTS - 1]:
        plots.append(reliability_svg(table[table["label"] == label], str(label)))
    return (
        '<h3>Reliability</h3><p class="note">Does "Confidence 90" mean right 90% of the time? Each dot is a '
        "bin of returned confidences: its observed precision (with its interval) against its mean "
        "confidence; the dashed diagonal is a perfectly calibrated service. Every label's bins are in "
        'calibration.csv.</p><div class="charts" id="reliability">' + "".join(plots) + "</div>"
    )
