"""Intervals, data advice, --certain, min-cost and the review band, end to end through the command line
against the local Rekognition-protocol endpoint.

Every number is recomputed here from the answers the fake service was scripted with (not from the run's
own tables): the stats functions on independently built pairs, and brute force over every threshold.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from evaluation.stats.bootstrap import bootstrap_recommendations
from evaluation.stats.calibration import reliability_table
from evaluation.stats.intervals import wilson_interval
from evaluation.stats.metrics import ScoredPairs
from evaluation.stats.sample_size import data_advice
from evaluation.stats.thresholds import min_confidence_to_use, recommend
from tests.support.cli import run_cli as cli
from tests.support.runs import VOCABULARY, build_dataset

RESAMPLES, SEED = 200, 11


@pytest.fixture
def finished(tmp_path, fake_rekognition, endpoint):
    """A run of 240 images with 200 resamples, and what the service was scripted to answer."""
    csv, expected = build_dataset(tmp_path, fake_rekognition)
    out = tmp_path / "run"
    code = cli(
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
        str(tmp_path / "cache.sqlite"),
        "--resamples",
        str(RESAMPLES),
        "--seed",
        str(SEED),
    )
    assert code == 0
    return out, expected


def scripted_pairs(out: Path, expected: dict) -> tuple[ScoredPairs, np.ndarray, np.ndarray, list[str]]:
    """The pairs, positives and image names, built from the script in images.csv's order."""
    images = pd.read_csv(out / "images.csv")["image"].tolist()
    label_idx, image_idx, confidence, is_true, positive_image, positive_label = [], [], [], [], [], []
    for index, uri in enumerate(images):
        truth, scores = expected[str(Path(uri).resolve())]
        for k, lab in enumerate(VOCABULARY):
            if lab in scores:
                label_idx.append(k)
                image_idx.append(index)
                confidence.append(scores[lab])
                is_true.append(lab in truth)
            if lab in truth:
                positive_image.append(index)
                positive_label.append(k)
    pairs = ScoredPairs(
        labels=tuple(VOCABULARY),
        n_images=len(images),
        support=np.bincount(positive_label, minlength=len(VOCABULARY)),
        label_idx=np.asarray(label_idx),
        image_idx=np.asarray(image_idx),
        confidence=np.asarray(confidence, dtype=float),
        is_true=np.asarray(is_true),
    )
    return pairs, np.asarray(positive_image), np.asarray(positive_label), images


def test_every_interval_equals_the_stats_functions_on_the_same_data(finished):
    out, expected = finished
    pairs, positive_image, positive_label, images = scripted_pairs(out, expected)
    labels = pd.read_csv(out / "labels.csv").set_index("label").loc[VOCABULARY]
    for name in ("precision", "recall", "f1", "min_confidence"):
        assert {f"{name}_low", f"{name}_high"} <= set(labels.columns)
    assert {"positives_needed", "negatives_needed"} <= set(labels.columns)

    tp, fp, fn = (labels[name].to_numpy(float) for name in ("tp", "fp", "fn"))
    low, high = wilson_interval(tp, tp + fp)
    np.testing.assert_allclose(labels["precision_low"], low, rtol=1e-12)
    np.testing.assert_allclose(labels["precision_high"], high, rtol=1e-12)
    low, high = wilson_interval(tp, tp + fn)
    np.testing.assert_allclose(labels["recall_low"], low, rtol=1e-12)
    np.testing.assert_allclose(labels["recall_high"], high, rtol=1e-12)

    boot = bootstrap_recommendations(
        pairs,
        positive_image_idx=positive_image,
        positive_label_idx=positive_label,
        objective="best-f1",
        n_resamples=RESAMPLES,
        seed=SEED,
        image_keys=np.asarray(images, dtype=object),
    )
    table = boot.per_label().set_index("label").loc[VOCABULARY]
    for name in ("f1_low", "f1_high", "min_confidence_low", "min_confidence_high"):
        np.testing.assert_allclose(labels[name], table[name], rtol=1e-12)
    assert (labels["f1_low"] <= labels["f1_high"]).all()

    from evaluation.stats.metrics import exact_curves

    chosen = recommend(exact_curves(pairs), labels=VOCABULARY, support=pairs.support, objective="best-f1")
    advice = data_advice(chosen, n_images=pairs.n_images).set_index("label").loc[VOCABULARY]
    assert labels["positives_needed"].tolist() == advice["positives_needed"].tolist()
    assert labels["negatives_needed"].tolist() == advice["negatives_needed"].astype(int).tolist()
    too_few = advice["status"] == "too-few-positives"
    assert (labels.loc[too_few, "status"] == "too-few-positives").all()
    for lab in advice.index[too_few]:
        more = int(advice.loc[lab, "positives_needed"] - advice.loc[lab, "positives"])
        assert f"label about {more} more images with {lab}" in labels.loc[lab, "note"]

    # metrics.csv: Wilson intervals at every whole-number threshold
    metrics = pd.read_csv(out / "metrics.csv")
    counts = metrics[["tp", "fp", "fn"]].to_numpy(float)
    low, high = wilson_interval(counts[:, 0], counts[:, 0] + counts[:, 1])
    np.testing.assert_allclose(metrics["precision_low"], low, rtol=1e-12)
    np.testing.assert_allclose(metrics["precision_high"], high, rtol=1e-12)
    low, high = wilson_interval(counts[:, 0], counts[:, 0] + counts[:, 2])
    np.testing.assert_allclose(metrics["recall_low"], low, rtol=1e-12)

    # calibration.csv: the reliability table of the same pairs
    calibration = pd.read_csv(out / "calibration.csv")
    reference = reliability_table(pairs)
    np.testing.assert_array_equal(calibration["predictions"], reference["predictions"])
    np.testing.assert_allclose(calibration["observed_precision"], reference["observed_precision"], rtol=1e-12)

    # thresholds.yaml and summary.json carry the same intervals, with level, resamples and seed
    document = yaml.safe_load((out / "thresholds.yaml").read_text())
    assert document["intervals"]["level"] == 0.95
    assert (document["intervals"]["resamples"], document["intervals"]["seed"]) == (RESAMPLES, SEED)
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["intervals"]["resamples"], summary["intervals"]["seed"]) == (RESAMPLES, SEED)
    overall = boot.global_interval()
    for name in ("min_confidence_low", "min_confidence_high", "f1_low", "f1_high"):
        assert summary["global"][name] == pytest.approx(overall[name], abs=1e-6)
    for lab in VOCABULARY:
        entry, row = document["labels"][lab], labels.loc[lab]
        assert entry["precision_low"] == pytest.approx(row["precision_low"], abs=1e-4)
        assert entry["f1_high"] == pytest.approx(row["f1_high"], abs=1e-4)
        assert entry["positives_needed"] == row["positives_needed"]
        recommended = summary["labels"][lab]["recommended"]
        assert recommended["recall_high"] == pytest.approx(row["recall_high"], abs=1e-6)
        # the value sent is the robust middle of the range and reproduces the evaluated counts
        value = entry["min_confidence"]
        assert value == min_confidence_to_use(row["threshold"], row["threshold_low"])
        assert row["threshold_low"] < value <= row["threshold"]
        k = VOCABULARY.index(lab)
        kept = (pairs.label_idx == k) & (pairs.confidence >= value)
        assert (int(pairs.is_true[kept].sum()), int((~pairs.is_true[kept]).sum())) == (row["tp"], row["fp"])

    report = (out / "report.md").read_text()
    assert "95% interval" in report and "label about" in report
    page = (out / "report.html").read_text()
    assert "Reliability" in page and "label about" in page


def test_certain_never_certifies_a_target_its_lower_bound_misses(finished, capsys):
    out, _ = finished
    target = 0.8
    assert (
        cli("thresholds", str(out), "--objective", f"recall-at-precision:{target}", "--certain", "--out", "-")
        == 0
    )
    document = yaml.safe_load(capsys.readouterr().out)
    assert document["objective"] == f"recall-at-precision:{target}:certain"
    curves = pd.read_parquet(out / "curves.parquet")
    statuses = set()
    for lab, entry in document["labels"].items():
        statuses.add(entry["status"])
        mine = curves[curves["label"] == lab]
        lower = wilson_interval(mine["tp"], mine["tp"] + mine["fp"])[0]
        if entry["min_confidence"] is not None:
            kept = mine[mine["threshold"] >= entry["min_confidence"]]
            tp, fp = int(kept["tp"].max()), int(kept["fp"].max())
            assert wilson_interval(tp, tp + fp)[0] >= target  # certified at the lower bound
        else:
            # nothing certified: indeed no point's lower bound reaches the target
            assert not ((lower >= target) & (mine["tp"] > 0)).any()
    assert "uncertified" in statuses  # the point estimate reaches 0.8 somewhere, its lower bound does not


def brute_force_min_cost(curves: pd.DataFrame, lab: str, n_images: int, cost_fp: float, cost_fn: float):
    """Every point of the exact curve and "predict nothing", the cheapest (ties: the highest threshold)."""
    mine = curves[curves["label"] == lab].sort_values("threshold", ascending=False)
    support = int(mine["support"].iloc[0])
    best = (1000 / n_images * cost_fn * support, None)
    for row in mine.itertuples():
        cost = 1000 / n_images * (cost_fp * row.fp + cost_fn * row.fn)
        if cost < best[0] - 1e-12:
            best = (cost, row.threshold)
    return best


def test_min_cost_equals_a_brute_force_over_the_exact_curve(finished, tmp_path):
    out, _ = finished
    again = tmp_path / "min-cost"
    code = cli(
        "report", str(out), "--objective", "min-cost", "--cost-fp", "1", "--cost-fn", "4", "--out", str(again)
    )
    assert code == 0
    labels = pd.read_csv(again / "labels.csv").set_index("label")
    curves = pd.read_parquet(out / "curves.parquet")
    for lab in VOCABULARY:
        cost, threshold = brute_force_min_cost(curves, lab, 240, 1.0, 4.0)
        assert labels.loc[lab, "cost_per_1000"] == pytest.approx(cost)
        if threshold is None:
            assert np.isnan(labels.loc[lab, "threshold"]) and labels.loc[lab, "status"] == "predict-nothing"
        else:
            assert labels.loc[lab, "threshold"] == threshold
        assert labels.loc[lab, "cost_low"] <= labels.loc[lab, "cost_high"]
    summary = json.loads((again / "summary.json").read_text())
    assert summary["objective"] == "min-cost"
    assert summary["costs"]["application_cost_per_1000"] == pytest.approx(labels["cost_per_1000"].sum())
    assert "min-cost" in (again / "report.md").read_text()


def test_the_review_band_counts_equal_a_brute_force_count(finished, tmp_path):
    out, expected = finished
    again = tmp_path / "band"
    code = cli(
        "report",
        str(out),
        "--review-band",
        "--max-errors",
        "0.05",
        "--max-review-rate",
        "30%",
        "--out",
        str(again),
    )
    assert code == 0
    band = pd.read_csv(again / "review_band.csv").set_index("label")
    document = yaml.safe_load((again / "review_band.yaml").read_text())
    assert not (again / "a2i_activation_conditions.json").exists()  # only for moderation
    truth_scores = list(expected.values())
    for lab in VOCABULARY:
        row = band.loc[lab]
        upper, lower = float(row["upper_min_confidence"]), float(row["lower_min_confidence"])
        accepted = reviewed = errors = 0
        for truth, scores in truth_scores:  # count from the script, with the values sent
            score = scores.get(lab)
            positive = lab in truth
            if score is not None and score >= upper:
                accepted += 1
                errors += not positive
            elif score is not None and score >= lower:
                reviewed += 1
            else:
                errors += positive
        assert (accepted, reviewed, errors) == (row["accepted"], row["reviewed"], row["errors_left"])
        entry = document["labels"][lab]
        assert entry["reviewed"] == reviewed and entry["errors_left"] == errors
        if row["status"] != "infeasible":
            assert errors <= 0.05 * 240 and reviewed <= 0.3 * 240
    # a person reviews only between the two values, and the whole is reported
    summary = json.loads((again / "summary.json").read_text())
    assert summary["review_band"]["max_errors"] == 0.05
    assert "Human review band" in (again / "report.md").read_text()


def test_the_options_are_recorded_and_a_bad_one_is_a_usage_error(finished, tmp_path, capsys):
    out, _ = finished
    run = json.loads((out / "run.json").read_text())
    assert run["analysis"]["resamples"] == RESAMPLES and run["analysis"]["seed"] == SEED
    assert cli("report", str(out), "--confidence-level", "1.5", "--out", str(tmp_path / "x")) == 2
    assert "--confidence-level" in capsys.readouterr().err
    assert cli("report", str(out), "--objective", "min-cost", "--out", str(tmp_path / "y")) == 2
    assert "--cost-fp" in capsys.readouterr().err
    assert cli("report", str(out), "--max-errors", "0.1", "--out", str(tmp_path / "z")) == 2


def test_a_large_run_says_it_used_the_little_bootstraps_and_exact_bootstrap_forces_the_exact_one(
    finished, tmp_path, monkeypatch
):
    """The method is named where the intervals are described; --exact-bootstrap is recorded and obeyed.
    (The 240-image run is made "large" by lowering the work budget, the only thing patched.)"""
    out, expected = finished
    pairs, positive_image, positive_label, images = scripted_pairs(out, expected)
    monkeypatch.setattr("evaluation.stats.little_bootstraps.EXACT_WORK_BUDGET", 0)
    little = tmp_path / "little"
    assert cli("report", str(out), "--out", str(little)) == 0
    summary = json.loads((little / "summary.json").read_text())
    described = summary["intervals"]["f1_min_confidence"]
    assert described.startswith("bag of little bootstraps over images") and f"seed {SEED}" in described
    method = summary["intervals"]["bootstrap"]
    assert method["method"] == "bag of little bootstraps" and method["subsets"] == 2
    assert method["subset_images"] == math.ceil(len(images) ** 0.7)
    boot = bootstrap_recommendations(
        pairs,
        positive_image_idx=positive_image,
        positive_label_idx=positive_label,
        objective="best-f1",
        n_resamples=RESAMPLES,
        seed=SEED,
        image_keys=np.asarray(images, dtype=object),
        exact=False,
    )
    table = boot.per_label().set_index("label").loc[VOCABULARY]
    labels = pd.read_csv(little / "labels.csv").set_index("label").loc[VOCABULARY]
    for name in ("f1_low", "f1_high", "min_confidence_low", "min_confidence_high"):
        np.testing.assert_allclose(labels[name], table[name], rtol=1e-12)

    exact = tmp_path / "exact"
    assert cli("report", str(out), "--exact-bootstrap", "--out", str(exact)) == 0
    summary = json.loads((exact / "summary.json").read_text())
    assert summary["intervals"]["f1_min_confidence"].startswith("percentile bootstrap over images")
    assert summary["intervals"]["bootstrap"]["method"] == "exact"
    assert json.loads((exact / "run.json").read_text())["analysis"]["exact_bootstrap"] is True
    original = pd.read_csv(out / "labels.csv").set_index("label").loc[VOCABULARY]
    again = pd.read_csv(exact / "labels.csv").set_index("label").loc[VOCABULARY]
    for name in ("f1_low", "f1_high", "min_confidence_low", "min_confidence_high"):
        np.testing.assert_allclose(again[name], original[name], rtol=1e-12)
