"""report.md: the run in words and tables a person reads first."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from evaluation.analysis.missing import DASH, fixed_with_interval, is_missing
from evaluation.operations.base import markdown_code, markdown_text
from evaluation.options import AnalysisOptions
from evaluation.reports.aws_section import markdown_lines as aws_lines
from evaluation.reports.recommended import confidence_text
from evaluation.reports.video_section import markdown_lines as video_cost_lines
from evaluation.stats.thresholds import min_confidence_to_use

if TYPE_CHECKING:
    from evaluation.analysis import EvaluationResult

MAX_PROBLEMS_LISTED = 50
MAX_UNJUDGED_LISTED = 20


def _number(value: Any, digits: int = 3) -> str:
    if is_missing(value):
        return DASH
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


class Markdown(str):
    """Text this module wrote as Markdown (its pieces escaped already): a table cell keeps it as it is."""


def _cell(text: Any) -> str:
    """A table cell: anything not already Markdown is escaped (labels, names, paths, reasons)."""
    return str(text) if isinstance(text, Markdown) else markdown_text(text)


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(_cell(value) for value in row) + " |" for row in rows]
    return lines


def render_markdown(result: EvaluationResult) -> str:
    summary = result.summary
    images = summary["images"]
    floor = summary["floor"]
    where = summary.get("endpoint_url") or summary.get("region") or "–"
    lines = [
        f"# Rekognition evaluation: {markdown_text(summary['dataset']['name'])}",
        "",
        *_table(
            ["", ""],
            [
                ["Dataset", f"{summary['dataset']['source']} ({summary['dataset']['format']})"],
                ["Backend", f"{summary['backend']} · {summary['operation']} · {where}"],
                ["Model version(s)", ", ".join(summary["model_versions"]) or "–"],
                ["Images", f"{images['evaluated']} evaluated of {images['total']}"],
                [
                    "API calls",
                    f"{summary['api_calls']} made, {summary['cache_hits']} answered from the cache",
                ],
                ["Request", _request_text(summary["request"])],
                [
                    "Evaluated from",
                    f"confidence {confidence_text(floor['evaluated_from'])} up (see 'Floor' below)",
                ],
                ["Objective", f"{summary['objective']}, minimum support {summary['min_support']}"],
                ["Parents count as predicted", "yes" if summary["use_parents"] else "no"],
                ["Created", summary.get("created_at") or "–"],
            ],
        ),
        "",
    ]
    lines += _global_section(result)
    lines += _labels_section(result)
    lines += _sure_section(result)
    lines += _cost_section(result)
    lines += _band_section(result)
    lines += _calibration_section(result)
    lines += aws_lines(result)  # Custom Labels: AWS's own evaluation beside ours (--aws-evaluation)
    lines += list(getattr(result, "report_section", ()))  # an operation's own numbers (boxes, moderation...)
    lines += video_cost_lines(result)  # stored videos: billed minutes and cost
    lines += _problems_section(result)
    lines += _floor_section(floor)
    lines += _unjudged_section(result)
    lines += [
        "## Files",
        "",
        "- `report.html`: this report as a page to choose thresholds from (curves, a threshold explorer, the",
        "  images behind the errors); it opens from disk. `plots/`: PNG curves of the most frequent labels;",
        "- `metrics.csv`: counts, precision, recall and F1 per label at every whole-number threshold;",
        "- `curves.parquet`: the same at every distinct confidence (the exact curves; `--curves-csv`: CSV);",
        "- `labels.csv`, `thresholds.yaml`: the recommendations; `summary.json`: this page as data;",
        "- `images.csv`: every image, its ground truth and what happened to it; `predictions.csv`: every",
        "  label returned; `unjudged.csv`: returned names that no dataset label claims.",
        "",
        "An empty precision means no image was predicted at that threshold; an empty recall means the",
        "label has no positive image. Neither is a zero.",
        "",
    ]
    return "\n".join(lines)


def _request_text(request: dict[str, Any]) -> str:
    """DetectLabels' two parameters as before; other operations' whole request (evaluation.operations)."""
    if set(request) <= {"MinConfidence", "MaxLabels"}:
        return "MinConfidence {MinConfidence}, MaxLabels {MaxLabels}".format(**request)
    return ", ".join(
        f"{key} {value}" for key, value in request.items() if value is not None and key != "Endpoint"
    )


def _global_section(result: EvaluationResult) -> list[str]:
    best = result.global_threshold
    lines = ["## One MinConfidence for the whole application", ""]
    if is_missing(best.get("threshold")):
        lines += [f"No threshold meets the objective. {best.get('note') or ''}".rstrip(), ""]
        return lines
    use = min_confidence_to_use(best["threshold"], best.get("threshold_low"))
    level = _level(result)

    def interval(rate: str) -> str:
        return fixed_with_interval(best.get(rate), best.get(f"{rate}_low"), best.get(f"{rate}_high"))

    lines += [
        f"**MinConfidence {confidence_text(use)}**: micro precision "
        f"{interval('precision')}, recall {interval('recall')}, F1 {interval('f1')} over all labels "
        f"({level} intervals in brackets).",
    ]
    moves = _moves(best)
    if moves:
        lines += ["", f"On another sample of the same size the recommendation would move {moves}."]
    if not is_missing(best.get("application_cost_per_1000")):
        lines += ["", f"Expected cost per 1,000 images: {best['application_cost_per_1000']:.4g}."]
    if best.get("note"):
        lines += ["", str(best["note"])]
    return [*lines, ""]


def _level(result: EvaluationResult) -> str:
    level = (result.summary.get("intervals") or {}).get("level")
    return f"{level:.0%}" if isinstance(level, float) else "95%"


def _moves(row: dict[str, Any]) -> str:
    """'within 40 to 61.5 (95% bootstrap interval)', or '' when the bootstrap did not run."""
    low, high = row.get("min_confidence_low"), row.get("min_confidence_high")
    if is_missing(low) or is_missing(high):
        return ""
    return f"within {confidence_text(round(float(low), 4))} to {confidence_text(round(float(high), 4))}"


def _min_confidence(row: dict[str, Any]) -> str:
    use = min_confidence_to_use(row.get("threshold"), row.get("threshold_low"))
    return "–" if use is None else confidence_text(use)


def _same_counts(row: dict[str, Any]) -> str:
    low = row.get("threshold_low")
    if _min_confidence(row) == DASH or is_missing(low):
        return "–"
    return Markdown(f"> {confidence_text(low)}")


def _labels_section(result: EvaluationResult) -> list[str]:
    rows = [
        [
            row["label"],
            row["support"],
            _number(row["ap"]),
            _min_confidence(row),
            _same_counts(row),
            _moves(row) or "–",
            fixed_with_interval(row["precision"], row.get("precision_low"), row.get("precision_high")),
            fixed_with_interval(row["recall"], row.get("recall_low"), row.get("recall_high")),
            fixed_with_interval(row["f1"], row.get("f1_low"), row.get("f1_high")),
            _number(row.get("positives_needed")),
            row["status"],
            row.get("note") or "",
        ]
        for row in result.labels.to_dict("records")
    ]
    return [
        "## Recommended MinConfidence per label",
        "",
        *_table(
            [
                "Label",
                "Support",
                "AP",
                "MinConfidence",
                "Same result from",
                "On another sample",
                f"Precision [{_level(result)} interval]",
                "Recall",
                "F1",
                "Positives needed",
                "Status",
                "Note",
            ],
            rows,
        ),
        "",
        "MinConfidence is the value to send (as in thresholds.yaml): a label is returned when its confidence",
        "is at least that. Any value above 'Same result from' and up to the next confidence returned gives",
        "exactly the same counts; the value shown is the middle of that range, rounded to the fewest digits",
        "that stay inside it, so unseen images have the most margin on both sides.",
        "",
    ]


def _sure_section(result: EvaluationResult) -> list[str]:
    intervals = result.summary.get("intervals")
    if not intervals:
        return []
    level = _level(result)
    default = AnalysisOptions().half_width
    setting = (
        ""
        if intervals["half_width"] == default
        else f" (set with --half-width {intervals['half_width']:g}; the default is +-{default:g})"
    )
    return [
        "## How sure these numbers are",
        "",
        f"- Precision and recall: {level} Wilson score intervals over the exact counts.",
        f"- F1 and 'On another sample' (where the recommended MinConfidence would land): {level} "
        f"{intervals['f1_min_confidence']}.",
        f"- Positives needed: the positive images a label needs for both intervals to be within "
        f"+-{intervals['half_width']:g}{setting} at its recommendation, the dataset growing in proportion; "
        "a label "
        "with fewer is `too-few-positives` (label more images with it before trusting the number).",
        "",
    ]


def _cost_section(result: EvaluationResult) -> list[str]:
    costs = result.summary.get("costs")
    if not costs or "cost_per_1000" not in result.labels.columns:
        return []
    rows = [
        [
            row["label"],
            _min_confidence(row),
            fixed_with_interval(row["cost_per_1000"], row.get("cost_low"), row.get("cost_high"), 4),
            row["status"],
        ]
        for row in result.labels.to_dict("records")
    ]
    total = fixed_with_interval(
        costs["application_cost_per_1000"],
        costs.get("application_cost_low"),
        costs.get("application_cost_high"),
        4,
    )
    return [
        "## Costs",
        "",
        f"Objective {result.summary['objective']}. Cost per false positive {_costs_text(costs['fp'])}, per "
        f"false negative {_costs_text(costs['fn'])}, per review {_costs_text(costs['review'])}, per call "
        f"{costs['call_resolved']:.6g}"
        + (" (the list price from prices.yaml)" if costs["call"] == "price-table" else "")
        + f". Expected cost per 1,000 images for the whole application, calls included: {total}.",
        "",
        *_table(["Label", "MinConfidence", f"Cost per 1,000 images [{_level(result)}]", "Status"], rows),
        "",
    ]


def _costs_text(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{key} {float(cost):g}" for key, cost in value.items())
    return f"{float(value):g}"


def _band_section(result: EvaluationResult) -> list[str]:
    band = result.extra_tables.get("review_band")
    settings = result.summary.get("review_band")
    if band is None or not settings:
        return []
    rows = [
        [
            row["label"],
            confidence_text(row["upper_min_confidence"])
            if math.isfinite(row["upper_min_confidence"])
            else "never",
            confidence_text(row["lower_min_confidence"])
            if math.isfinite(row["lower_min_confidence"])
            else "–",
            row["accepted"],
            row["reviewed"],
            f"{row['review_rate']:.3f}",
            row["errors_left"],
            f"{row['error_rate']:.3f}",
            _number(row.get("cost_per_1000"), 4),
            row["status"],
        ]
        for row in band.to_dict("records")
    ]
    return [
        "## Human review band",
        "",
        f"Accept at or above 'Accept from', a person checks from 'Review from' up to it, reject below; "
        f"at most "
        f"{settings['max_errors']:g} errors left and {settings['max_review_rate']:g} reviews per image "
        f"evaluated. Written to `review_band.csv` and `{settings['file']}`.",
        "",
        *_table(
            [
                "Label",
                "Accept from",
                "Review from",
                "Accepted",
                "Reviewed",
                "Review rate",
                "Errors left",
                "Error rate",
                "Cost per 1,000",
                "Status",
            ],
            rows,
        ),
        "",
    ]


def _calibration_section(result: EvaluationResult) -> list[str]:
    table = result.extra_tables.get("calibration")
    if table is None or table.empty:
        return []
    filled = table[table["predictions"] > 0]
    weights = filled["predictions"] / max(int(filled["predictions"].sum()), 1)
    gap = float((filled["gap"].abs() * weights).sum())
    over = filled[filled["precision_high"] < filled["mean_confidence"] / 100.0]
    return [
        "## Calibration",
        "",
        f"`calibration.csv` bins each label's returned confidences by ten and sets the observed precision "
        f"(with its {_level(result)} interval) beside the mean confidence: the mean gap between the two is "
        f"{gap:.3f} (0: 'Confidence 90' means right 90% of the time). {len(over)} bin(s) are over-confident "
        "beyond their interval.",
        "",
    ]


def _problems_section(result: EvaluationResult) -> list[str]:
    summary = result.summary
    errors = summary["errors"]
    bad_lines = summary["dataset"]["bad_lines"]
    warnings = summary["dataset"].get("warnings") or []
    if not errors and not bad_lines and not warnings:
        return ["## Problems", "", "None: every line was read and every image evaluated.", ""]
    lines = ["## Problems", ""]
    if warnings:
        lines += ["What the dataset reader found and did not use:", ""]
        lines += [f"- {markdown_text(text)}" for text in warnings[:MAX_PROBLEMS_LISTED]]
        lines += [""]
    if bad_lines:
        lines += [f"{len(bad_lines)} dataset line(s) skipped:", ""]
        lines += [f"- {markdown_code(text)}" for text in bad_lines[:MAX_PROBLEMS_LISTED]]
        lines += [""]
    if errors:
        lines += [f"{len(errors)} image(s) not evaluated (all listed in `images.csv`):", ""]
        rows = [[e["image"], e["status"], e.get("reason") or ""] for e in errors[:MAX_PROBLEMS_LISTED]]
        lines += [*_table(["Image", "Status", "Reason"], rows), ""]
    return lines


def _floor_section(floor: dict[str, Any]) -> list[str]:
    lines = ["## Floor", ""]
    lines.append(
        f"Requested MinConfidence {floor['requested_min_confidence']:g}; lowest confidence returned "
        f"{_number(floor['lowest_confidence_seen'], 2)}; "
        f"thresholds are evaluated from {confidence_text(floor['evaluated_from'])}."
    )
    if floor["answers_truncated_at_max_labels"]:
        lines.append(
            f"{floor['answers_truncated_at_max_labels']} answer(s) hit MaxLabels, so labels below "
            f"{_number(floor['truncation_floor'], 2)} may be missing from them: nothing below is evaluated."
        )
    return [*lines, ""]


def _unjudged_section(result: EvaluationResult) -> list[str]:
    unjudged = result.unjudged
    if unjudged.empty:
        return []
    rows = [
        [row["name"], row["images"], _number(row["max_confidence"], 1)]
        for row in unjudged.head(MAX_UNJUDGED_LISTED).to_dict("records")
    ]
    return [
        "## Unjudged labels",
        "",
        f"{len(unjudged)} name(s) returned by the service that no dataset label claims: not counted as "
        "false positives, since the ground truth says nothing about them. Map them with `--label-map` "
        "to judge them.",
        "",
        *_table(["Name", "Images", "Max confidence"], rows),
        "",
    ]
