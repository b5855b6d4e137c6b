"""From answers and ground truth to scored (image, label) pairs for the dataset's vocabulary.

Three rules decide what counts as a prediction of a dataset label:
- the label map says which Rekognition names count for it (a label not in the map counts for itself);
- names are compared after `normalize_name` (case and spacing do not matter);
- with `use_parents` (the default) a label's Parents, and its Aliases, count as predicted at that
  label's confidence when the service did not return them on their own; a name returned on its own
  keeps its own confidence.
Names that map to no label of the vocabulary are not false positives: the ground truth says nothing
about them. They are counted as unjudged instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from evaluation.adapters import LabelsAnswer
from evaluation.labelmap import LabelMap, normalize_name
from evaluation.metrics import ScoredPairs

DIRECT, IMPLIED = 0, 1


@dataclass(frozen=True)
class Matched:
    pairs: ScoredPairs
    unjudged: pd.DataFrame  # name, images, max_confidence, mean_confidence


def predictions_frame(answers: Sequence[LabelsAnswer], *, use_parents: bool = True) -> pd.DataFrame:
    """Long table of every name an answer predicts: image (position), name, display, confidence, direct."""
    images: list[int] = []
    names: list[str] = []
    confidences: list[float] = []
    kinds: list[int] = []
    for position, answer in enumerate(answers):
        for label in answer.labels:
            images.append(position)
            names.append(label.name)
            confidences.append(label.confidence)
            kinds.append(DIRECT)
            if use_parents:
                for implied in (*label.parents, *label.aliases):
                    images.append(position)
                    names.append(implied)
                    confidences.append(label.confidence)
                    kinds.append(IMPLIED)
    frame = pd.DataFrame(
        {
            "image": np.asarray(images, dtype=np.int64),
            "display": pd.Series(names, dtype=object),
            "confidence": np.asarray(confidences, dtype=np.float64),
            "kind": np.asarray(kinds, dtype=np.int8),
        }
    )
    frame["name"] = frame["display"].map(normalize_name) if len(frame) else pd.Series(dtype=object)
    return _own_confidence_wins(frame)


def _own_confidence_wins(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per (image, name): the direct confidence if returned on its own, else the best implied."""
    if frame.empty:
        return frame.assign(direct=pd.Series(dtype=bool)).drop(columns="kind")
    ordered = frame.sort_values(["image", "name", "kind", "confidence"], ascending=[True, True, True, False])
    first = ordered.drop_duplicates(["image", "name"], keep="first")
    return first.assign(direct=first["kind"] == DIRECT).drop(columns="kind").reset_index(drop=True)


def match(
    answers: Sequence[LabelsAnswer],
    truths: Sequence[frozenset[str]],
    *,
    vocabulary: Sequence[str],
    label_map: LabelMap | None = None,
    use_parents: bool = True,
    floor: float = 0.0,
) -> Matched:
    """Score every (image, vocabulary label) pair that was predicted; answers[i] belongs to truths[i]."""
    if len(answers) != len(truths):
        raise ValueError(f"{len(answers)} answers for {len(truths)} ground-truth entries")
    label_map = label_map or LabelMap.identity()
    labels = tuple(vocabulary)
    n_labels = len(labels)
    targets = pd.DataFrame(
        [
            (normalize_name(target), index)
            for index, label in enumerate(labels)
            for target in label_map.targets(label)
        ],
        columns=["name", "label_idx"],
    ).drop_duplicates()

    predicted = predictions_frame(answers, use_parents=use_parents)
    joined = predicted.merge(targets, on="name", how="inner")
    best = joined.groupby(["image", "label_idx"], sort=True)["confidence"].max().reset_index()
    best = best[best["confidence"] >= floor]  # below the floor nothing is known: not a prediction

    label_position = {normalize_name(label): index for index, label in enumerate(labels)}
    truth_codes = np.fromiter(
        (
            image * n_labels + label_position[normalize_name(label)]
            for image, truth in enumerate(truths)
            for label in truth
            if normalize_name(label) in label_position
        ),
        dtype=np.int64,
    )
    support = np.bincount(truth_codes % n_labels, minlength=n_labels) if n_labels else np.zeros(0, np.int64)
    image_idx = best["image"].to_numpy(np.int64)
    label_idx = best["label_idx"].to_numpy(np.int64)
    is_true = np.isin(image_idx * n_labels + label_idx, truth_codes)
    pairs = ScoredPairs(
        labels=labels,
        n_images=len(answers),
        support=support.astype(np.int64),
        label_idx=label_idx,
        image_idx=image_idx,
        confidence=best["confidence"].to_numpy(np.float64),
        is_true=is_true,
        floor=float(floor),
    )
    return Matched(pairs=pairs, unjudged=_unjudged(predicted, set(targets["name"])))


def _unjudged(predicted: pd.DataFrame, judged_names: set[str]) -> pd.DataFrame:
    """Names the service returned on its own that no vocabulary label claims."""
    direct = predicted[predicted["direct"] & ~predicted["name"].isin(judged_names)]
    if direct.empty:
        return pd.DataFrame(columns=["name", "images", "max_confidence", "mean_confidence"])
    grouped = direct.groupby("name").agg(
        display=("display", "first"),
        images=("image", "nunique"),
        max_confidence=("confidence", "max"),
        mean_confidence=("confidence", "mean"),
    )
    table = grouped.reset_index(drop=True).rename(columns={"display": "name"})
    return table.sort_values(["images", "name"], ascending=[False, True]).reset_index(drop=True)
