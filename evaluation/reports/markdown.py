"""report.md: the run in words and tables a person reads first."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from evaluation.reports.aws_section import markdown_lines as aws_lines
from evaluation.reports.recommended import confidence_text
from evaluation.stats.thresholds import min_confidence_to_use

if TYPE_CHECKING:
    from evaluation.analysis import EvaluationResult

MAX_PROBLEMS_LISTED = 50
MAX_UNJUDGED_LISTED = 20


def _number(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _cell(text: Any) -> str:
    return str(text if text is not None else "").replace("|", "\\|").replace("\n", " ")


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
        f"# Rekognition evaluation: {summary['dataset']['name']}",
        "",
        *_table(
            ["", ""],
            [
                ["Dataset", f"`{summary['dataset']['source']}` ({summary['dataset']['format']})"],
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
    lines += aws_lines(result)  # Custom Labels: AWS's own evaluation beside ours (--aws-evaluation)
    lines += list(getattr(result, "report_section", ()))  # an operation's own numbers (boxes, moderation...)
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
    if best.get("threshold") is None or (
        isinstance(best["threshold"], float) and math.isnan(best["threshold"])
    ):
        lines += [f"No threshold meets the objective. {best.get('note') or ''}".rstrip(), ""]
        return lines
    use = min_confidence_to_use(best["threshold"], best.get("threshold_low"))
    lines += [
        f"**MinConfidence {confidence_text(use)}**: micro precision {_number(best.get('precision'))}, "
        f"recall {_number(best.get('recall'))}, F1 {_number(best.get('f1'))} over all labels.",
    ]
    if best.get("note"):
        lines += ["", str(best["note"])]
    return [*lines, ""]


def _min_confidence(row: dict[str, Any]) -> str:
    use = min_confidence_to_use(row.get("threshold"), row.get("threshold_low"))
    return "–" if use is None else confidence_text(use)


def _same_counts(row: dict[str, Any]) -> str:
    low = row.get("threshold_low")
    if _min_confidence(row) == "–" or low is None or (isinstance(low, float) and math.isnan(low)):
        return "–"
    return f"> {confidence_text(low)}"


def _labels_section(result: EvaluationResult) -> list[str]:
    rows = [
        [
            row["label"],
            row["support"],
            _number(row["ap"]),
            _min_confidence(row),
            _same_counts(row),
            _number(row["precision"]),
            _number(row["recall"]),
            _number(row["f1"]),
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
                "Precision",
                "Recall",
                "F1",
                "Status",
                "Note",
            ],
            rows,
        ),
        "",
        "MinConfidence is the value to send (as in thresholds.yaml): a label is returned when its confidence",
        "is at least that. Any value above 'Same result from' and up to it gives exactly the same counts,",
        "so a rounder number in that range is just as good.",
        "",
    ]


def _problems_section(result: EvaluationResult) -> list[str]:
    summary = result.summary
    errors = summary["errors"]
    bad_lines = summary["dataset"]["bad_lines"]
    if not errors and not bad_lines:
        return ["## Problems", "", "None: every line was read and every image evaluated.", ""]
    lines = ["## Problems", ""]
    if bad_lines:
        lines += [f"{len(bad_lines)} dataset line(s) skipped:", ""]
        lines += [f"- `{_cell(text)}`" for text in bad_lines[:MAX_PROBLEMS_LISTED]]
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
