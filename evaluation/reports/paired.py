"""What compare adds to the per-label table: a paired test per label on the same images, and both runs
side by side at every whole-number threshold (e.g. what a Custom Moderation adapter changed, category by
category)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from evaluation.runfolder import RunFolder


def paired_tests(
    a: RunFolder,
    b: RunFolder,
    table: pd.DataFrame,
    identities: tuple[pd.Series, pd.Series],
    deployed: dict[str, Any] | None = None,
) -> dict[str, dict[str, Any]]:
    """Per label in both runs: McNemar's exact test on the images evaluated in both, each image judged
    right or wrong at a threshold (the deployed one when given, else each run's recommended one). {} when
    a run has no scores.parquet (written before it existed)."""
    scores_a, scores_b = a.scores(), b.scores()
    if scores_a is None or scores_b is None:
        return {}
    from evaluation.stats.paired import paired_comparison

    keys_a, keys_b = identities  # each images.csv row's identity in both runs (compare.match_images)
    answered_a = a.images["status"].isin(("called", "cached")).to_numpy()
    answered_b = b.images["status"].isin(("called", "cached")).to_numpy()
    identity_a = dict(zip(a.images["image"], keys_a, strict=True))
    identity_b = dict(zip(b.images["image"], keys_b, strict=True))
    common = sorted(set(keys_a[answered_a]) & set(keys_b[answered_b]))
    position = {key: i for i, key in enumerate(common)}
    deployed_labels = (deployed or {}).get("labels") or {}
    results: dict[str, dict[str, Any]] = {}

    def vectors(scores: pd.DataFrame, identity: dict[str, str], label: str) -> tuple[np.ndarray, np.ndarray]:
        confidence = np.full(len(common), -np.inf)
        positive = np.zeros(len(common), dtype=bool)
        rows = scores[scores["label"] == label]
        for image, score, truth in zip(rows["image"], rows["confidence"], rows["positive"], strict=True):
            where = position.get(identity.get(image, ""))
            if where is None:
                continue
            if not math.isnan(score):
                confidence[where] = score
            positive[where] = bool(truth)
        return confidence, positive

    for row in table.to_dict("records"):
        label = row["label"]
        if row["_in"] != "both":
            continue
        entry = deployed_labels.get(label) or {}
        if deployed is not None and entry.get("min_confidence") is not None:
            t_a = t_b = float(entry["min_confidence"])
            how = "deployed"
        elif deployed is not None:
            continue  # not deployed: nothing to judge it at
        else:
            t_a = row["min_confidence_a"] if row["min_confidence_a"] is not None else math.inf
            t_b = row["min_confidence_b"] if row["min_confidence_b"] is not None else math.inf
            how = "recommended"
        confidence_a, positive = vectors(scores_a, identity_a, label)
        confidence_b, _ = vectors(scores_b, identity_b, label)
        test = paired_comparison((confidence_a >= t_a) == positive, (confidence_b >= t_b) == positive)
        results[label] = {**test, "decided_at": how}
    return results


def threshold_table(a: RunFolder, b: RunFolder) -> pd.DataFrame | None:
    """Per label in both runs and per whole-number threshold: precision, recall and F1 in A and B, so
    what a change did is visible at every threshold (e.g. an adapter, category by category)."""
    metrics_a, metrics_b = a.metrics(), b.metrics()
    if metrics_a is None or metrics_b is None:
        return None
    keep = ["label", "threshold", "tp", "fp", "fn", "precision", "recall", "f1"]
    merged = metrics_a[keep].merge(metrics_b[keep], on=["label", "threshold"], suffixes=("_a", "_b"))
    for name in ("precision", "recall", "f1"):
        merged[f"{name}_change"] = merged[f"{name}_b"] - merged[f"{name}_a"]
    return merged
