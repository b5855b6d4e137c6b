"""How many labelled images a label needs for its recommended precision and recall to be known to +-h.

Planning rule, per label at its recommendation: recall is a proportion of the positives, so it needs
n_r positives for a Wilson half-width <= h at the observed recall; precision is a proportion of the
predictions (tp + fp), which grow with the dataset, so it needs n_p predictions, i.e. n_p / q positives
where q = (tp + fp) / support predictions per positive. The dataset is assumed to grow in proportion
(positives and negatives by the same factor k, the rates as observed): positives_needed =
max(n_r, ceil(n_p / q)) and negatives_needed = ceil(k * negatives) with k = positives_needed / support.
An undefined rate (no recommendation) is planned at 0.5, the widest interval, with q = 1.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from evaluation.stats.intervals import trials_for_half_width, wilson_half_width

__all__ = ["ADVICE_COLUMNS", "ADVICE_STATUSES", "advice_note", "apply_advice", "data_advice"]

ADVICE_COLUMNS = (
    "label",
    "positives",
    "negatives",
    "positives_needed",
    "negatives_needed",
    "precision_half_width",
    "recall_half_width",
    "status",
)
ADVICE_STATUSES = ("no-positives", "too-few-positives", "enough")


def _counts(frame: pd.DataFrame, name: str) -> np.ndarray:
    return pd.to_numeric(frame[name]).astype("Float64").to_numpy(np.float64, na_value=np.nan)


def data_advice(
    recommendations: pd.DataFrame, *, n_images: int, half_width: float = 0.05, level: float = 0.95
) -> pd.DataFrame:
    """Per label of ``recommendations`` (the frame of :func:`evaluation.stats.thresholds.recommend`:
    label, tp, fp, fn, support, precision, recall): :data:`ADVICE_COLUMNS`.

    ``precision_half_width`` / ``recall_half_width``: the Wilson half-widths now (NaN when undefined).
    ``positives_needed`` / ``negatives_needed``: images of each kind for both half-widths to be <=
    ``half_width`` (see the module's planning rule); negatives_needed is <NA> for a label without
    positives. ``status``: no-positives, too-few-positives (fewer positives than needed) or enough.
    """
    support = recommendations["support"].to_numpy(dtype=np.int64)
    if (support > n_images).any() or n_images < 0:
        raise ValueError(f"support cannot exceed n_images={n_images}")
    tp, fp = _counts(recommendations, "tp"), _counts(recommendations, "fp")
    precision = np.where(tp + fp > 0, tp / np.where(tp + fp > 0, tp + fp, 1.0), np.nan)
    recall = np.where(support > 0, tp / np.maximum(support, 1), np.nan)
    recall = np.where(np.isnan(tp), np.nan, recall)
    needed_recall = trials_for_half_width(recall, half_width, level=level)
    needed_predictions = trials_for_half_width(precision, half_width, level=level)
    per_positive = np.where((support > 0) & (tp + fp > 0), (tp + fp) / np.maximum(support, 1), 1.0)
    per_positive = np.where(np.isnan(per_positive), 1.0, per_positive)
    positives_needed = np.maximum(needed_recall, np.ceil(needed_predictions / per_positive - 1e-9)).astype(
        np.int64
    )
    negatives = n_images - support
    scale = positives_needed / np.maximum(support, 1)
    negatives_needed = pd.array(np.ceil(scale * negatives - 1e-9).astype(np.int64), dtype="Int64")
    negatives_needed[support == 0] = pd.NA
    status = np.where(
        support == 0, "no-positives", np.where(support < positives_needed, "too-few-positives", "enough")
    )
    return pd.DataFrame(
        {
            "label": recommendations["label"].astype(object).to_numpy(),
            "positives": support,
            "negatives": negatives,
            "positives_needed": positives_needed,
            "negatives_needed": negatives_needed,
            "precision_half_width": wilson_half_width(tp, tp + fp, level=level),
            "recall_half_width": wilson_half_width(np.where(np.isnan(tp), np.nan, tp), support, level=level),
            "status": status.astype(object),
        },
        columns=list(ADVICE_COLUMNS),
    )


_SUPERSEDED = ("low-support", "at-floor", "ok")  # statuses the advice outranks (see thresholds.STATUSES)


def advice_note(
    label: str, positives: int, needed: int, negatives_needed: int | None, half_width: float, level: float
) -> str:
    """The advice in words, as report.html and labels.csv's note give it."""
    more = max(needed - positives, 0)
    negatives = "" if negatives_needed is None else f" and about {negatives_needed} negatives in all"
    return (
        f"{positives} positive image(s); about {needed} are needed{negatives} for the {level:.0%} intervals "
        f"on precision and recall to be within +-{half_width:g}: label about {more} more images with {label}"
    )


def apply_advice(
    recommendations: pd.DataFrame, advice: pd.DataFrame, *, half_width: float, level: float
) -> pd.DataFrame:
    """``recommendations`` with ``positives_needed`` and ``negatives_needed`` from ``advice`` (rows in the
    same label order) and the status ``too-few-positives`` where the data cannot support the numbers.

    The status replaces low-support, at-floor and ok (it is more important than those: a number the data
    cannot support is the first thing to know), and joins the flags in every case; the advice is
    added to the note in words ("label about N more images with Cat").
    """
    if list(recommendations["label"]) != list(advice["label"]):
        raise ValueError("advice must have one row per label of recommendations, in the same order")
    out = recommendations.copy()
    out["positives_needed"] = advice["positives_needed"].to_numpy()
    out["negatives_needed"] = advice["negatives_needed"].array
    status, flags, notes = [], [], []
    for row, advised in zip(out.to_dict("records"), advice.to_dict("records"), strict=True):
        current = str(row["status"])
        row_flags = [flag for flag in str(row.get("flags") or "").split(",") if flag]
        row_notes = [str(row.get("note") or "")] if row.get("note") else []
        if advised["status"] == "too-few-positives":
            row_flags = [flag for flag in row_flags if flag != "ok"]
            row_flags.insert(0 if current in _SUPERSEDED else 1, "too-few-positives")
            if current in _SUPERSEDED:
                current = "too-few-positives"
            needed_negatives = advised["negatives_needed"]
            row_notes.insert(
                0,
                advice_note(
                    str(row["label"]),
                    int(advised["positives"]),
                    int(advised["positives_needed"]),
                    None if pd.isna(needed_negatives) else int(needed_negatives),
                    half_width,
                    level,
                ),
            )
        status.append(current)
        flags.append(",".join(row_flags) or current)
        notes.append("; ".join(row_notes))
    out["status"] = pd.Series(status, dtype=object, index=out.index)
    if "flags" in out.columns:
        out["flags"] = pd.Series(flags, dtype=object, index=out.index)
    out["note"] = pd.Series(notes, dtype=object, index=out.index)
    return out
