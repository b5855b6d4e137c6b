"""The "AWS's evaluation beside this run's" part of report.md and report.html.

Empty unless the run names a Custom Labels EvaluationSummary (`--aws-evaluation`); the numbers come from
the analysis (aws_evaluation.csv and summary.json), this module only lays them out.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

from evaluation.analysis.missing import fixed
from evaluation.aws.evaluation_summary import RUN_KEY, TABLE_FILE, evaluation_of
from evaluation.operations.base import markdown_code, markdown_text
from evaluation.reports.recommended import confidence_text, min_confidence

if TYPE_CHECKING:
    from evaluation.analysis import EvaluationResult

HEADER = [
    "Label",
    "AWS threshold",
    "AWS P",
    "AWS R",
    "AWS F1",
    "Ours at AWS's threshold P",
    "R",
    "F1",
    "Our MinConfidence",
    "Ours P",
    "R",
    "F1",
    "Note",
]
CAVEAT = (
    "AWS's threshold is the label's assumed threshold (best F1 on AWS's test set, 0-1 shown as 0-100); "
    "its scores come from AWS's test set, this run's from this dataset: they agree only when both are the "
    "same images. This run counts a label as predicted at confidence >= the threshold."
)


def _rows(result: EvaluationResult) -> list[list[str]]:
    table = result.extra_tables.get(TABLE_FILE.removesuffix(".csv"))
    if table is None:
        return []
    low = dict(zip(result.labels["label"], result.labels["threshold_low"], strict=True))
    return [
        [
            str(row["label"]),
            fixed(row["aws_threshold"], 2),
            fixed(row["aws_precision"]),
            fixed(row["aws_recall"]),
            fixed(row["aws_f1"]),
            fixed(row["precision_at_aws_threshold"]),
            fixed(row["recall_at_aws_threshold"]),
            fixed(row["f1_at_aws_threshold"]),
            confidence_text(min_confidence(row["threshold"], low.get(row["label"]))),
            fixed(row["precision"]),
            fixed(row["recall"]),
            fixed(row["f1"]),
            str(row["note"] or ""),
        ]
        for row in table.to_dict("records")
    ]


def _aggregate_text(result: EvaluationResult) -> str:
    evaluation = evaluation_of(result)
    entry = result.summary.get(RUN_KEY)
    if evaluation is None or not entry:
        return ""
    micro = {**entry["ours_at_aws_thresholds"], "labels": entry["labels_compared"]}
    return (
        f"AWS's aggregate: precision {fixed(evaluation.precision)}, recall {fixed(evaluation.recall)}, "
        f"F1 {fixed(evaluation.f1)}. This run with each label at AWS's threshold (micro over "
        f"{micro['labels']} shared label(s)): precision {fixed(micro['precision'])}, recall "
        f"{fixed(micro['recall'])}, F1 {fixed(micro['f1'])}."
    )


def markdown_lines(result: EvaluationResult) -> list[str]:
    """The report.md section, or nothing when the run has no AWS evaluation."""
    evaluation = evaluation_of(result)
    if evaluation is None:
        return []

    cell = markdown_text
    model = f" for {markdown_code(evaluation.project_version_arn)}" if evaluation.project_version_arn else ""
    lines = [
        "## AWS's evaluation beside this run's",
        "",
        f"From {markdown_code(evaluation.source)}{model}. {_aggregate_text(result)}",
        "",
        "| " + " | ".join(HEADER) + " |",
        "|" + "|".join("---" for _ in HEADER) + "|",
    ]
    lines += ["| " + " | ".join(cell(value) for value in row) + " |" for row in _rows(result)]
    return [*lines, "", CAVEAT, f"The same table: `{TABLE_FILE}`.", ""]


def html_section(result: EvaluationResult) -> str:
    """The report.html section (a static table, no script), or an empty string."""
    evaluation = evaluation_of(result)
    if evaluation is None:
        return ""
    escape = html.escape
    head = "".join(f"<th>{escape(name)}</th>" for name in HEADER)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(value)}</td>" for value in row) + "</tr>" for row in _rows(result)
    )
    return (
        "<section id=\"aws-evaluation\">\n<h2>AWS's evaluation beside this run's</h2>\n"
        f'<p class="note">From {escape(evaluation.source)}. {escape(_aggregate_text(result))}</p>\n'
        f'<div class="scroll"><table class="data"><thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table></div>\n"
        f'<p class="note">{escape(CAVEAT)} The same table: {TABLE_FILE}.</p>\n</section>\n'
    )
