"""The whole path through the command line, against a local Rekognition-protocol endpoint.

Every number the run writes is checked against scikit-learn on the same predictions, computed here
independently from the answers the fake service was scripted with.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.metrics import confusion_matrix, precision_recall_curve

from evaluation.server.protocol import RekognitionProtocolServer
from tests.support.cli import run_cli
from tests.support.fake_rekognition import FakeRekognition, label
from tests.support.images import png_bytes
from tests.support.runs import VOCABULARY, build_dataset

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def dataset(tmp_path, fake_rekognition):
    return build_dataset(tmp_path, fake_rekognition)


def test_run_writes_every_file_with_numbers_equal_to_sklearn(tmp_path, dataset, endpoint):
    csv, expected = dataset
    out = tmp_path / "run"
    cache = tmp_path / "cache.sqlite"
    code = run_cli(
        "run",
        "--dataset",
        str(csv),
        "--endpoint-url",
        endpoint.url,
        "--region",
        "us-east-1",
        "--out",
        str(out),
        "--cache",
        str(cache),
        "--min-support",
        "5",
    )
    assert code == 0
    for name in (
        "metrics.csv",
        "curves.parquet",
        "summary.json",
        "thresholds.yaml",
        "report.md",
        "images.csv",
        "run.json",
        "labels.csv",
        "unjudged.csv",
        "predictions.csv",
        "averages.csv",
        "calibration.csv",
    ):
        assert (out / name).is_file(), name

    metrics = pd.read_csv(out / "metrics.csv")
    assert list(metrics.columns) == [
        "label",
        "threshold",
        "tp",
        "fp",
        "fn",
        "tn",
        "precision",
        "recall",
        "f1",
        "support",
        "precision_low",
        "precision_high",
        "recall_low",
        "recall_high",
    ]
    assert sorted(metrics["label"].unique()) == VOCABULARY
    assert metrics["threshold"].min() == 0 and metrics["threshold"].max() == 100

    images = sorted(expected)
    for lab in VOCABULARY:
        y_true = np.array([lab in expected[i][0] for i in images])
        scores = np.array([expected[i][1].get(lab, -1.0) for i in images])
        rows = metrics[metrics["label"] == lab].set_index("threshold")
        for threshold in range(0, 101):
            y_pred = scores >= threshold
            tn, fp, fn, tp = confusion_matrix(y_true, y_pred, labels=[False, True]).ravel()
            row = rows.loc[threshold]
            assert (row.tp, row.fp, row.fn, row.tn, row.support) == (tp, fp, fn, tn, y_true.sum())
            if tp + fp:
                assert row.precision == pytest.approx(tp / (tp + fp))
            else:
                assert np.isnan(row.precision)
            assert row.recall == pytest.approx(tp / y_true.sum())
            assert row.f1 == pytest.approx(2 * tp / (2 * tp + fp + fn))

        # the exact curve equals sklearn's at every distinct confidence the service returned
        curve = pd.read_parquet(out / "curves.parquet")
        curve = curve[curve["label"] == lab].set_index("threshold")
        precision, recall, thresholds = precision_recall_curve(y_true, scores)
        for p, r, t in zip(precision, recall, thresholds, strict=False):
            if t >= 0:
                assert curve.loc[t, "precision"] == pytest.approx(p)
                assert curve.loc[t, "recall"] == pytest.approx(r)
        assert len(curve) == len(np.unique(scores[scores >= 0]))

    summary = json.loads((out / "summary.json").read_text())
    assert summary["api_calls"] == len(images) and summary["cache_hits"] == 0
    assert summary["images"] == {
        "total": 240,
        "evaluated": 240,
        "not_evaluated": 0,
        "by_status": {"called": 240},
    }
    assert summary["model_versions"] == ["3.0"]
    assert summary["request"] == {"MinConfidence": 0.0, "MaxLabels": 1000}
    assert summary["endpoint_url"] == endpoint.url
    assert set(summary["labels"]) == set(VOCABULARY)
    for lab, entry in summary["labels"].items():
        assert entry["support"] == int(
            metrics[(metrics.label == lab) & (metrics.threshold == 0)].support.iloc[0]
        )
        assert 0 < entry["ap"] <= 1
    unjudged = pd.read_csv(out / "unjudged.csv")
    assert "Furniture" in set(unjudged["name"]) and "Mammal" not in set(unjudged["name"])

    document = yaml.safe_load((out / "thresholds.yaml").read_text())
    assert set(document["labels"]) == set(VOCABULARY)
    assert document["objective"] == "best-f1"
    assert "Recommended MinConfidence per label" in (out / "report.md").read_text()


def test_a_second_run_makes_zero_calls(tmp_path, dataset, endpoint):
    csv, _ = dataset
    cache = tmp_path / "cache.sqlite"
    base = ["run", "--dataset", str(csv), "--endpoint-url", endpoint.url, "--cache", str(cache)]
    assert run_cli(*base, "--out", str(tmp_path / "first")) == 0
    requests = endpoint.stats.requests
    assert run_cli(*base, "--out", str(tmp_path / "second")) == 0
    assert endpoint.stats.requests == requests
    summary = json.loads((tmp_path / "second" / "summary.json").read_text())
    assert summary["api_calls"] == 0 and summary["cache_hits"] == 240
    first = pd.read_csv(tmp_path / "first" / "metrics.csv")
    assert first.equals(pd.read_csv(tmp_path / "second" / "metrics.csv"))
    # replay: the same answers with no network at all
    assert (
        run_cli(
            "run",
            "--dataset",
            str(csv),
            "--backend",
            "replay",
            "--endpoint-url",
            endpoint.url,
            "--cache",
            str(cache),
            "--out",
            str(tmp_path / "replayed"),
        )
        == 0
    )
    assert first.equals(pd.read_csv(tmp_path / "replayed" / "metrics.csv"))
    assert endpoint.stats.requests == requests


def test_report_and_thresholds_recompute_from_the_cache_without_calls(tmp_path, dataset, endpoint):
    csv, _ = dataset
    out = tmp_path / "run"
    assert (
        run_cli(
            "run",
            "--dataset",
            str(csv),
            "--endpoint-url",
            endpoint.url,
            "--cache",
            str(tmp_path / "c.sqlite"),
            "--out",
            str(out),
        )
        == 0
    )
    requests = endpoint.stats.requests
    assert (
        run_cli(
            "report",
            str(out),
            "--objective",
            "recall-at-precision:0.9",
            "--no-parents",
            "--out",
            str(tmp_path / "again"),
        )
        == 0
    )
    again = json.loads((tmp_path / "again" / "summary.json").read_text())
    assert again["objective"] == "recall-at-precision:0.9" and again["use_parents"] is False
    for entry in again["labels"].values():
        if entry["recommended"]["status"] in ("ok", "low-support", "at-floor"):
            assert entry["recommended"]["precision"] >= 0.9
    animal = pd.read_csv(tmp_path / "again" / "metrics.csv").query("label == 'Animal' and threshold == 0")
    original = pd.read_csv(out / "metrics.csv").query("label == 'Animal' and threshold == 0")
    assert animal.tp.iloc[0] < original.tp.iloc[0]  # without parents, only Animal's own answers count
    assert (
        run_cli(
            "thresholds",
            str(out),
            "--objective",
            "precision-at-recall:0.5",
            "--out",
            str(tmp_path / "t.yaml"),
        )
        == 0
    )
    assert yaml.safe_load((tmp_path / "t.yaml").read_text())["objective"] == "precision-at-recall:0.5"
    assert endpoint.stats.requests == requests


def test_bad_lines_and_bad_images_are_named_and_the_rest_completes(tmp_path, dataset, endpoint, capsys):
    csv, _ = dataset
    (tmp_path / "images" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    lines = csv.read_text().splitlines()
    lines.insert(5, ",Cat")  # no image
    lines += ["images/missing.png,Cat", "images/broken.png,Dog"]
    csv.write_text("\n".join(lines) + "\n")
    out = tmp_path / "run"
    base = [
        "run",
        "--dataset",
        str(csv),
        "--endpoint-url",
        endpoint.url,
        "--cache",
        str(tmp_path / "c.sqlite"),
    ]
    assert run_cli(*base, "--out", str(out)) == 2
    assert f"{csv}:6" in capsys.readouterr().err
    assert run_cli(*base, "--out", str(out), "--skip-bad-lines") == 1
    summary = json.loads((out / "summary.json").read_text())
    assert summary["images"]["evaluated"] == 240 and summary["images"]["not_evaluated"] == 2
    assert any(":6:" in text for text in summary["dataset"]["bad_lines"])
    reasons = {Path(e["image"]).name: e["reason"] for e in summary["errors"]}
    assert reasons == {
        "missing.png": "file not found",
        "broken.png": "corrupt or truncated PNG: no image size in its header",
    }
    report = (out / "report.md").read_text()
    assert "missing.png" in report and "broken.png" in report and ":6:" in report


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run"], "--dataset"),
        (["run", "--dataset", "nowhere.csv"], "nowhere.csv"),
        (["run", "--dataset", "x.csv", "--objective", "best-guess"], "best-guess"),
        (["run", "--dataset", "x.csv", "--workers", "0"], "--workers"),
        (["report", "not-a-run"], "not a run folder"),
    ],
)
def test_user_mistakes_get_one_line_and_exit_2(tmp_path, capsys, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "x.csv").write_text("image,labels\n")
    assert run_cli(*args) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "Traceback" not in err and len(err.splitlines()) == 1


def test_ctrl_c_keeps_every_answer_and_a_rerun_calls_only_the_rest(tmp_path):
    fake = FakeRekognition()
    csv, _ = build_dataset(tmp_path, fake, count=60)
    cache = tmp_path / "cache.sqlite"
    with RekognitionProtocolServer(fake, latency_s=0.2) as server:
        command = [
            sys.executable,
            "-m",
            "evaluation",
            "--quiet",
            "run",
            "--dataset",
            str(csv),
            "--endpoint-url",
            server.url,
            "--cache",
            str(cache),
            "--workers",
            "2",
            "--out",
            str(tmp_path / "run"),
        ]
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        process = subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        deadline = time.monotonic() + 60
        while server.stats.answered < 10 and time.monotonic() < deadline:
            time.sleep(0.02)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=60)
        assert process.returncode == 130, err
        assert "rerun" in err or "again" in err
        answered_first = dict(fake.calls)
        assert 10 <= len(answered_first) < 60
        rerun = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
        assert rerun.returncode == 0, rerun.stderr
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["api_calls"] + summary["cache_hits"] == 60
    assert max(fake.calls.values()) == 1, "an image answered before the interrupt was called again"


def test_answers_cut_at_max_labels_raise_the_floor_evaluated(tmp_path, dataset, endpoint):
    csv, _ = dataset
    out = tmp_path / "run"
    code = run_cli(
        "run",
        "--dataset",
        str(csv),
        "--endpoint-url",
        endpoint.url,
        "--max-labels",
        "2",
        "--cache",
        str(tmp_path / "c.sqlite"),
        "--out",
        str(out),
    )
    assert code == 0
    floor = json.loads((out / "summary.json").read_text())["floor"]
    assert floor["answers_truncated_at_max_labels"] > 0
    assert floor["evaluated_from"] == floor["truncation_floor"] > 0
    metrics = pd.read_csv(out / "metrics.csv")
    assert metrics["threshold"].min() == np.ceil(floor["evaluated_from"])
    assert "hit MaxLabels" in (out / "report.md").read_text()


def test_any_character_in_a_label_and_mixed_failures_survive_the_run_folder(
    tmp_path, endpoint, fake_rekognition
):
    """Labels with ';' and quotes keep their ground truth; a rejected and a refused image leave valid JSON."""
    rows = []
    for index, truth in enumerate(["salt; pepper", 'say "cheese"', "salt; pepper"]):
        data = png_bytes(90, 90, seed=500 + index)
        (tmp_path / f"{index}.png").write_bytes(data)
        fake_rekognition.answer_for_bytes(data, [label(truth, 90.0 - index)])
        rows.append(
            json.dumps(
                {
                    "source-ref": f"{index}.png",
                    "food": 0,
                    "food-metadata": {"class-name": truth, "type": "groundtruth/image-classification"},
                }
            )
        )
    (tmp_path / "tiny.png").write_bytes(png_bytes(20, 20))  # rejected before any call
    (tmp_path / "unknown.png").write_bytes(png_bytes(90, 90, seed=999))  # the service refuses it
    for name in ("tiny.png", "unknown.png"):
        rows.append(
            json.dumps(
                {
                    "source-ref": name,
                    "food": 0,
                    "food-metadata": {
                        "class-name": "salt; pepper",
                        "type": "groundtruth/image-classification",
                    },
                }
            )
        )
    manifest = tmp_path / "food.manifest"
    manifest.write_text("\n".join(rows) + "\n")
    out = tmp_path / "run"
    code = run_cli(
        "run",
        "--dataset",
        str(manifest),
        "--endpoint-url",
        endpoint.url,
        "--cache",
        str(tmp_path / "c.sqlite"),
        "--out",
        str(out),
        "--min-support",
        "1",
    )
    assert code == 1
    summary = json.loads((out / "summary.json").read_text())  # valid JSON: no NaN error codes
    assert {e["status"] for e in summary["errors"]} == {"rejected", "failed"}
    assert summary["labels"]["salt; pepper"]["support"] == 2
    assert summary["labels"]['say "cheese"']["support"] == 1
    assert run_cli("report", str(out), "--out", str(tmp_path / "again")) == 1
    for name in ("metrics.csv", "labels.csv"):
        assert (out / name).read_text() == (tmp_path / "again" / name).read_text()
    pd.testing.assert_frame_equal(
        pd.read_parquet(out / "curves.parquet"), pd.read_parquet(tmp_path / "again" / "curves.parquet")
    )


def test_aws_setup_mistakes_are_one_line_and_bugs_exit_3(tmp_path, dataset, monkeypatch, capsys):
    csv, _ = dataset
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.delenv("AWS_REGION", raising=False)
    assert run_cli("run", "--dataset", str(csv), "--cache", str(tmp_path / "c.sqlite")) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: no AWS region") and len(err.splitlines()) == 1

    import evaluation.pipeline

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(evaluation.pipeline, "plan_run", broken)
    assert run_cli("run", "--dataset", str(csv), "--region", "us-east-1") == 3
    err = capsys.readouterr().err
    assert "Traceback" in err and "RuntimeError: boom" in err and "a bug in rekognition-eval" in err


def test_report_refuses_labels_the_run_left_out(tmp_path, dataset, endpoint, capsys):
    csv, _ = dataset
    out = tmp_path / "run"
    assert (
        run_cli(
            "run",
            "--dataset",
            str(csv),
            "--endpoint-url",
            endpoint.url,
            "--labels",
            "Dog,Cat",
            "--cache",
            str(tmp_path / "c.sqlite"),
            "--out",
            str(out),
        )
        == 0
    )
    assert run_cli("report", str(out), "--labels", "Dog,Car", "--out", str(tmp_path / "again")) == 2
    assert "Car were left out of this run's ground truth" in capsys.readouterr().err
    assert run_cli("report", str(out), "--labels", "Dog", "--out", str(tmp_path / "again")) == 0
    assert "no calls made now" in capsys.readouterr().out


def test_a_plan_lets_go_of_its_items_once_run_and_runs_only_once(tmp_path, dataset, endpoint):
    """The analysis of a million images does not hold the dataset's million items beside its own tables:
    the plan is spent by its run, and says so if run again."""
    from evaluation.errors import UserError
    from evaluation.options import AnalysisOptions, RunRequest
    from evaluation.pipeline import plan_run, run_evaluation

    csv, _ = dataset
    request = RunRequest(dataset=str(csv), endpoint_url=endpoint.url, cache=str(tmp_path / "cache.sqlite"))
    plan = plan_run(request)
    items = len(plan.dataset.items)
    result = run_evaluation(plan, AnalysisOptions.build())
    assert len(result.images) == items == 240 and result.images["labels"].notna().all()
    assert plan.spent and plan.dataset.items == [] and plan.outcomes == [] and plan.dataset.vocabulary
    with pytest.raises(UserError, match="plan the run again"):
        run_evaluation(plan, AnalysisOptions.build())
    again = run_evaluation(plan_run(request), AnalysisOptions.build())
    assert again.metrics.equals(result.metrics)


def test_the_answers_file_is_written_while_the_analysis_runs_and_never_left_behind(
    tmp_path, dataset, endpoint, monkeypatch
):
    """A run's answers.jsonl.gz is written ahead beside the cache while the analysis runs, then moved into
    the run folder: the bytes it would have had, and no hidden file left, whether the run ends, is not
    written, or fails in its analysis."""
    import gc
    import gzip

    from evaluation import pipeline
    from evaluation.options import AnalysisOptions, RunRequest
    from evaluation.pipeline import plan_run, run_evaluation, write_run
    from evaluation.tablefiles import ANSWERS_FILE, AnswersAhead, write_answers_to

    csv, _ = dataset
    cache = tmp_path / "cache" / "cache.sqlite"
    cache.parent.mkdir()
    request = RunRequest(dataset=str(csv), endpoint_url=endpoint.url, cache=str(cache))

    def left_behind() -> list[str]:
        return sorted(path.name for path in cache.parent.iterdir() if path.name.startswith(".answers-"))

    result = run_evaluation(plan_run(request), AnalysisOptions.build())
    assert isinstance(result.responses, AnswersAhead)
    write_run(result, tmp_path / "run")
    assert left_behind() == []
    written = (tmp_path / "run" / ANSWERS_FILE).read_bytes()
    with open(tmp_path / "direct.gz", "wb") as handle:
        write_answers_to(handle, result.responses.answers)
    assert written == (tmp_path / "direct.gz").read_bytes()
    assert len(gzip.decompress(written).splitlines()) == len(result.responses) == 240
    write_run(result, tmp_path / "again")  # moved already: written from the cache, the same bytes
    assert (tmp_path / "again" / ANSWERS_FILE).read_bytes() == written

    unwritten = run_evaluation(plan_run(request), AnalysisOptions.build())
    unwritten.responses._thread.join()
    assert len(left_behind()) == 1
    del unwritten
    gc.collect()
    assert left_behind() == []  # a result let go without a run folder takes its file with it

    def failing(*args, **kwargs):
        raise RuntimeError("the analysis failed")

    monkeypatch.setattr(pipeline, "analyse", failing)
    with pytest.raises(RuntimeError, match="the analysis failed"):
        run_evaluation(plan_run(request), AnalysisOptions.build())
    assert left_behind() == []
