"""Matching rules on hand-made answers: label map, parents, aliases, own confidence first, unjudged."""

import numpy as np
import pytest

from evaluation.labelmap import LabelMap
from evaluation.operations.answers import LabelsAnswer, PredictedLabel
from evaluation.operations.matching import match


def answer(*labels: PredictedLabel) -> LabelsAnswer:
    return LabelsAnswer(labels=labels, model_version="3.0")


CAT = PredictedLabel("Cat", 90.0, parents=("Animal", "Mammal"), aliases=("Kitty",))
DOG = PredictedLabel("Dog", 70.0, parents=("Animal", "Mammal"))


def scores(matched, label: str) -> dict[int, float]:
    pairs = matched.pairs
    index = pairs.labels.index(label)
    chosen = pairs.label_idx == index
    return dict(zip(pairs.image_idx[chosen].tolist(), pairs.confidence[chosen].tolist(), strict=True))


def test_parents_count_at_the_best_childs_confidence_unless_returned_on_their_own():
    answers = [answer(CAT, DOG), answer(DOG, PredictedLabel("Animal", 40.0)), answer()]
    truths = [frozenset({"Animal"}), frozenset(), frozenset({"Animal"})]
    matched = match(answers, truths, vocabulary=["Animal"])
    # image 0: Cat 90 and Dog 70 both imply Animal -> 90; image 1: Animal returned at 40 keeps 40
    assert scores(matched, "Animal") == {0: 90.0, 1: 40.0}
    assert matched.pairs.support.tolist() == [2]
    assert matched.pairs.is_true.tolist() == [True, False]
    without = match(answers, truths, vocabulary=["Animal"], use_parents=False)
    assert scores(without, "Animal") == {1: 40.0}


def test_label_map_case_and_spacing_and_aliases():
    answers = [answer(CAT), answer(PredictedLabel("Formal  Wear", 88.0))]
    truths = [frozenset({"pet"}), frozenset({"suit"})]
    label_map = LabelMap.from_dict({"pet": ["kitty", "Dog"], "suit": "formal wear"})
    matched = match(answers, truths, vocabulary=["pet", "suit"], label_map=label_map)
    assert scores(matched, "pet") == {0: 90.0}  # through Cat's alias Kitty
    assert scores(matched, "suit") == {1: 88.0}
    assert set(matched.unjudged["name"]) == {"Cat"}  # Mammal and Animal are implied, not returned


def test_unjudged_counts_images_and_confidences():
    answers = [answer(CAT, DOG), answer(PredictedLabel("Dog", 20.0))]
    matched = match(answers, [frozenset({"Cat"}), frozenset()], vocabulary=["Cat"])
    dog = matched.unjudged.set_index("name").loc["Dog"]
    assert dog["images"] == 2 and dog["max_confidence"] == 70.0 and dog["mean_confidence"] == 45.0


def test_predictions_below_the_floor_are_not_predictions():
    answers = [answer(CAT), answer(PredictedLabel("Cat", 55.0))]
    matched = match(answers, [frozenset({"Cat"}), frozenset()], vocabulary=["Cat"], floor=60.0)
    assert scores(matched, "Cat") == {0: 90.0}
    assert matched.pairs.floor == 60.0


def test_a_label_nobody_predicted_still_has_its_support():
    matched = match([answer(), answer()], [frozenset({"Zebra"}), frozenset({"Zebra"})], vocabulary=["Zebra"])
    assert matched.pairs.support.tolist() == [2] and matched.pairs.n_pairs == 0
    assert np.asarray(matched.pairs.confidence).size == 0


def test_answers_and_truths_must_line_up():
    with pytest.raises(ValueError, match="2 answers for 1"):
        match([answer(), answer()], [frozenset()], vocabulary=["Cat"])


def test_a_label_map_entry_for_no_dataset_label_is_reported(caplog):
    import logging

    from evaluation.analysis import warn_about_unused_map_entries as _warn_about_unused_map_entries

    with caplog.at_level(logging.WARNING):
        _warn_about_unused_map_entries(
            LabelMap.from_dict({"Tripd": ["Tripod"], "cat": "Cat"}), ["Cat", "Dog"]
        )
    assert "'Tripd' match no label of the dataset" in caplog.text and "'cat'" not in caplog.text
