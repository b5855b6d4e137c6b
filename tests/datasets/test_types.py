"""The shared types: what a box accepts, how a bad line prints, and the support count."""

from __future__ import annotations

import math

import pytest

from evaluation.datasets import BadLine, Dataset, DatasetItem, GroundTruthBox
from evaluation.images import ImageRef


def test_a_bad_line_prints_as_path_line_problem() -> None:
    assert (
        str(BadLine("data/test.manifest", 17, 'no "source-ref"')) == 'data/test.manifest:17: no "source-ref"'
    )
    assert str(BadLine("data/pets", 0, "not a folder")) == "data/pets: not a folder"


@pytest.mark.parametrize(
    "left, top, width, height, problem",
    [
        (0.1, 0.1, 0.0, 0.5, "must be positive"),
        (0.1, 0.1, 0.5, -0.1, "must be positive"),
        (math.nan, 0.1, 0.5, 0.5, "left is not a finite number"),
        (0.1, math.inf, 0.5, 0.5, "top is not a finite number"),
    ],
)
def test_a_box_refuses_impossible_geometry(
    left: float, top: float, width: float, height: float, problem: str
) -> None:
    with pytest.raises(ValueError, match=problem):
        GroundTruthBox("Dog", left, top, width, height)


def test_a_box_may_reach_outside_the_image_like_rekognitions_own() -> None:
    box = GroundTruthBox("Dog", left=-0.01, top=0.5, width=0.6, height=0.6)
    assert box.left + box.width < 1 and box.top + box.height > 1


def test_support_lists_every_vocabulary_label() -> None:
    items = [
        DatasetItem(ImageRef("s3://b/a.jpg"), frozenset({"Dog", "Cat"}), "m:1"),
        DatasetItem(ImageRef("s3://b/b.jpg"), frozenset({"Dog"}), "m:2"),
        DatasetItem(ImageRef("s3://b/c.jpg"), frozenset(), "m:3"),
    ]
    dataset = Dataset("m", "m", "manifest", items, [], ("Bird", "Cat", "Dog"))
    assert dataset.support() == {"Bird": 0, "Cat": 1, "Dog": 2}
    assert dataset.ignored_labels == {} and dataset.machine_labeled == 0 and dataset.ignored_files == []
