"""AWS's Custom Labels evaluation summary: read in its documented shape, compared with numbers worked by hand.

The summary follows the Custom Labels guide ("Reference: Training results summary file"); thresholds there
are 0-1 and DetectCustomLabels confidences 0-100.
"""

from __future__ import annotations

import json
import math

import boto3
import pandas as pd
import pytest
from moto import mock_aws

from evaluation.analysis import analyse
from evaluation.aws.evaluation_summary import (
    comparison,
    micro_at_aws_thresholds,
    parse_evaluation_summary,
    read_evaluation_summary,
)
from evaluation.cli import main
from evaluation.errors import UserError
from evaluation.operations.labels import encode_labels
from evaluation.options import AnalysisOptions
from evaluation.reports.markdown import render_markdown

ARN = "arn:aws:rekognition:us-east-1:123456789012:project/shop/version/shop.v1/1700000000001"


def summary_document(dent_threshold: float = 0.5) -> dict:
    """An EvaluationSummary in the documented shape, with numbers."""
    return {
        "Version": 1,
        "EvaluationDetails": {
            "ProjectVersionArn": ARN,
            "EvaluationEndTimestamp": "2024-05-01T12:00:00.000Z",
            "Labels": ["dent", "scratch"],
            "NumberOfTrainingImages": 120,
            "NumberOfTestingImages": 6,
        },
        "AggregatedEvaluationResults": {
            "Metrics": {
                "Precision": 0.8,
                "Recall": 0.7,
                "F1Score": 0.746,
                "ConfusionMatrix": [{"GroundTruthLabel": "dent", "PredictedLabel": "dent", "Value": 0.75}],
            }
        },
        "LabelEvaluationResults": [
            {
                "Label": "Dent",
                "NumberOfTestingImages": 4,
                "Metrics": {"Threshold": dent_threshold, "Precision": 0.75, "Recall": 0.75, "F1Score": 0.75},
            },
            {
                "Label": "scratch",
                "NumberOfTestingImages": 3,
                "Metrics": {"Threshold": 0.3, "Precision": 1.0, "Recall": 0.667, "F1Score": 0.8},
            },
        ],
    }


# image: (ground truth, dent confidence or None when not returned)
IMAGES = [("dent", 90.0), ("dent", 70.0), ("", 60.0), ("dent", 40.0), ("rust", 20.0), ("dent", None)]


def dent_result(aws_evaluation=None):
    """Six images scored for `dent` (support 4) and a `rust` label AWS did not evaluate; with AWS's
    evaluation beside it when one is given."""
    rows, responses = [], {}
    for index, (truth, confidence) in enumerate(IMAGES):
        labels = [{"Name": "dent", "Confidence": confidence}] if confidence is not None else []
        responses[f"k{index}"] = {"CustomLabels": labels, "ProjectVersionArn": ARN}
        rows.append(
            {
                "image": f"/data/{index}.png",
                "source": f"data.csv:{index + 2}",
                "labels": encode_labels({truth} if truth else set()),
                "status": "called",
                "cache_key": f"k{index}",
                "model_version": ARN,
                "reason": None,
                "error_code": None,
            }
        )
    run = {
        "dataset": {
            "name": "parts",
            "source": "data.csv",
            "format": "csv",
            "bad_lines": [],
            "vocabulary": [],
        },
        "backend": {"backend": "custom-labels", "operation": "DetectCustomLabels", "region": "us-east-1"},
        "request": {"ProjectVersionArn": ARN, "MinConfidence": 0.0},
        "cache": "cache.sqlite",
        "stats": {"api_calls": 6, "cache_hits": 0, "wall_s": 0.1},
    }
    options = AnalysisOptions.build(min_support=1, vocabulary=["dent", "rust"], aws_evaluation=aws_evaluation)
    run["analysis"] = options.to_dict()
    return analyse(pd.DataFrame(rows), responses, run=run, options=options)


def test_reads_the_documented_shape_and_puts_thresholds_on_the_confidence_scale():
    evaluation = parse_evaluation_summary(summary_document(), source="EvaluationSummary-shop-shop.v1.json")
    assert evaluation.project_version_arn == ARN and evaluation.testing_images == 6
    assert (evaluation.precision, evaluation.recall, evaluation.f1) == (0.8, 0.7, 0.746)
    dent, scratch = evaluation.labels
    assert (dent.label, dent.threshold, dent.testing_images, dent.f1) == ("Dent", 50.0, 4, 0.75)
    assert scratch.threshold == 30.0


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.pop("LabelEvaluationResults"), "no LabelEvaluationResults list"),
        (lambda d: d["LabelEvaluationResults"][1].pop("Label"), r"LabelEvaluationResults\[1\] has no Label"),
        (
            lambda d: d["LabelEvaluationResults"][0]["Metrics"].update(Threshold=55),
            r"LabelEvaluationResults\[0\]\.Metrics\.Threshold \(0-1\) must be within 0 and 1, got 55",
        ),
        (
            lambda d: d["LabelEvaluationResults"][0]["Metrics"].update(Precision="high"),
            r"Metrics\.Precision must be a number",
        ),
        (lambda d: d["LabelEvaluationResults"].append({"Label": "dent"}), "'dent' appears twice"),
    ],
)
def test_a_malformed_summary_is_refused_naming_the_key(change, message):
    document = summary_document()
    change(document)
    with pytest.raises(UserError, match=message):
        parse_evaluation_summary(document, source="summary.json")


def test_comparison_at_aws_thresholds_worked_by_hand():
    result = dent_result(parse_evaluation_summary(summary_document(), source="summary.json"))
    table = comparison(result).set_index("label")
    dent = table.loc["dent"]
    # at 50: predicted 90, 70 (true) and 60 (false); 40 and the unreturned positive are missed
    assert dent["aws_threshold"] == 50.0 and dent["aws_label"] == "Dent"
    assert dent["precision_at_aws_threshold"] == pytest.approx(2 / 3)
    assert dent["recall_at_aws_threshold"] == pytest.approx(2 / 4)
    assert dent["f1_at_aws_threshold"] == pytest.approx(4 / 7)
    assert dent["support"] == 4 and not dent["note"]
    ours = result.labels.set_index("label").loc["dent"]
    assert dent["threshold"] == ours["threshold"] and dent["f1"] == ours["f1"]
    assert "not among this run's labels" in table.loc["scratch", "note"]
    assert math.isnan(table.loc["scratch", "f1_at_aws_threshold"])
    assert table.loc["rust", "note"] == "not in AWS's evaluation" and pd.isna(
        table.loc["rust", "aws_threshold"]
    )
    micro = micro_at_aws_thresholds(comparison(result), result)
    assert micro["labels"] == 1 and micro["f1"] == pytest.approx(4 / 7)
    assert result.summary["aws_evaluation"]["ours_at_aws_thresholds"]["precision"] == pytest.approx(
        2 / 3, abs=1e-6
    )


def test_thresholds_between_points_above_every_point_and_below_the_floor():
    result = dent_result(parse_evaluation_summary(summary_document(dent_threshold=0.65), source="s.json"))
    dent = comparison(result).set_index("label").loc["dent"]
    assert (dent["precision_at_aws_threshold"], dent["recall_at_aws_threshold"]) == (1.0, 0.5)
    result = dent_result(parse_evaluation_summary(summary_document(dent_threshold=0.95), source="s.json"))
    dent = comparison(result).set_index("label").loc["dent"]
    assert math.isnan(dent["precision_at_aws_threshold"]) and dent["recall_at_aws_threshold"] == 0.0
    result = dent_result(parse_evaluation_summary(summary_document(dent_threshold=0.1), source="s.json"))
    dent = comparison(result).set_index("label").loc["dent"]
    assert "below the floor this run evaluated (20)" in dent["note"]


def test_the_report_shows_the_table_and_a_run_without_a_summary_shows_nothing():
    result = dent_result()
    assert "AWS's evaluation" not in render_markdown(result) and comparison(result) is None
    result = dent_result(parse_evaluation_summary(summary_document(), source="summary.json"))
    text = render_markdown(result)
    assert "## AWS's evaluation beside this run's" in text
    assert "| dent | 50.00 | 0.750 | 0.750 | 0.750 | 0.667 | 0.500 | 0.571 |" in text


def test_reads_a_local_file_and_an_s3_object(tmp_path):
    path = tmp_path / "EvaluationSummary-shop-shop.v1.json"
    path.write_text(json.dumps(summary_document()))
    assert read_evaluation_summary(str(path)).labels[0].threshold == 50.0
    with pytest.raises(UserError, match="cannot read"):
        read_evaluation_summary(str(tmp_path / "missing.json"))
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(UserError, match="is not JSON"):
        read_evaluation_summary(str(tmp_path / "bad.json"))
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="output")
        s3.put_object(Bucket="output", Key="eval/summary.json", Body=path.read_bytes())
        assert read_evaluation_summary("s3://output/eval/summary.json", s3_client=s3).f1 == 0.746
        with pytest.raises(UserError, match="NoSuchKey"):
            read_evaluation_summary("s3://output/eval/other.json", s3_client=s3)


def test_run_and_report_put_it_in_the_run_folder(tmp_path, monkeypatch):
    """`run --aws-evaluation` keeps the summary in run.json; `report` recomputes it, or takes another."""
    from evaluation.aws.models import Waiting
    from evaluation.cli import models as models_cli
    from evaluation.server.protocol import RekognitionProtocolServer
    from tests.support.fake_custom_labels import FakeCustomLabels, custom_label
    from tests.support.images import png_bytes

    monkeypatch.setattr(models_cli, "WAITING", Waiting(0.01, 500))
    fake = FakeCustomLabels()
    arn = fake.add_model("shop", "v1")
    (tmp_path / "images").mkdir()
    rows = []
    for index, (truth, confidence) in enumerate(IMAGES):
        data = png_bytes(70, 70, seed=index)
        (tmp_path / "images" / f"{index}.png").write_bytes(data)
        fake.answer_for_bytes(data, [custom_label("dent", confidence)] if confidence is not None else [])
        rows.append(f"images/{index}.png,{truth}")
    (tmp_path / "data.csv").write_text("image,labels\n" + "\n".join(rows) + "\n")
    summary_file = tmp_path / "summary.json"
    summary_file.write_text(json.dumps(summary_document()))
    with RekognitionProtocolServer(fake) as server:
        # a bad summary fails before the model is started or anything is called
        (tmp_path / "bad.json").write_text("{}")
        base = [
            "--quiet",
            "run",
            "--dataset",
            str(tmp_path / "data.csv"),
            "--backend",
            "custom-labels",
            "--project-version-arn",
            arn,
            "--start-model",
            "--endpoint-url",
            server.url,
            "--cache",
            str(tmp_path / "cache.sqlite"),
            "--labels",
            "dent,rust",
            "--min-support",
            "1",
            "--out",
            str(tmp_path / "run"),
        ]
        assert main([*base, "--aws-evaluation", str(tmp_path / "bad.json")]) == 2
        assert sum(fake.calls.values()) == 0
        assert main([*base, "--aws-evaluation", str(summary_file)]) == 0
    assert fake.status(arn) == "STOPPED"
    run_dir = tmp_path / "run"
    table = pd.read_csv(run_dir / "aws_evaluation.csv").set_index("label")
    assert table.loc["dent", "f1_at_aws_threshold"] == pytest.approx(4 / 7)
    assert "## AWS's evaluation beside this run's" in (run_dir / "report.md").read_text()
    assert 'id="aws-evaluation"' in (run_dir / "report.html").read_text()
    assert json.loads((run_dir / "summary.json").read_text())["aws_evaluation"]["labels_compared"] == 1
    # report without the flag keeps it (from run.json); with another summary, replaces it
    assert main(["--quiet", "report", str(run_dir), "--out", str(tmp_path / "again")]) == 0
    assert (tmp_path / "again" / "aws_evaluation.csv").is_file()
    summary_file.write_text(json.dumps(summary_document(dent_threshold=0.65)))
    assert main(["--quiet", "report", str(run_dir), "--aws-evaluation", str(summary_file)]) == 0
    table = pd.read_csv(run_dir / "aws_evaluation.csv").set_index("label")
    assert (
        table.loc["dent", "aws_threshold"] == 65.0 and table.loc["dent", "precision_at_aws_threshold"] == 1.0
    )
