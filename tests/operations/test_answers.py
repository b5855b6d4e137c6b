import json
from pathlib import Path

import pytest

from evaluation.operations.answers import ResponseShapeError, labels_from_detect_labels

SHARED_FIXTURE = (
    Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "detect_labels_labels_sample.json"
)
LOCAL_FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "detect_labels_labels_sample.json"


def real_labels() -> list[dict]:
    path = LOCAL_FIXTURE if LOCAL_FIXTURE.exists() else SHARED_FIXTURE
    return json.loads(path.read_text())


def test_reads_a_real_answer():
    answer = labels_from_detect_labels({"Labels": real_labels(), "LabelModelVersion": "3.0"})
    by_name = {label.name: label for label in answer.labels}
    assert answer.model_version == "3.0"
    assert len(answer.labels) == 10
    assert by_name["Gown"].parents == ("Clothing", "Dress", "Fashion", "Formal Wear")
    assert by_name["Person"].aliases == ("Human",)
    assert by_name["Flower"].categories == ("Plants and Flowers",)
    woman = by_name["Woman"]
    assert woman.confidence == pytest.approx(99.62248992919922)
    assert woman.instances[0].width == pytest.approx(0.22904235124588013)
    assert woman.instances[0].confidence == pytest.approx(99.62248992919922)
    assert answer.lowest_confidence == pytest.approx(96.31294250488281)


def test_ties_between_child_and_parents_are_kept_exactly():
    answer = labels_from_detect_labels({"Labels": real_labels()})
    tied = {label.name for label in answer.labels if label.confidence == 99.62248992919922}
    assert tied == {"Adult", "Female", "Person", "Woman"}


def test_truncation_at_max_labels():
    answer = labels_from_detect_labels({"Labels": real_labels()})
    assert answer.is_truncated(10)
    assert not answer.is_truncated(1000)


def test_old_and_minimal_answers():
    answer = labels_from_detect_labels(
        {"Labels": [{"Name": "Human", "Confidence": 99.2}], "OrientationCorrection": "ROTATE_0"}
    )
    assert answer.labels[0].parents == ()
    assert answer.labels[0].instances == ()
    assert answer.model_version is None
    assert labels_from_detect_labels({}).labels == ()


@pytest.mark.parametrize("response", [[], {"Labels": [{"Name": "Cat"}]}, {"Labels": [{"Confidence": 3}]}])
def test_malformed_answers_are_refused(response):
    with pytest.raises(ResponseShapeError):
        labels_from_detect_labels(response)


def test_custom_labels_truncation_counts_raw_entries_not_names():
    from evaluation.operations.answers import labels_from_detect_custom_labels

    answer = labels_from_detect_custom_labels(
        {
            "CustomLabels": [
                {"Name": "A", "Confidence": 90.0},
                {"Name": "A", "Confidence": 85.0},
                {"Name": "B", "Confidence": 70.0},
            ]
        }
    )
    assert len(answer.labels) == 2 and answer.entries == 3
    assert answer.is_truncated(3)  # MaxResults=3 cut the raw list, whatever the names
