"""`--operation moderation`: the adapter, the taxonomy roll-up worked by hand, and the image-level flag."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml

from evaluation.operations.answers import ResponseShapeError
from evaluation.operations.moderation import Taxonomy, read_moderation
from evaluation.pipeline import evaluate, reanalyse
from evaluation.stats.thresholds import min_confidence_to_use
from tests.support.fake_rekognition import moderation_label as ml
from tests.support.images import png_bytes
from tests.support.operations import check_run_folder, run_operation

EXPLICIT = [
    ml("Explicit", 95.0),
    ml("Explicit Nudity", 94.0, "Explicit", 2),
    ml("Exposed Male Genitalia", 90.0, "Explicit Nudity", 3),
]
ANSWERS = {
    "a": (EXPLICIT, "Exposed Male Genitalia"),
    "b": ([ml("Alcohol", 60.0), ml("Drinking", 55.0, "Alcohol", 2)], ""),  # safe, and Alcohol is unjudged
    "c": (
        [
            ml("Swimwear or Underwear", 30.0),
            ml("Female Swimwear or Underwear", 28.0, "Swimwear or Underwear", 2),
        ],
        "Swimwear or Underwear",
    ),
    "d": ([], "Explicit Nudity"),  # missed
    "e": ([ml("Explicit Nudity", 70.0, "Explicit", 2)], ""),  # a false alarm, without its parent returned
}


def test_the_adapter_reads_the_documented_shape():
    answer = read_moderation(
        {
            "ModerationLabels": EXPLICIT,
            "ModerationModelVersion": "7.0",
            "ContentTypes": [{"Confidence": 99.0, "Name": "Animated"}],
        }
    )
    assert answer.model_version == "7.0" and answer.content_types == ("Animated",)
    assert [(label.name, label.parent, label.level) for label in answer.labels] == [
        ("Explicit", "", 1),
        ("Explicit Nudity", "Explicit", 2),
        ("Exposed Male Genitalia", "Explicit Nudity", 3),
    ]
    assert answer.lowest_confidence == 90.0
    with pytest.raises(ResponseShapeError):
        read_moderation({"ModerationLabels": [{"Name": "Explicit"}]})


def test_levels_without_taxonomy_level_come_from_the_parents():
    old = read_moderation(
        {
            "ModerationLabels": [
                {"Name": "Suggestive", "Confidence": 80.0, "ParentName": ""},
                {"Name": "Female Swimwear Or Underwear", "Confidence": 80.0, "ParentName": "Suggestive"},
            ]
        }
    )
    taxonomy = Taxonomy([old])
    assert taxonomy.level_of("female swimwear or underwear") == 2
    assert taxonomy.root("Female Swimwear Or Underwear") == "Suggestive"
    assert taxonomy.level_of("Hate Symbols") is None


@pytest.fixture
def dataset(tmp_path, fake_rekognition):
    rows = []
    for name, (labels, truth) in ANSWERS.items():
        data = png_bytes(100, 100, seed=ord(name))
        (tmp_path / f"{name}.png").write_bytes(data)
        fake_rekognition.script("DetectModerationLabels", data, labels)
        rows.append(f"{name}.png,{truth}")
    path = tmp_path / "moderation.csv"
    path.write_text("image,labels\n" + "\n".join(rows) + "\n")
    return path


def run(dataset, endpoint, tmp_path, **options):
    return evaluate(
        dataset,
        operation="moderation",
        endpoint_url=endpoint.url,
        region="us-east-1",
        cache=tmp_path / "c.sqlite",
        progress=False,
        min_support=1,
        **options,
    )


def at(result, label, threshold):
    rows = result.curves[(result.curves["label"] == label) & (result.curves["threshold"] >= threshold)]
    row = rows.sort_values("threshold").iloc[0]
    return int(row["tp"]), int(row["fp"]), int(row["fn"]), int(row["tn"])


def test_roll_up_worked_by_hand(dataset, endpoint, tmp_path, fake_rekognition):
    result = run(dataset, endpoint, tmp_path)
    assert list(result.labels["label"]) == [
        "Explicit Nudity",
        "Exposed Male Genitalia",
        "Swimwear or Underwear",
        "Explicit",
    ]
    table = result.labels.set_index("label")
    assert table.loc["Explicit", "rolled_up"] and not table.loc["Explicit Nudity", "rolled_up"]
    assert list(table["level"]) == [2, 3, 1, 1]
    assert list(table["category"]) == ["Explicit", "Explicit", "Swimwear or Underwear", "Explicit"]
    # Explicit: a (95, from itself and below) and e (70, from Explicit Nudity) predicted; a and d positive
    assert table.loc["Explicit", "support"] == 2
    assert at(result, "Explicit", 70) == (1, 1, 1, 2)
    assert at(result, "Explicit", 95) == (1, 0, 1, 3)
    # Explicit Nudity takes its level-3 child's confidence only below its own: a at 94
    assert at(result, "Explicit Nudity", 94) == (1, 0, 1, 3)
    assert at(result, "Exposed Male Genitalia", 90) == (1, 0, 0, 4)
    assert at(result, "Swimwear or Underwear", 30) == (1, 0, 0, 4)
    assert result.unjudged["name"].tolist() == ["Alcohol", "Drinking"]
    assert result.summary["model_versions"] == ["7.0"]
    assert result.summary["request"]["MinConfidence"] == 0.0
    assert all(request["MinConfidence"] == 0.0 for request in fake_rekognition.requests)


def test_the_image_flag_worked_by_hand(dataset, endpoint, tmp_path):
    """Flag scores a 95, c 30, e 70; unsafe a, c, d. At 30: tp 2, fp 1, fn 1 (F1 2/3, the best); at 70:
    F1 0.4; at 95: F1 0.5."""
    result = run(dataset, endpoint, tmp_path, out=tmp_path / "run")
    flag = result.summary["evaluation"]["image_flag"]
    # the value sent is the robust middle of the range that gives these counts, (0, 30]
    assert flag["threshold"] == 30.0 and 0.0 < flag["min_confidence"] <= 30.0
    assert flag["min_confidence"] == min_confidence_to_use(30.0, result.summary["floor"]["evaluated_from"])
    assert flag["precision"] == pytest.approx(2 / 3, abs=1e-4) and flag["recall"] == pytest.approx(
        2 / 3, abs=1e-4
    )
    assert (flag["unsafe_images"], flag["images"]) == (3, 5)
    curve = pd.read_csv(tmp_path / "run" / "moderation_flag.csv").set_index("threshold")
    assert curve.loc[70.0, "f1"] == pytest.approx(0.4) and curve.loc[95.0, "f1"] == pytest.approx(0.5)
    thresholds = yaml.safe_load((tmp_path / "run" / "thresholds.yaml").read_text())
    assert thresholds["image_flag"]["min_confidence"] == flag["min_confidence"]
    assert thresholds["labels"]["Explicit"]["min_confidence"] is not None  # the threshold per category
    assert (
        "flag an image when any label reaches MinConfidence" in (tmp_path / "run" / "report.md").read_text()
    )


def test_without_parents_only_the_label_itself_counts(dataset, endpoint, tmp_path):
    """Nothing rolls up: a's ground truth (a level-3 label) is no longer Explicit Nudity, nor Explicit."""
    result = run(dataset, endpoint, tmp_path, use_parents=False)
    assert at(result, "Explicit Nudity", 70) == (0, 2, 1, 2)  # a's own 94 and e's 70 are false; d missed
    assert at(result, "Explicit", 95) == (0, 1, 0, 4)
    assert result.labels.set_index("label").loc["Explicit", "status"] == "no-positives"


def test_a_moderation_run_reanalyses_from_its_folder(dataset, endpoint, tmp_path):
    first = run(dataset, endpoint, tmp_path, out=tmp_path / "run")
    dataset.unlink()
    again = reanalyse(tmp_path / "run")
    pd.testing.assert_frame_equal(again.labels, first.labels)
    assert again.summary["evaluation"]["image_flag"] == first.summary["evaluation"]["image_flag"]


def test_run_operation_moderation(dataset, endpoint, tmp_path):
    out = tmp_path / "cli"
    code = run_operation("moderation", dataset, endpoint, tmp_path, out)
    assert code == 0
    summary = check_run_folder(out, "moderation", tmp_path)
    assert summary["api"] == "DetectModerationLabels"
    assert json.loads((out / "run.json").read_text())["request"] == {
        "MinConfidence": 0.0,
        "Endpoint": endpoint.url,
    }


def test_replay_answers_a_moderation_run_from_the_cache(dataset, endpoint, tmp_path, fake_rekognition):
    first = run(dataset, endpoint, tmp_path)
    calls = sum(fake_rekognition.calls.values())
    again = run(dataset, endpoint, tmp_path, backend="replay")
    assert sum(fake_rekognition.calls.values()) == calls and again.summary["cache_hits"] == 5
    pd.testing.assert_frame_equal(again.labels, first.labels)
    labels_cache = evaluate(
        dataset,
        endpoint_url=endpoint.url,
        region="us-east-1",
        cache=tmp_path / "c.sqlite",
        progress=False,
        backend="replay",
    )
    assert labels_cache.summary["images"]["evaluated"] == 0  # DetectLabels answers are not moderation's


def test_the_image_flag_min_confidence_is_rounded_down_from_the_exact_threshold():
    """Issue 18 item 4: a label at 79.9999996 decides; rounding the threshold to 6 decimals first gave 80.0,
    a MinConfidence that flags nothing. Sent to the service, the MinConfidence must keep that image."""
    from evaluation.operations.moderation import image_flag

    _, flag = image_flag({0: 79.9999996, 1: 50.0}, [{0}, set()], 2, 0.0)
    assert flag["recall"] == 1.0 and flag["precision"] == 1.0
    assert 50.0 < flag["min_confidence"] <= 79.9999996
    # what the service would flag at that MinConfidence: every image with a label >= it
    assert [confidence >= flag["min_confidence"] for confidence in (79.9999996, 50.0)] == [True, False]


def test_review_band_writes_a2i_conditions_in_the_documented_shape(dataset, endpoint, tmp_path):
    """The notebook API's keywords map onto the same options as the CLI's."""
    from evaluation.stats.review_band import a2i_problems

    result = run(
        dataset,
        endpoint,
        tmp_path,
        out=tmp_path / "run",
        review_band=True,
        max_errors=0.4,
        confidence_level=0.9,
        resamples=50,
        seed=4,
    )
    document = json.loads((tmp_path / "run" / "a2i_activation_conditions.json").read_text())
    assert a2i_problems(document) == []
    band = pd.read_csv(tmp_path / "run" / "review_band.csv")
    reviewed = band[band["reviewed"] > 0]
    names = json.dumps(document)
    for row in reviewed.itertuples():
        assert f'"ModerationLabelName": "{row.label}"' in names
    assert result.summary["intervals"]["level"] == 0.9 and result.summary["intervals"]["resamples"] == 50
    again = reanalyse(tmp_path / "run", review_band=False, cache=tmp_path / "c.sqlite")
    assert "review_band" not in again.extra_tables and again.summary["intervals"]["seed"] == 4
