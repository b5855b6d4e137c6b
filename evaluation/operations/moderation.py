"""`--operation moderation`: DetectModerationLabels against image labels given at any level of the taxonomy.

- API and request: DetectModerationLabels with MinConfidence 0 (the service's default is 50), so one
  call answers every threshold above.
- Limits: the image operations' (DETECT_LABELS_LIMITS: 5 MB as bytes, 15 MB in S3, 80-10,000 px).
- Adapter: `read_moderation` below, the only reader of its response: ModerationLabels (Name,
  Confidence, ParentName, TaxonomyLevel) and ModerationModelVersion (kept with every answer; top-level
  names changed in model 7, so compare runs by version).
- Ground truth: image labels, as for `labels` (CSV, manifest, folders), at any level: "Explicit" (level
  1), "Explicit Nudity" (level 2) or one of its level-3 labels. An image without labels is safe.
- Taxonomy: learnt from the answers themselves (each label names its parent and level), so it follows
  the model version that answered; a ground-truth name no answer ever returned stays a label of its own
  (the report lists it).
- Scoring, per image and dataset label X: X is predicted at the highest confidence of any returned label
  that is X or below X in the taxonomy (an application that blocks X blocks every kind of X); the image
  is a positive of X when its ground truth names X or anything below X. With --no-parents only X itself
  counts. Every level-1 category above a dataset label is added as a row of its own (the roll-up), so
  the threshold per category is always there. --label-map works as for labels.
- The image-level decision "flag if any label >= t" (over the labels the dataset judges) has its own
  curve (moderation_flag.csv) and recommended threshold (thresholds.yaml: image_flag).
- report.html shows no thumbnails for this operation: the images are unsafe content by design.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from evaluation.datasets import DatasetItem
from evaluation.images import DETECT_LABELS_LIMITS
from evaluation.labelmap import LabelMap, normalize_name
from evaluation.operations.answers import ResponseShapeError
from evaluation.operations.base import (
    Operation,
    Scored,
    markdown_table,
    markdown_text,
    positive_pairs,
    rounded,
)
from evaluation.stats.metrics import ScoredPairs, average_precision, exact_curves
from evaluation.stats.thresholds import Objective, min_confidence_to_use, recommend

FLAG = "(any label)"  # the name of the image-level decision's curve


@dataclass(frozen=True)
class ModerationLabel:
    name: str
    confidence: float
    parent: str  # "" for a level-1 category
    level: int | None


@dataclass(frozen=True)
class ModerationAnswer:
    """What DetectModerationLabels said about one image."""

    labels: tuple[ModerationLabel, ...]
    model_version: str | None
    content_types: tuple[str, ...] = ()

    @property
    def lowest_confidence(self) -> float | None:
        return min((label.confidence for label in self.labels), default=None)

    @property
    def truncated(self) -> bool:
        return False  # the operation has no MaxLabels: nothing is cut


def read_moderation(response: Mapping[str, Any]) -> ModerationAnswer:
    """Read a DetectModerationLabels response (as boto3 returns it, or as stored JSON)."""
    entries = response.get("ModerationLabels", []) if isinstance(response, Mapping) else None
    if not isinstance(entries, Sequence) or isinstance(entries, str):
        raise ResponseShapeError(
            "a DetectModerationLabels response must be an object with a ModerationLabels list"
        )
    labels = []
    for raw in entries:
        try:
            name, confidence = str(raw["Name"]), float(raw["Confidence"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ResponseShapeError(
                f"moderation label without a Name and a numeric Confidence: {raw!r}"
            ) from exc
        level = raw.get("TaxonomyLevel")
        labels.append(
            ModerationLabel(name, confidence, str(raw.get("ParentName") or ""), int(level) if level else None)
        )
    version = response.get("ModerationModelVersion")
    types = tuple(
        str(entry.get("Name")) for entry in response.get("ContentTypes") or () if isinstance(entry, Mapping)
    )
    return ModerationAnswer(tuple(labels), str(version) if version is not None else None, types)


class Taxonomy:
    """Parent and level of every name the answers returned, compared without case and spacing."""

    def __init__(self, answers: Sequence[ModerationAnswer]) -> None:
        self.parent: dict[str, str] = {}
        self.level: dict[str, int] = {}
        self.display: dict[str, str] = {}
        for answer in answers:
            for label in answer.labels:
                key = normalize_name(label.name)
                self.display.setdefault(key, label.name)
                if label.parent:
                    self.parent.setdefault(key, normalize_name(label.parent))
                    self.display.setdefault(normalize_name(label.parent), label.parent)
                if label.level:
                    self.level.setdefault(key, label.level)

    def chain(self, name: str) -> list[str]:
        """The name and its ancestors, nearest first (normalised)."""
        chain = [normalize_name(name)]
        while chain[-1] in self.parent and self.parent[chain[-1]] not in chain:
            chain.append(self.parent[chain[-1]])
        return chain

    def known(self, name: str) -> bool:
        key = normalize_name(name)
        return key in self.display

    def level_of(self, name: str) -> int | None:
        chain = self.chain(name)
        if chain[0] in self.level:
            return self.level[chain[0]]
        return len(chain) if self.known(name) else None

    def root(self, name: str) -> str:
        return self.display.get(self.chain(name)[-1], name)


class ModerationOperation(Operation):
    name = "moderation"
    api = "DetectModerationLabels"
    limits = DETECT_LABELS_LIMITS
    needs = "image labels (an empty label list is a safe image)"

    def request(self, *, min_confidence: float, max_labels: int) -> dict[str, Any]:
        return {"MinConfidence": float(min_confidence)}

    def read(self, response: Mapping[str, Any]) -> ModerationAnswer:
        return read_moderation(response)

    def ground_truth(self, item: DatasetItem) -> dict[str, Any]:
        return {"labels": sorted(item.labels)}

    def image_columns(self, response: Mapping[str, Any], request: Mapping[str, Any]) -> dict[str, Any]:
        """ContentTypes (animated, illustrated, ...) and, when an adapter was asked, who answered: the
        adapter, or the base model (an EXPIRED adapter is ignored and the response names none)."""
        columns: dict[str, Any] = {}
        answer = read_moderation(response)
        if answer.content_types:
            columns["content_types"] = ";".join(answer.content_types)
        if request.get("ProjectVersion"):
            columns["answered_by"] = str(response.get("ProjectVersion") or "base model")
        return columns

    def describes_images(self, request: Mapping[str, Any]) -> bool:
        return True

    def vocabulary(self, declared: Sequence[str], truths: Sequence[Mapping[str, Any]]) -> tuple[str, ...]:
        if declared:
            return tuple(declared)
        names = {str(name) for truth in truths for name in truth.get("labels", ())}
        return tuple(sorted(names, key=lambda name: (normalize_name(name), name)))

    def score(
        self,
        answers: Sequence[ModerationAnswer],
        truths: Sequence[Mapping[str, Any]],
        *,
        images: Sequence[str],
        vocabulary: Sequence[str],
        label_map: LabelMap,
        use_parents: bool,
        floor: float,
    ) -> Scored:
        taxonomy = Taxonomy(answers)
        declared = [str(label) for label in vocabulary]
        present = {normalize_name(label) for label in declared}
        roots = []
        for label in declared:
            root = taxonomy.root(label)
            if normalize_name(root) not in present and root not in roots:
                roots.append(root)
                present.add(normalize_name(root))
        labels = (*declared, *roots)
        targets = [{normalize_name(name) for name in label_map.targets(label)} for label in labels]

        def counts_for(name: str) -> list[int]:
            names = taxonomy.chain(name) if use_parents else [normalize_name(name)]
            return [k for k, wanted in enumerate(targets) if wanted.intersection(names)]

        best: dict[tuple[int, int], float] = {}
        judged_best: dict[int, float] = {}
        rows, unjudged = [], {}
        for image, answer in enumerate(answers):
            for predicted in answer.labels:
                rows.append(
                    (images[image], predicted.name, predicted.parent, predicted.level, predicted.confidence)
                )
                if predicted.confidence < floor:
                    continue
                claimed = counts_for(predicted.name)
                if not claimed:
                    entry = unjudged.setdefault(predicted.name, [set(), 0.0])
                    entry[0].add(image)
                    entry[1] = max(entry[1], predicted.confidence)
                    continue
                judged_best[image] = max(judged_best.get(image, 0.0), predicted.confidence)
                for k in claimed:
                    best[(image, k)] = max(best.get((image, k), 0.0), predicted.confidence)

        truth_sets = [self._positives(truth, taxonomy, targets, use_parents) for truth in truths]
        support = np.zeros(len(labels), dtype=np.int64)
        for positives in truth_sets:
            for k in positives:
                support[k] += 1
        keys = sorted(best)
        pairs = ScoredPairs(
            labels=tuple(labels),
            n_images=len(answers),
            support=support,
            label_idx=np.asarray([k for _, k in keys], dtype=np.int64),
            image_idx=np.asarray([image for image, _ in keys], dtype=np.int64),
            confidence=np.asarray([best[key] for key in keys], dtype=np.float64),
            is_true=np.asarray([key[1] in truth_sets[key[0]] for key in keys], dtype=bool),
            floor=floor,
        )
        flag_curve, flag = image_flag(judged_best, truth_sets, len(answers), floor)
        unknown = sorted(
            {
                str(name)
                for truth in truths
                for name in truth.get("labels", ())
                if not taxonomy.known(str(name))
            }
        )
        levels = [taxonomy.level_of(label) for label in labels]
        categories = [taxonomy.root(label) if taxonomy.known(label) else label for label in labels]
        details = {
            "model_versions": sorted({a.model_version for a in answers if a.model_version}),
            "taxonomy_names_seen": len(taxonomy.display),
            "rolled_up_categories": roots,
            "ground_truth_names_never_returned": unknown,
            "image_flag": flag,
        }
        return Scored(
            pairs=pairs,
            ap=average_precision(pairs),
            unjudged=pd.DataFrame(
                [(name, len(entry[0]), entry[1]) for name, entry in sorted(unjudged.items())],
                columns=["name", "images", "max_confidence"],
            ),
            predictions=pd.DataFrame(rows, columns=["image", "label", "parent", "level", "confidence"]),
            label_columns={
                "level": pd.array(levels, dtype="Int64"),
                "category": categories,
                "rolled_up": [label in roots for label in labels],
            },
            tables={"moderation_flag": flag_curve},
            details=details,
            markdown=tuple(_markdown(details, labels, levels, roots)),
            thresholds={
                "image_flag": {
                    key: flag[key]
                    for key in ("min_confidence", "precision", "recall", "f1", "status", "note")
                }
            },
            positives=positive_pairs(truth_sets),
        )

    @staticmethod
    def _positives(
        truth: Mapping[str, Any], taxonomy: Taxonomy, targets: list[set[str]], use_parents: bool
    ) -> set[int]:
        found: set[int] = set()
        for name in truth.get("labels", ()):
            names = taxonomy.chain(str(name)) if use_parents else [normalize_name(str(name))]
            found.update(k for k, wanted in enumerate(targets) if wanted.intersection(names))
        return found


def image_flag(
    judged_best: dict[int, float], truth_sets: list[set[int]], n_images: int, floor: float
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The image-level decision: flag an image when any judged label reaches t; positive when unsafe."""
    unsafe = np.asarray([bool(positives) for positives in truth_sets], dtype=bool)
    images = np.asarray(sorted(judged_best), dtype=np.int64)
    pairs = ScoredPairs(
        labels=(FLAG,),
        n_images=n_images,
        support=np.asarray([int(unsafe.sum())], dtype=np.int64),
        label_idx=np.zeros(images.shape[0], dtype=np.int64),
        image_idx=images,
        confidence=np.asarray([judged_best[i] for i in images], dtype=np.float64),
        is_true=unsafe[images] if images.size else np.zeros(0, bool),
        floor=floor,
    )
    curve = exact_curves(pairs)
    chosen = recommend(
        curve,
        labels=pairs.labels,
        support=pairs.support,
        objective=Objective.parse("best-f1"),
        floor=floor,
        min_support=1,
    ).iloc[0]
    exact = chosen["threshold"]  # the MinConfidence comes from it, never from a rounding of it
    threshold = rounded(exact)
    low = chosen["threshold_low"]
    flag = {
        "objective": "best-f1",
        "min_confidence": min_confidence_to_use(exact, low) if threshold is not None else None,
        "threshold": threshold,
        "precision": rounded(chosen["precision"], 4),
        "recall": rounded(chosen["recall"], 4),
        "f1": rounded(chosen["f1"], 4),
        "unsafe_images": int(unsafe.sum()),
        "images": n_images,
        "ap": rounded(float(average_precision(pairs)[0])),
        "status": str(chosen["status"]),
        "note": str(chosen["note"] or ""),
    }
    return curve.drop(columns=["label"]), flag


def _markdown(
    details: dict[str, Any], labels: Sequence[str], levels: Sequence[int | None], roots: Sequence[str]
) -> list[str]:
    flag = details["image_flag"]
    lines = [
        "## Unsafe content: flag an image when any label reaches MinConfidence",
        "",
    ]
    if flag["threshold"] is None:
        lines.append(f"No threshold for the image-level decision. {flag['note']}".rstrip())
    else:
        lines.append(
            f"**MinConfidence {flag['threshold']:.2f}** (best F1): precision {_text(flag['precision'])}, "
            f"recall {_text(flag['recall'])}, F1 {_text(flag['f1'])}, over {flag['images']} images of which "
            f"{flag['unsafe_images']} are unsafe. Its curve is in `moderation_flag.csv`."
        )
    lines += [
        "",
        "A dataset label is predicted at the highest confidence of any returned label at or below it in the "
        "taxonomy (learnt from the answers' ParentName); an image is a positive of it when its ground truth "
        "names it or anything below it. Level-1 categories above the dataset's labels are added as rows "
        f"(rolled up): {', '.join(markdown_text(root) for root in roots) or 'none needed'}.",
        "",
    ]
    if details["ground_truth_names_never_returned"]:
        lines += [
            "Ground-truth names no answer ever returned (their level is unknown, so they are not rolled up): "
            + ", ".join(markdown_text(name) for name in details["ground_truth_names_never_returned"]),
            "",
        ]
    versions = ", ".join(markdown_text(version) for version in details["model_versions"])
    lines += [f"Moderation model version(s): {versions or '–'}.", ""]
    rows = [[label, level] for label, level in zip(labels, levels, strict=True)]
    return [*lines, *markdown_table(["Label", "Taxonomy level"], rows), ""]


def _text(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


OPERATION = ModerationOperation()
