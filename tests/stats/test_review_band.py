"""evaluation.stats.review_band: counts equal a brute-force count; the A2I document has AWS's shape."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from evaluation.stats.metrics import exact_curves
from evaluation.stats.review_band import (
    BAND_COLUMNS,
    a2i_activation_conditions,
    a2i_problems,
    review_band,
)
from tests.support.scored import random_case


def brute_force(pairs, index: int, max_errors: float, max_reviews: float):
    """Every (upper, lower) pair over the label's confidences and inf, counted image by image."""
    mine = pairs.label_idx == index
    confidence, truth = pairs.confidence[mine], pairs.is_true[mine]
    support = int(pairs.support[index])
    values = [math.inf, *sorted(set(confidence.tolist()), reverse=True)]
    options = []
    for a, upper in enumerate(values):
        for b in range(a, len(values)):
            lower = values[b]
            accepted = confidence >= upper
            reviewed = (confidence >= lower) & ~accepted
            errors = int((accepted & ~truth).sum()) + support - int(((accepted | reviewed) & truth).sum())
            options.append((int(reviewed.sum()), errors, a, b, upper, lower))
    feasible = [o for o in options if o[1] <= max_errors + 1e-9 and o[0] <= max_reviews + 1e-9]
    if feasible:
        return min(feasible), True
    within = [o for o in options if o[0] <= max_reviews + 1e-9]
    return min(within, key=lambda o: (o[1], o[0], o[2], o[3])), False


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize(("error_rate", "review_rate"), [(0.0, 1.0), (0.05, 1.0), (0.02, 0.1), (0.1, 0.02)])
def test_band_equals_brute_force(seed: int, error_rate: float, review_rate: float) -> None:
    pairs, _, _ = random_case(seed, n_images=40, n_labels=4)
    band = review_band(
        exact_curves(pairs),
        labels=pairs.labels,
        support=pairs.support,
        n_images=pairs.n_images,
        max_error_rate=error_rate,
        max_review_rate=review_rate,
    )
    assert list(band.columns) == list(BAND_COLUMNS)
    for index in range(pairs.n_labels):
        (reviews, errors, _, _, upper, lower), feasible = brute_force(
            pairs, index, error_rate * pairs.n_images, review_rate * pairs.n_images
        )
        row = band.iloc[index]
        assert (row["reviewed"], row["errors_left"]) == (reviews, errors)
        assert (row["upper"], row["lower"]) == (upper, lower)
        assert (row["status"] != "infeasible") == feasible
        # the counts, recounted at the band's own thresholds
        mine = pairs.label_idx == index
        assert row["accepted"] == int((mine & (pairs.confidence >= row["upper"])).sum())
        assert row["review_rate"] == pytest.approx(reviews / pairs.n_images)


def moderation_band() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "label": ["Suggestive", "Graphic Male Nudity", "Hate Symbols", "Drugs"],
            "upper": [98.0, math.inf, 90.0, 70.0],
            "lower": [60.0, 80.0, 90.0, math.inf],
        }
    )


def test_a2i_conditions_have_the_documented_shape() -> None:
    document = a2i_activation_conditions(moderation_band())
    assert a2i_problems(document) == []
    assert json.loads(json.dumps(document)) == document
    (top,) = document["Conditions"]
    members = top["Or"]
    assert len(members) == 2  # Hate Symbols has no band (upper == lower), Drugs is rejected outright
    suggestive = members[0]["And"]
    assert suggestive[0] == {
        "ConditionType": "ModerationLabelConfidenceCheck",
        "ConditionParameters": {"ModerationLabelName": "Suggestive", "ConfidenceGreaterThanEquals": 60.0},
    }
    assert suggestive[1]["ConditionParameters"] == {
        "ModerationLabelName": "Suggestive",
        "ConfidenceLessThan": 98.0,
    }
    assert members[1]["ConditionParameters"]["ConfidenceGreaterThanEquals"] == 80.0
    one = a2i_activation_conditions(moderation_band().iloc[:1])
    assert "Or" not in one["Conditions"][0] and a2i_problems(one) == []  # Or needs two members
    assert a2i_activation_conditions(moderation_band().iloc[2:]) == {"Conditions": []}
    spelled = a2i_activation_conditions(moderation_band(), greater_equal_key="ConfidenceGreaterThanOrEqual")
    assert a2i_problems(spelled) == []


DOCUMENTED_EXAMPLE = {  # example 1 of the A2I guide for Rekognition, as published
    "Conditions": [
        {
            "Or": [
                {
                    "And": [
                        {
                            "ConditionType": "ModerationLabelConfidenceCheck",
                            "ConditionParameters": {
                                "ModerationLabelName": "Graphic Male Nudity",
                                "ConfidenceLessThanOrEqual": 99,
                            },
                        },
                        {
                            "ConditionType": "ModerationLabelConfidenceCheck",
                            "ConditionParameters": {
                                "ModerationLabelName": "Graphic Male Nudity",
                                "ConfidenceGreaterThanOrEqual": 90,
                            },
                        },
                    ]
                },
                {"ConditionType": "Sampling", "ConditionParameters": {"RandomSamplingPercentage": 5}},
            ]
        }
    ]
}


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ({"Conditions": [{"Or": [{"ConditionType": "Sampling"}]}]}, "at least 2"),
        ({"Conditions": [{"ConditionType": "Bogus", "ConditionParameters": {}}]}, "not one"),
        ({"conditions": []}, "exactly one key"),
        (
            {
                "Conditions": [
                    {
                        "ConditionType": "ModerationLabelConfidenceCheck",
                        "ConditionParameters": {"ModerationLabelName": "X", "ConfidenceLessThan": 101},
                    }
                ]
            },
            "in [0, 100]",
        ),
        (
            {
                "Conditions": [
                    {
                        "Or": [
                            {"And": [{"Or": [DOCUMENTED_EXAMPLE["Conditions"][0]["Or"][1]] * 2}] * 2},
                            {
                                "ConditionType": "Sampling",
                                "ConditionParameters": {"RandomSamplingPercentage": 5},
                            },
                        ]
                    }
                ]
            },
            "two levels",
        ),
        (
            {
                "Conditions": [
                    {"ConditionType": "Sampling", "ConditionParameters": {"RandomSamplingPercentage": 0}}
                ]
            },
            "0.01",
        ),
    ],
)
def test_a2i_validation_catches_departures(document: dict, problem: str) -> None:
    assert a2i_problems(DOCUMENTED_EXAMPLE) == []
    assert any(problem in text for text in a2i_problems(document)), a2i_problems(document)
