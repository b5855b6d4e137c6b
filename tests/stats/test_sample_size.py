"""evaluation.stats.sample_size: data advice checked against the Wilson function itself."""

from __future__ import annotations

import numpy as np
import pandas as pd

from evaluation.stats.intervals import wilson_half_width
from evaluation.stats.sample_size import ADVICE_COLUMNS, data_advice


def recommendations() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "label": ["Cat", "Dog", "Bird", "Empty"],
            "tp": pd.array([6, 450, pd.NA, pd.NA], dtype="Int64"),
            "fp": pd.array([0, 50, pd.NA, pd.NA], dtype="Int64"),
            "fn": pd.array([0, 50, pd.NA, pd.NA], dtype="Int64"),
            "support": [6, 500, 20, 0],
        }
    )


def test_advice_per_label() -> None:
    advice = data_advice(recommendations(), n_images=1000).set_index("label")
    assert list(advice.reset_index().columns) == list(ADVICE_COLUMNS)
    cat = advice.loc["Cat"]
    # precision and recall 6/6: 35 trials for a half-width of 0.05 (z^2/(2(n + z^2)) <= 0.05)
    assert cat["positives_needed"] == 35 and cat["status"] == "too-few-positives"
    assert cat["negatives_needed"] == np.ceil(35 / 6 * 994 - 1e-9)
    dog = advice.loc["Dog"]
    assert dog["status"] == "enough" and dog["positives_needed"] <= 500
    assert wilson_half_width(450, 500) <= 0.05 and wilson_half_width(450, 500) == dog["recall_half_width"]
    assert (
        advice.loc["Bird", "status"] == "too-few-positives" and advice.loc["Bird", "positives_needed"] == 381
    )
    assert advice.loc["Empty", "status"] == "no-positives" and pd.isna(
        advice.loc["Empty", "negatives_needed"]
    )


def test_needed_counts_give_the_half_width_at_the_same_rates() -> None:
    frame = pd.DataFrame(
        {"label": ["A"], "tp": [8], "fp": [2], "fn": [4], "support": [12]},
    )
    advice = data_advice(frame, n_images=200, half_width=0.1).iloc[0]
    scale = advice["positives_needed"] / 12
    assert wilson_half_width(8 * scale, 12 * scale) <= 0.1  # recall
    assert wilson_half_width(8 * scale, 10 * scale) <= 0.1 + 1e-9  # precision: predictions grow with it
    smaller = (advice["positives_needed"] - 1) / 12
    assert (
        max(wilson_half_width(8 * smaller, 12 * smaller), wilson_half_width(8 * smaller, 10 * smaller)) > 0.1
    )
