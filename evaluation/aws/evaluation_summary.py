"""AWS's own evaluation of a Custom Labels model, beside the harness's numbers for the same labels.

After training, Custom Labels writes a summary file (EvaluationSummary-<project>-<version>.json; its S3
location is DescribeProjectVersions' EvaluationResult.Summary, shown by `models list`). Its documented
shape (Custom Labels guide, "Reference: Training results summary file"):

    {"Version": int,
     "EvaluationDetails": {"ProjectVersionArn", "EvaluationEndTimestamp", "Labels": [str],
                           "NumberOfTrainingImages", "NumberOfTestingImages"},
     "AggregatedEvaluationResults": {"Metrics": {"Precision", "Recall", "F1Score",
                                                 "AveragePrecision"?, "AverageRecall"?, "ConfusionMatrix"?}},
     "LabelEvaluationResults": [{"Label", "NumberOfTestingImages",
                                 "Metrics": {"Threshold", "Precision", "Recall", "F1Score"}}]}

`Threshold` is the label's "assumed threshold": 0-1, chosen by AWS as the best F1 on AWS's test set.
DetectCustomLabels reports confidence on 0-100 ("predictions ranging from 0 to 100 which correspond to
the metric range of 0-1"), so it is multiplied by 100 here. Beside each label the report puts AWS's
threshold and scores, this run's precision, recall and F1 at that same threshold (read from the exact
curve: a label counts as predicted at confidence >= threshold, this harness's rule; AWS's guide says
"exceeds", which differs only for a confidence exactly at the threshold), and this run's recommended
threshold under the run's objective. The parsed summary is kept in run.json, so `report` recomputes the
comparison with other analysis options without the file.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from evaluation.errors import UserError
from evaluation.labelmap import normalize_name

if TYPE_CHECKING:
    from evaluation.analysis import EvaluationResult

RUN_KEY = "aws_evaluation"
TABLE_FILE = "aws_evaluation.csv"
COLUMNS = (
    "label",
    "aws_label",
    "aws_testing_images",
    "aws_threshold",
    "aws_precision",
    "aws_recall",
    "aws_f1",
    "support",
    "precision_at_aws_threshold",
    "recall_at_aws_threshold",
    "f1_at_aws_threshold",
    "threshold",
    "precision",
    "recall",
    "f1",
    "status",
    "note",
)


@dataclass(frozen=True)
class LabelEvaluation:
    """One entry of LabelEvaluationResults, its threshold already on the 0-100 confidence scale."""

    label: str
    testing_images: int | None
    threshold: float | None
    precision: float | None
    recall: float | None
    f1: float | None


@dataclass(frozen=True)
class AwsEvaluation:
    """The parts of an EvaluationSummary the report uses."""

    source: str
    project_version_arn: str | None
    testing_images: int | None
    training_images: int | None
    precision: float | None
    recall: float | None
    f1: float | None
    labels: tuple[LabelEvaluation, ...]

    def to_record(self) -> dict[str, Any]:
        return {**asdict(self), "labels": [asdict(label) for label in self.labels]}

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> AwsEvaluation:
        labels = tuple(LabelEvaluation(**label) for label in record.get("labels", []))
        return cls(**{**record, "labels": labels})


# --- reading -------------------------------------------------------------------------------------------


def _number(value: Any, where: str, *, integer: bool = False) -> Any:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise UserError(f"{where} must be a number, got {value!r}")
    return int(value) if integer else float(value)


def _rate(value: Any, where: str) -> float | None:
    number = _number(value, where)
    if number is not None and not 0.0 <= number <= 1.0:
        raise UserError(f"{where} must be within 0 and 1, got {number:g}")
    return number


def parse_evaluation_summary(document: Any, *, source: str = "evaluation summary") -> AwsEvaluation:
    """Check the documented shape; every message names the file and the key."""
    if not isinstance(document, dict):
        raise UserError(
            f"{source}: expected a JSON object (an EvaluationSummary), got {type(document).__name__}"
        )
    entries = document.get("LabelEvaluationResults")
    if not isinstance(entries, list):
        raise UserError(
            f"{source}: no LabelEvaluationResults list; is this the EvaluationSummary-<project>-<version>"
            ".json that Custom Labels wrote after training?"
        )
    labels = []
    for index, entry in enumerate(entries):
        where = f"{source}: LabelEvaluationResults[{index}]"
        if (
            not isinstance(entry, dict)
            or not isinstance(entry.get("Label"), str)
            or not entry["Label"].strip()
        ):
            raise UserError(f"{where} has no Label")
        metrics = entry.get("Metrics") or {}
        if not isinstance(metrics, dict):
            raise UserError(f"{where}.Metrics is not an object")
        threshold = _rate(metrics.get("Threshold"), f"{where}.Metrics.Threshold (0-1)")
        labels.append(
            LabelEvaluation(
                label=entry["Label"].strip(),
                testing_images=_number(
                    entry.get("NumberOfTestingImages"), f"{where}.NumberOfTestingImages", integer=True
                ),
                threshold=None if threshold is None else round(threshold * 100.0, 6),
                precision=_rate(metrics.get("Precision"), f"{where}.Metrics.Precision"),
                recall=_rate(metrics.get("Recall"), f"{where}.Metrics.Recall"),
                f1=_rate(metrics.get("F1Score"), f"{where}.Metrics.F1Score"),
            )
        )
    seen: set[str] = set()
    for label in labels:
        if normalize_name(label.label) in seen:
            raise UserError(f"{source}: label {label.label!r} appears twice in LabelEvaluationResults")
        seen.add(normalize_name(label.label))
    details = document.get("EvaluationDetails") or {}
    aggregated = (document.get("AggregatedEvaluationResults") or {}).get("Metrics") or {}
    where = f"{source}: AggregatedEvaluationResults.Metrics"
    return AwsEvaluation(
        source=source,
        project_version_arn=details.get("ProjectVersionArn") if isinstance(details, dict) else None,
        testing_images=_number(details.get("NumberOfTestingImages"), "NumberOfTestingImages", integer=True)
        if isinstance(details, dict)
        else None,
        training_images=_number(details.get("NumberOfTrainingImages"), "NumberOfTrainingImages", integer=True)
        if isinstance(details, dict)
        else None,
        precision=_rate(aggregated.get("Precision"), f"{where}.Precision"),
        recall=_rate(aggregated.get("Recall"), f"{where}.Recall"),
        f1=_rate(aggregated.get("F1Score"), f"{where}.F1Score"),
        labels=tuple(labels),
    )


def read_evaluation_summary(source: str, *, s3_client: Any = None) -> AwsEvaluation:
    """Read a summary from a local path or an s3:// URI (with the given client, or a default one)."""
    if source.lower().startswith("s3://"):
        from botocore.exceptions import BotoCoreError, ClientError

        bucket, _, key = source[5:].partition("/")
        if not bucket or not key:
            raise UserError(f"--aws-evaluation: not an S3 object URI (s3://bucket/key): {source!r}")
        if s3_client is None:
            import boto3

            s3_client = boto3.client("s3")
        try:
            data = s3_client.get_object(Bucket=bucket, Key=key)["Body"].read()
        except ClientError as error:
            code, message = (
                error.response.get("Error", {}).get("Code"),
                error.response.get("Error", {}).get("Message"),
            )
            raise UserError(
                f"--aws-evaluation: cannot read {source}: {code}: {message or ''} "
                "(the summary sits where training wrote its output; download it with credentials that may "
                "read it and pass the local file)"
            ) from None
        except BotoCoreError as error:
            raise UserError(f"--aws-evaluation: cannot read {source}: {error}") from None
    else:
        try:
            data = Path(source).expanduser().read_bytes()
        except OSError as error:
            raise UserError(f"--aws-evaluation: cannot read {source}: {error.strerror or error}") from None
    try:
        document = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise UserError(f"--aws-evaluation: {source} is not JSON: {error}") from None
    return parse_evaluation_summary(document, source=source)


# --- comparing -----------------------------------------------------------------------------------------


def evaluation_of(result: EvaluationResult) -> AwsEvaluation | None:
    record = (result.run or {}).get(RUN_KEY)
    return AwsEvaluation.from_record(record) if record else None


def _at_threshold(curve: pd.DataFrame, threshold: float) -> tuple[int, int]:
    """(tp, fp) at `threshold` from a label's exact curve: the counts at the lowest confidence >= it."""
    above = curve[curve["threshold"] >= threshold]
    if above.empty:
        return 0, 0
    row = above.loc[above["threshold"].idxmin()]
    return int(row["tp"]), int(row["fp"])


def _rates(tp: int, fp: int, support: int) -> tuple[float, float, float]:
    nan = float("nan")
    precision = tp / (tp + fp) if tp + fp else nan
    recall = tp / support if support else nan
    fn = support - tp
    f1 = 2 * tp / (2 * tp + fp + fn) if 2 * tp + fp + fn else nan
    return precision, recall, f1


def comparison(result: EvaluationResult) -> pd.DataFrame | None:
    """Per label: AWS's threshold and scores, ours at that threshold, ours at our recommendation."""
    evaluation = evaluation_of(result)
    if evaluation is None:
        return None
    floor = float((result.summary.get("floor") or {}).get("evaluated_from") or 0.0)
    ours = {normalize_name(row["label"]): row for row in result.labels.to_dict("records")}
    every = result.curves  # made once: per label below, and its empty frame for a label without points
    curves = {label: frame for label, frame in every.groupby("label", sort=False)}
    rows = []
    matched: set[str] = set()
    for aws in evaluation.labels:
        key = normalize_name(aws.label)
        row: dict[str, Any] = dict.fromkeys(COLUMNS)
        row.update(
            aws_label=aws.label,
            aws_testing_images=aws.testing_images,
            aws_threshold=aws.threshold,
            aws_precision=aws.precision,
            aws_recall=aws.recall,
            aws_f1=aws.f1,
        )
        notes = []
        mine = ours.get(key)
        if mine is None:
            row["label"] = aws.label
            notes.append("not among this run's labels")
        else:
            matched.add(key)
            support = int(mine["support"])
            row.update(
                label=mine["label"],
                support=support,
                threshold=mine["threshold"],
                precision=mine["precision"],
                recall=mine["recall"],
                f1=mine["f1"],
                status=mine["status"],
            )
            if aws.threshold is not None:
                curve = curves.get(mine["label"], every.iloc[0:0])
                tp, fp = _at_threshold(curve, aws.threshold)
                precision, recall, f1 = _rates(tp, fp, support)
                row.update(
                    precision_at_aws_threshold=precision,
                    recall_at_aws_threshold=recall,
                    f1_at_aws_threshold=f1,
                )
                if aws.threshold < floor:
                    notes.append(f"AWS's threshold is below the floor this run evaluated ({floor:g})")
            if aws.testing_images is not None and aws.testing_images != support:
                notes.append(
                    f"AWS tested {aws.testing_images} image(s) with this label, this run {support}: "
                    "another test set?"
                )
        row["note"] = "; ".join(notes)
        rows.append(row)
    for key, mine in ours.items():
        if key not in matched:
            row = dict.fromkeys(COLUMNS)
            row.update(
                label=mine["label"],
                support=int(mine["support"]),
                threshold=mine["threshold"],
                precision=mine["precision"],
                recall=mine["recall"],
                f1=mine["f1"],
                status=mine["status"],
                note="not in AWS's evaluation",
            )
            rows.append(row)
    return pd.DataFrame(rows, columns=list(COLUMNS))


def micro_at_aws_thresholds(table: pd.DataFrame, result: EvaluationResult) -> dict[str, float]:
    """This run's micro precision/recall/F1 when each label uses AWS's assumed threshold (as AWS's own
    aggregate does), over the labels both evaluations share."""
    shared = table.dropna(subset=["aws_threshold", "support"])
    every = result.curves  # made once: per label below, and its empty frame for a label without points
    curves = {label: frame for label, frame in every.groupby("label", sort=False)}
    tp = fp = support = 0
    for row in shared.to_dict("records"):
        curve = curves.get(row["label"], every.iloc[0:0])
        label_tp, label_fp = _at_threshold(curve, row["aws_threshold"])
        tp, fp, support = tp + label_tp, fp + label_fp, support + int(row["support"])
    precision, recall, f1 = _rates(tp, fp, support)
    return {"labels": len(shared), "precision": precision, "recall": recall, "f1": f1}


def summary_entry(result: EvaluationResult) -> dict[str, Any] | None:
    """What summary.json says about the comparison (numbers only; the table is aws_evaluation.csv)."""
    evaluation = evaluation_of(result)
    table = comparison(result)
    if evaluation is None or table is None:
        return None
    micro = micro_at_aws_thresholds(table, result)

    def plain(value: Any) -> Any:
        return (
            None
            if value is None or (isinstance(value, float) and np.isnan(value))
            else round(float(value), 6)
        )

    return {
        "source": evaluation.source,
        "project_version_arn": evaluation.project_version_arn,
        "aws": {"precision": evaluation.precision, "recall": evaluation.recall, "f1": evaluation.f1},
        "ours_at_aws_thresholds": {
            key: plain(value) if key != "labels" else value for key, value in micro.items()
        },
        "labels_compared": micro["labels"],
    }
