"""Issue 13: evaluate what production sends, per slice, and catch a model update that breaks a threshold.

Everything runs against the local Rekognition-protocol endpoint (tests/support/fake_rekognition.py),
through boto3, whose parser keeps only what botocore's output shapes model: an answer field the fake got
wrong would not reach the harness.
"""

from __future__ import annotations

import json

import boto3
import numpy as np
import pandas as pd
import pytest
import yaml

from evaluation.calls.backends.rekognition import detect_labels_params
from evaluation.calls.cache import ResponseCache, cache_key
from evaluation.calls.production import load_request
from evaluation.cli import EXIT_TARGET_BROKEN, main
from evaluation.errors import UserError
from evaluation.options import RunRequest
from evaluation.pipeline import evaluate
from evaluation.stats.paired import mcnemar_exact
from tests.support.fake_rekognition import label, moderation_label
from tests.support.images import png_bytes

ADAPTER = "arn:aws:rekognition:us-east-1:123456789012:project/mod/version/adapter1/1700000000000"


def run_cli(*args: str) -> int:
    return main(["--quiet", *args])


def client(endpoint):
    return boto3.client("rekognition", endpoint_url=endpoint.url, region_name="us-east-1")


# ------------------------------------------------------------------------------------- the request file


def test_request_keys_are_checked_against_botocores_model_and_a_typo_is_named(tmp_path):
    good = {"Features": ["GENERAL_LABELS", "IMAGE_PROPERTIES"], "Settings": {"GeneralLabels": {}}}
    assert load_request(good, "DetectLabels") == good
    path = tmp_path / "request.yaml"
    path.write_text("DetectLabels:\n  Features: [GENERAL_LABELS]\n")
    assert load_request(path, "DetectLabels") == {"Features": ["GENERAL_LABELS"]}
    cases = [
        ({"Setings": {}}, "Setings"),
        ({"Settings": {"GeneralLabels": {"LabelExclusionFilter": ["Dog"]}}}, "LabelExclusionFilter"),
        ({"Features": ["GENERAL_LABELS", "COLOURS"]}, "COLOURS"),
        ({"Features": ["IMAGE_PROPERTIES"]}, "GENERAL_LABELS"),
        ({"MinConfidence": 50}, "MinConfidence stays at the floor"),
        ({"Settings": {"GeneralLabels": {"LabelInclusionFilters": "Dog"}}}, "LabelInclusionFilters"),
    ]
    for params, named in cases:
        with pytest.raises(UserError, match=named):
            load_request(params, "DetectLabels")
    with pytest.raises(UserError, match="ProjectVersion"):
        load_request({"ProjectVersion": "arn:too:short"}, "DetectModerationLabels")
    with pytest.raises(UserError, match=r"not one a request file sets|Unknown parameter"):
        load_request({"Features": ["GENERAL_LABELS"]}, "DetectModerationLabels")
    with pytest.raises(UserError, match="needs --operation moderation"):
        RunRequest(dataset="x.csv", project_version=ADAPTER)
    with pytest.raises(UserError, match="local backend cannot send"):
        RunRequest(dataset="x.csv", backend="local", request={"Features": ["GENERAL_LABELS"]})


def test_the_cache_key_is_unchanged_without_a_request_and_changes_with_each_field():
    image = "sha256:abc"
    before = cache_key(image, "DetectLabels", {"MinConfidence": 0.0, "MaxLabels": 1000})  # as always written
    assert cache_key(
        image, "DetectLabels", detect_labels_params(min_confidence=0, max_labels=1000, endpoint=None)
    ) == (before)
    assert (
        cache_key(
            image,
            "DetectLabels",
            detect_labels_params(min_confidence=0, max_labels=1000, endpoint=None, extra={}),
        )
        == before
    )
    variants = [
        {"Features": ["GENERAL_LABELS"]},
        {"Features": ["GENERAL_LABELS", "IMAGE_PROPERTIES"]},
        {"Settings": {"GeneralLabels": {"LabelExclusionFilters": ["Dog"]}}},
        {"Settings": {"GeneralLabels": {"LabelCategoryInclusionFilters": ["Animals and Pets"]}}},
        {"Settings": {"ImageProperties": {"MaxDominantColors": 3}}},
    ]
    keys = {
        cache_key(
            image,
            "DetectLabels",
            detect_labels_params(min_confidence=0, max_labels=1000, endpoint=None, extra=v),
        )
        for v in variants
    }
    assert len(keys) == len(variants) and before not in keys
    moderation = [{"MinConfidence": 0.0}, {"MinConfidence": 0.0, "ProjectVersion": ADAPTER}]
    assert len({cache_key(image, "DetectModerationLabels", p) for p in moderation}) == 2


def test_the_endpoint_applies_filters_and_answers_image_properties_in_botocores_shapes(
    fake_rekognition, endpoint
):
    data = png_bytes(90, 90, seed=3)
    fake_rekognition.answer_for_bytes(
        data,
        [
            label("Dog", 90.0, categories=("Animals and Pets",)),
            label("Car", 80.0, categories=("Vehicles and Automotive",)),
            label("Tree", 70.0, categories=("Plants and Flowers",)),
        ],
    )
    fake_rekognition.image_properties(
        data,
        {
            "Quality": {"Brightness": 12.5, "Sharpness": 80.0, "Contrast": 40.0},
            "DominantColors": [
                {
                    "Red": 1,
                    "Green": 2,
                    "Blue": 3,
                    "HexCode": "#010203",
                    "SimplifiedColor": "black",
                    "PixelPercent": 60.0,
                },
                {
                    "Red": 250,
                    "Green": 250,
                    "Blue": 250,
                    "HexCode": "#fafafa",
                    "SimplifiedColor": "white",
                    "PixelPercent": 40.0,
                },
            ],
        },
    )
    rekognition = client(endpoint)

    def names(**params):
        return [
            entry["Name"]
            for entry in rekognition.detect_labels(Image={"Bytes": data}, MinConfidence=0, **params).get(
                "Labels", []
            )
        ]

    assert names() == ["Dog", "Car", "Tree"]
    assert names(Settings={"GeneralLabels": {"LabelExclusionFilters": ["Car"]}}) == ["Dog", "Tree"]
    assert names(Settings={"GeneralLabels": {"LabelInclusionFilters": ["Tree"]}}) == ["Tree"]
    assert names(Settings={"GeneralLabels": {"LabelCategoryInclusionFilters": ["Animals and Pets"]}}) == [
        "Dog"
    ]
    assert names(Settings={"GeneralLabels": {"LabelCategoryExclusionFilters": ["Animals and Pets"]}}) == [
        "Car",
        "Tree",
    ]
    answer = rekognition.detect_labels(
        Image={"Bytes": data},
        Features=["GENERAL_LABELS", "IMAGE_PROPERTIES"],
        Settings={"ImageProperties": {"MaxDominantColors": 1}},
    )
    assert answer["ImageProperties"]["Quality"] == {"Brightness": 12.5, "Sharpness": 80.0, "Contrast": 40.0}
    assert [c["SimplifiedColor"] for c in answer["ImageProperties"]["DominantColors"]] == ["black"]
    assert "ImageProperties" not in rekognition.detect_labels(Image={"Bytes": data})


def test_the_endpoint_answers_an_adapter_like_the_service(fake_rekognition, endpoint):
    data = png_bytes(90, 90, seed=4)
    fake_rekognition.script("DetectModerationLabels", data, [moderation_label("Violence", 30.0)])
    fake_rekognition.adapter(ADAPTER, data, [moderation_label("Violence", 95.0)])
    fake_rekognition.script_content_types(data, [{"Name": "Animated", "Confidence": 88.0}])
    rekognition = client(endpoint)
    base = rekognition.detect_moderation_labels(Image={"Bytes": data}, MinConfidence=0)
    assert "ProjectVersion" not in base and base["ModerationLabels"][0]["Confidence"] == 30.0
    assert base["ContentTypes"] == [{"Name": "Animated", "Confidence": 88.0}]
    adapted = rekognition.detect_moderation_labels(
        Image={"Bytes": data}, MinConfidence=0, ProjectVersion=ADAPTER
    )
    assert adapted["ProjectVersion"] == ADAPTER and adapted["ModerationLabels"][0]["Confidence"] == 95.0
    fake_rekognition.expired.add(ADAPTER)  # EXPIRED: the base model answers, and the response names none
    expired = rekognition.detect_moderation_labels(
        Image={"Bytes": data}, MinConfidence=0, ProjectVersion=ADAPTER
    )
    assert "ProjectVersion" not in expired and expired["ModerationLabels"][0]["Confidence"] == 30.0
    with pytest.raises(rekognition.exceptions.ResourceNotFoundException):
        rekognition.detect_moderation_labels(
            Image={"Bytes": data}, ProjectVersion=ADAPTER.replace("adapter1", "other")
        )


# ------------------------------------------------------------------- a production run, sliced


def _sliced_dataset(folder, fake, *, count=120, seed=11):
    """Dark and bright images from two cameras; Dog is harder on dark images, Car is filtered out."""
    rng = np.random.default_rng(seed)
    (folder / "images").mkdir(exist_ok=True)
    rows = []
    for index in range(count):
        data = png_bytes(90, 90, seed=500 + index)
        name = f"images/i{index:03d}.png"
        (folder / name).write_bytes(data)
        dark = index % 2 == 0
        truth = {lab for lab in ("Dog", "Car") if rng.random() < 0.5}
        answer = [label("Noise", 0.5, categories=("Other",))]  # every image reaches the floor 0
        for lab in ("Dog", "Car"):
            positive = lab in truth
            if lab == "Dog" and dark:
                confidence = rng.uniform(20, 70) if positive else rng.uniform(20, 75)
            else:
                confidence = rng.uniform(70, 100) if positive else rng.uniform(0, 60)
            category = "Animals and Pets" if lab == "Dog" else "Vehicles and Automotive"
            answer.append(label(lab, round(float(confidence), 3), categories=(category,)))
        fake.answer_for_bytes(data, answer)
        fake.image_properties(
            data,
            {
                "Quality": {"Brightness": 10.0 if dark else 80.0, "Sharpness": 50.0, "Contrast": 50.0},
                "DominantColors": [],
            },
        )
        rows.append((name, ";".join(sorted(truth)), "cam-a" if index % 3 else "cam-b"))
    csv = folder / "data.csv"
    csv.write_text("image,labels,camera\n" + "".join(f"{n},{t},{c}\n" for n, t, c in rows))
    return csv, rows


REQUEST = {
    "Features": ["GENERAL_LABELS", "IMAGE_PROPERTIES"],
    "Settings": {"GeneralLabels": {"LabelExclusionFilters": ["Car"]}},
}


def test_a_production_run_evaluates_what_the_request_returns_and_slices_it(
    tmp_path, fake_rekognition, endpoint
):
    csv, rows = _sliced_dataset(tmp_path, fake_rekognition)
    request_file = tmp_path / "request.yaml"
    request_file.write_text(yaml.safe_dump(REQUEST))
    out, cache = tmp_path / "run", tmp_path / "cache.sqlite"
    code = run_cli(
        "run", "--dataset", str(csv), "--endpoint-url", endpoint.url, "--region", "us-east-1",
        "--out", str(out),
        "--cache", str(cache), "--request", str(request_file), "--slice", "camera", "--slice", "brightness",
        "--quality-bins", "0,50,100", "--min-support", "3", "--objective", "recall>=0.8",
    )  # fmt: skip
    assert code == 0
    asked = [r for r in fake_rekognition.requests if "Features" in r]
    assert len(asked) == len(rows) and all(r["Settings"] == REQUEST["Settings"] for r in asked)
    run = json.loads((out / "run.json").read_text())
    summary = json.loads((out / "summary.json").read_text())
    assert run["production_request"] == REQUEST and summary["production_request"] == REQUEST
    assert summary["request"]["Features"] == REQUEST["Features"]
    labels = pd.read_csv(out / "labels.csv").set_index("label")
    assert labels.loc["Car", "status"] == "no-predictions"  # excluded by the filter: never predicted
    assert not (pd.read_csv(out / "predictions.csv")["label"] == "Car").any()
    images = pd.read_csv(out / "images.csv")
    assert set(images["brightness"]) == {10.0, 80.0} and set(images["dataset.camera"]) == {"cam-a", "cam-b"}
    slices = pd.read_csv(out / "slices.csv", keep_default_na=False)
    assert set(slices["key"]) == {"camera", "brightness"}
    assert set(slices.loc[slices["key"] == "brightness", "value"]) == {"brightness 0-50", "brightness 50-100"}
    dark_dog = slices[(slices["value"] == "brightness 0-50") & (slices["label"] == "Dog")].iloc[0]
    assert dark_dog["verdict"] == "misses"  # the run's Dog threshold is learnt mostly from bright images
    assert float(dark_dog["recall_run"]) < 0.7 and float(dark_dog["recall_run_low"]) <= float(
        dark_dog["recall_run"]
    )
    report = (out / "report.md").read_text()
    assert "## Slices" in report and "misses the objective badly" in report

    # a slice's numbers are the whole run's numbers on the slice's images alone
    dark = [r for i, r in enumerate(rows) if i % 2 == 0]
    sub = tmp_path / "dark.csv"
    sub.write_text("image,labels,camera\n" + "".join(f"{n},{t},{c}\n" for n, t, c in dark))
    alone = evaluate(
        sub, endpoint_url=endpoint.url, region="us-east-1", cache=str(cache), request=REQUEST, min_support=3,
        objective="recall>=0.8", progress=False,
    )  # fmt: skip
    assert alone.summary["api_calls"] == 0  # same request, same images: all from the cache
    own = alone.labels.set_index("label")
    mine = slices[slices["value"] == "brightness 0-50"].set_index("label")
    for name in ("Dog",):
        assert mine.loc[name, "support"] == own.loc[name, "support"]
        for column in ("threshold", "precision", "recall", "f1"):
            assert float(mine.loc[name, f"{column}_slice"]) == pytest.approx(
                float(own.loc[name, column]), abs=1e-12
            )
    run_threshold = float(labels.loc["Dog", "threshold"])
    curve = alone.curves[alone.curves["label"] == "Dog"]
    at = curve[curve["threshold"] >= run_threshold].sort_values("threshold").iloc[0]
    assert float(mine.loc["Dog", "precision_run"]) == pytest.approx(at["precision"])
    assert float(mine.loc["Dog", "recall_run"]) == pytest.approx(at["recall"])

    # too little data says so, without a number
    thin = run_cli("report", str(out), "--min-support", "40", "--slice", "camera")
    assert thin == 0
    slices = pd.read_csv(out / "slices.csv", keep_default_na=False)
    cam_b = slices[(slices["value"] == "cam-b") & (slices["label"] == "Dog")].iloc[0]
    assert cam_b["verdict"] == "too little data" and cam_b["precision_slice"] == ""


def test_a_slice_key_that_is_nowhere_is_an_error_listing_the_keys(
    tmp_path, fake_rekognition, endpoint, capsys
):
    csv, _ = _sliced_dataset(tmp_path, fake_rekognition, count=10)
    code = run_cli(
        "run", "--dataset", str(csv), "--endpoint-url", endpoint.url, "--region", "us-east-1",
        "--out", str(tmp_path / "r"), "--cache", str(tmp_path / "c.sqlite"), "--slice", "cmaera",
    )  # fmt: skip
    assert code == 2
    error = capsys.readouterr().err
    assert "cmaera" in error and "camera" in error


def test_category_slices_group_labels_by_their_categories(tmp_path, fake_rekognition, endpoint):
    csv, _ = _sliced_dataset(tmp_path, fake_rekognition, count=40)
    result = evaluate(
        csv, endpoint_url=endpoint.url, region="us-east-1", cache=str(tmp_path / "c.sqlite"),
        slices=["category"],
        min_support=1, progress=False,
    )  # fmt: skip
    table = result.extra_tables["slices"]
    assert set(table["value"]) == {"Animals and Pets", "Vehicles and Automotive"}
    animals = table[table["value"] == "Animals and Pets"].iloc[0]
    assert animals["support"] == int(result.labels.set_index("label").loc["Dog", "support"])


# ----------------------------------------------------------------- adapters: run, compare, manifest


def _moderation_dataset(folder, fake, *, count=60, seed=5):
    rng = np.random.default_rng(seed)
    (folder / "m").mkdir(exist_ok=True)
    rows = []
    for index in range(count):
        data = png_bytes(90, 90, seed=900 + index)
        name = f"m/{index:03d}.png"
        (folder / name).write_bytes(data)
        unsafe = index % 2 == 0
        base = rng.uniform(40, 90) if unsafe else rng.uniform(10, 60)
        tuned = rng.uniform(80, 99) if unsafe else rng.uniform(0, 20)
        fake.script("DetectModerationLabels", data, [moderation_label("Violence", round(float(base), 3))])
        fake.adapter(ADAPTER, data, [moderation_label("Violence", round(float(tuned), 3))])
        rows.append(f"{name},{'Violence' if unsafe else ''}")
    csv = folder / "moderation.csv"
    csv.write_text("image,labels\n" + "\n".join(rows) + "\n")
    return csv


def test_an_adapter_run_compares_with_the_base_run_and_exports_the_base_errors(
    tmp_path, fake_rekognition, endpoint, capsys
):
    csv = _moderation_dataset(tmp_path, fake_rekognition)
    common = ["--dataset", str(csv), "--operation", "moderation", "--endpoint-url", endpoint.url,
              "--region", "us-east-1",
              "--cache", str(tmp_path / "c.sqlite"), "--min-support", "1"]  # fmt: skip
    assert run_cli("run", *common, "--out", str(tmp_path / "base")) == 0
    assert run_cli("run", *common, "--project-version", ADAPTER, "--out", str(tmp_path / "adapter")) == 0
    adapter_images = pd.read_csv(tmp_path / "adapter" / "images.csv")
    assert set(adapter_images["answered_by"]) == {ADAPTER}
    assert json.loads((tmp_path / "adapter" / "run.json").read_text())["request"]["ProjectVersion"] == ADAPTER
    assert (
        run_cli("compare", str(tmp_path / "base"), str(tmp_path / "adapter"), "--out", str(tmp_path / "cmp"))
        == 0
    )
    table = pd.read_csv(tmp_path / "cmp" / "compare.csv").set_index("label")
    assert table.loc["Violence", "verdict"] == "better in B"
    assert table.loc["Violence", "p_value"] < 0.05
    every = pd.read_csv(tmp_path / "cmp" / "compare_thresholds.csv")
    violence = every[every["label"] == "Violence"]
    assert len(violence) > 80 and (violence.loc[violence["threshold"] == 70, "recall_b"] == 1.0).all()

    manifest = tmp_path / "train.manifest"
    capsys.readouterr()
    code = run_cli("manifest", "--adapter-errors", str(tmp_path / "base"), "--out", str(manifest),
                   "--s3-prefix", "s3://bucket/mod/")  # fmt: skip
    assert code == 0
    lines = [json.loads(line) for line in manifest.read_text().splitlines()]
    base_scores = pd.read_parquet(tmp_path / "base" / "scores.parquet")
    threshold = float(
        pd.read_csv(tmp_path / "base" / "labels.csv").set_index("label").loc["Violence", "threshold"]
    )
    violence_scores = base_scores[base_scores["label"] == "Violence"]
    wrong = violence_scores[
        (violence_scores["confidence"].fillna(-1) >= threshold) != (violence_scores["positive"] == 1)
    ]
    assert len(lines) == len(wrong) > 0
    for line in lines:
        assert line["source-ref"].startswith("s3://bucket/mod/")
        assert set(line) == {"source-ref", "content-moderation-groundtruth"}
        assert line["content-moderation-groundtruth"]["ModerationLabels"] in ([], [{"Name": "Violence"}])
    captured = capsys.readouterr()
    assert "below AWS's documented minimum of 50 false negatives OR 20 false positives" in captured.err


# -------------------------------------------------------- model updates: refresh, canary, the gate


def test_refresh_canary_model_version_and_check_catch_a_model_update(
    tmp_path, fake_rekognition, endpoint, capsys
):
    csv, _ = _sliced_dataset(tmp_path, fake_rekognition, count=80)
    cache = tmp_path / "c.sqlite"
    common = ["--dataset", str(csv), "--endpoint-url", endpoint.url, "--region", "us-east-1",
              "--cache", str(cache),
              "--min-support", "3", "--objective", "precision-at-recall:0.8"]  # fmt: skip
    assert run_cli("run", *common, "--out", str(tmp_path / "v3")) == 0
    deployed = tmp_path / "v3" / "thresholds.yaml"
    assert run_cli("check", str(tmp_path / "v3"), "--thresholds", str(deployed)) == 0
    assert "All" in capsys.readouterr().out

    # the canary passes while the model is the same, and calls only its sample
    calls = sum(fake_rekognition.calls.values())
    assert run_cli("run", *common, "--canary", "5", "--out", str(tmp_path / "same")) == 0
    assert sum(fake_rekognition.calls.values()) == calls + 5
    assert json.loads((tmp_path / "same" / "run.json").read_text())["canary"]["changed"] == 0

    fake_rekognition.model_version, fake_rekognition.shift = "3.1", {"Dog": -25.0}  # an update moves Dog
    calls = sum(fake_rekognition.calls.values())
    capsys.readouterr()
    assert run_cli("run", *common, "--canary", "5", "--out", str(tmp_path / "stopped")) == 2
    message = capsys.readouterr().err
    assert "model version 3.1" in message and "3.0" in message and "--refresh" in message
    assert sum(fake_rekognition.calls.values()) == calls + 5 and not (tmp_path / "stopped").exists()

    assert run_cli("run", *common, "--refresh", "--out", str(tmp_path / "v31")) == 0
    assert json.loads((tmp_path / "v31" / "summary.json").read_text())["model_versions"] == ["3.1"]
    capsys.readouterr()
    assert run_cli("check", str(tmp_path / "v31"), "--thresholds", str(deployed)) == EXIT_TARGET_BROKEN
    out = capsys.readouterr().out
    assert "Broken: Dog\n" in out and "Car: MinConfidence" in out and "recall" in out

    # the old answers are kept: --model-version evaluates them, and newest is the default again
    assert run_cli("run", *common, "--model-version", "3.0", "--out", str(tmp_path / "old")) == 0
    assert json.loads((tmp_path / "old" / "summary.json").read_text())["model_versions"] == ["3.0"]
    assert run_cli("check", str(tmp_path / "old"), "--thresholds", str(deployed)) == 0
    with ResponseCache(cache) as store:
        key = pd.read_csv(tmp_path / "v31" / "images.csv")["cache_key"].iloc[0]
        assert store.versions(key) == ["3.0", "3.1"]
    # report on the old run re-reads the 3.0 answers, not the newest
    assert run_cli("report", str(tmp_path / "old")) == 0
    assert json.loads((tmp_path / "old" / "summary.json").read_text())["model_versions"] == ["3.0"]

    # compare: the paired test sees the update at the deployed thresholds
    assert run_cli("compare", str(tmp_path / "v3"), str(tmp_path / "v31"), "--thresholds", str(deployed),
                   "--out", str(tmp_path / "cmp")) == 0  # fmt: skip
    table = pd.read_csv(tmp_path / "cmp" / "compare.csv").set_index("label")
    dog = table.loc["Dog"]
    assert dog["decided_at"] == "deployed" and dog["only_a_right"] + dog["only_b_right"] > 0
    expected = "same" if dog["p_value"] >= 0.05 else "better in B" if dog["effect"] > 0 else "better in A"
    assert dog["verdict"] == expected
    assert dog["effect"] == pytest.approx((dog["only_b_right"] - dog["only_a_right"]) / dog["images_paired"])
    assert table.loc["Car", "only_a_right"] == 0 and table.loc["Car", "only_b_right"] == 0  # Car did not move
    assert table.loc["Car", "verdict"] == "same"
    assert table.loc["Dog", "p_value"] == pytest.approx(
        mcnemar_exact(int(table.loc["Dog", "only_a_right"]), int(table.loc["Dog", "only_b_right"]))
    )


def test_counts_at_a_deployed_threshold_come_from_the_exact_curve():
    from evaluation.reports.check import counts_at

    curves = pd.DataFrame(
        {
            "label": ["A", "A", "A"],
            "threshold": [90.0, 70.0, 50.0],
            "tp": [2, 5, 8],
            "fp": [0, 1, 4],
            "fn": [8, 5, 2],
        }
    )
    assert counts_at(curves, "A", 80.0, 10) == (2, 0, 8)  # the lowest curve point at or above 80 is 90
    assert counts_at(curves, "A", 95.0, 10) == (0, 0, 10)
    assert counts_at(curves, "A", 70.0, 10) == (5, 1, 5)
    assert counts_at(curves, "A", 60.0, 10) == (5, 1, 5)  # nothing between 60 and 70
    assert counts_at(curves, "A", 50.0, 10) == (8, 4, 2)


def test_mcnemar_against_a_hand_worked_table():
    # b = 1 right only in A, c = 7 right only in B: p = 2 * P(X <= 1), X ~ Bin(8, 1/2) = 2 * 9/256
    assert mcnemar_exact(1, 7) == pytest.approx(18 / 256)
    assert mcnemar_exact(0, 0) == 1.0
