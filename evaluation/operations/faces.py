"""`--operation faces`: DetectFaces' face boxes against ground-truth face boxes; attributes reported.

- API and request: DetectFaces with Attributes ["ALL"] (age range, emotions, gender, smile... beside the
  box). DetectFaces has no confidence filter: it returns every face it finds (the 100 largest), so the
  floor is the lowest confidence seen. An answer with 100 faces may have lost smaller faces, which no
  threshold can bring back: such answers are counted in summary.json, not used to raise the floor.
- Limits: the image operations' (DETECT_LABELS_LIMITS).
- Adapter: `read_faces` below, the only reader of its response (FaceDetails: BoundingBox, Confidence,
  AgeRange, Gender, Emotions, Smile, Eyeglasses, Sunglasses, Beard, Mustache, EyesOpen, MouthOpen,
  FaceOccluded, Pose, Quality).
- Ground truth: face boxes from a COCO JSON or a Ground Truth detection manifest: the boxes of a label
  named "face" (any case), or of the only label there is (after --labels, which keeps only its labels).
- Scoring: evaluation.operations.detection, as for boxes (COCOeval's greedy matching, crowd regions
  ignored): precision and recall per threshold at IoU 0.5, COCO AP at 0.5 and 0.5:0.95. One label: Face.
- Attributes are reported per face (faces_attributes.csv, with each face's outcome at IoU 0.5) and
  summarised. They are scored only where the ground truth gives them (a COCO annotation's "attributes":
  "age" in years, "gender", "emotion", and true/false "smile", "eyeglasses", "sunglasses", "beard",
  "mustache", "eyes_open", "mouth_open", "face_occluded"), on the faces matched at IoU 0.5: an age is
  right when it lies in the AgeRange (and its error is the distance to the range's middle), the others
  when they equal the estimate's Value (the top emotion for "emotion"), without regard to case.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from evaluation.datasets import Dataset, DatasetItem
from evaluation.errors import UserError
from evaluation.images import DETECT_LABELS_LIMITS
from evaluation.labelmap import LabelMap, normalize_name
from evaluation.operations.answers import ResponseShapeError
from evaluation.operations.base import Operation, Scored, box_of, markdown_table, rounded
from evaluation.operations.detection import (
    BoxSet,
    coco_average_precision,
    match_boxes,
    scored_pairs,
)

FACE = "Face"
MAX_FACES = 100
FLAGS = ("Smile", "Eyeglasses", "Sunglasses", "Beard", "Mustache", "EyesOpen", "MouthOpen", "FaceOccluded")


@dataclass(frozen=True)
class Face:
    box: tuple[float, float, float, float]
    confidence: float
    attributes: dict[str, Any] = field(default_factory=dict)  # flat: age_low, gender, emotion, smile...


@dataclass(frozen=True)
class FacesAnswer:
    faces: tuple[Face, ...]
    model_version: str | None = None  # DetectFaces names no model version

    @property
    def lowest_confidence(self) -> float | None:
        return min((face.confidence for face in self.faces), default=None)

    @property
    def truncated(self) -> bool:
        return False  # cut by size, not by confidence: no threshold is affected (see the module)


def _attributes(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The estimates as flat columns: only those the answer holds (Attributes DEFAULT holds none)."""
    found: dict[str, Any] = {}
    age = raw.get("AgeRange")
    if isinstance(age, Mapping):
        found["age_low"], found["age_high"] = age.get("Low"), age.get("High")
    gender = raw.get("Gender")
    if isinstance(gender, Mapping):
        found["gender"], found["gender_confidence"] = gender.get("Value"), gender.get("Confidence")
    emotions = [e for e in raw.get("Emotions") or () if isinstance(e, Mapping) and "Confidence" in e]
    if emotions:
        top = max(emotions, key=lambda e: float(e["Confidence"]))
        found["emotion"], found["emotion_confidence"] = top.get("Type"), top.get("Confidence")
    for name in FLAGS:
        value = raw.get(name)
        if isinstance(value, Mapping):
            key = "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")
            found[key], found[f"{key}_confidence"] = value.get("Value"), value.get("Confidence")
    return found


def read_faces(response: Mapping[str, Any]) -> FacesAnswer:
    """Read a DetectFaces response (as boto3 returns it, or as stored JSON)."""
    entries = response.get("FaceDetails", []) if isinstance(response, Mapping) else None
    if not isinstance(entries, Sequence) or isinstance(entries, str):
        raise ResponseShapeError("a DetectFaces response must be an object with a FaceDetails list")
    faces = []
    for raw in entries:
        box = box_of(raw.get("BoundingBox")) if isinstance(raw, Mapping) else None
        try:
            confidence = float(raw["Confidence"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ResponseShapeError(f"face without a numeric Confidence: {raw!r}") from exc
        if box is None:
            raise ResponseShapeError(f"face without a BoundingBox: {raw!r}")
        faces.append(Face(box, confidence, _attributes(raw)))
    return FacesAnswer(tuple(faces))


class FacesOperation(Operation):
    name = "faces"
    api = "DetectFaces"
    limits = DETECT_LABELS_LIMITS
    needs = "ground-truth face boxes: a COCO JSON or a Ground Truth object-detection manifest"

    def request(self, *, min_confidence: float, max_labels: int) -> dict[str, Any]:
        return {"Attributes": ["ALL"]}

    def requested_floor(self, request: Mapping[str, Any]) -> float:
        return 0.0

    def read(self, response: Mapping[str, Any]) -> FacesAnswer:
        return read_faces(response)

    def ground_truth(self, item: DatasetItem) -> dict[str, Any]:
        return {
            "boxes": [
                [box.label, box.left, box.top, box.width, box.height, int(box.crowd)]
                + ([dict(box.attributes)] if box.attributes else [])
                for box in item.boxes
            ]
        }

    def has_ground_truth(self, dataset: Dataset) -> bool:
        return any(item.boxes for item in dataset.items)

    def vocabulary(self, declared: Sequence[str], truths: Sequence[Mapping[str, Any]]) -> tuple[str, ...]:
        """The label whose boxes are faces (see the module); the report's one label is always Face."""
        names = {str(box[0]) for truth in truths for box in truth.get("boxes", ())}
        if declared:
            wanted = {normalize_name(label) for label in declared}
            names = {name for name in names if normalize_name(name) in wanted}
        faces = sorted(name for name in names if normalize_name(name) == "face")
        if faces:
            return tuple(faces)
        if len(names) <= 1:
            return tuple(names) or tuple(declared)
        raise UserError(
            f"which boxes are faces? The ground truth has {len(names)} labels "
            f"({', '.join(sorted(names)[:5])}) and none is named face: pass --labels with the face label"
        )

    def score(
        self,
        answers: Sequence[FacesAnswer],
        truths: Sequence[Mapping[str, Any]],
        *,
        images: Sequence[str],
        vocabulary: Sequence[str],
        label_map: LabelMap,
        use_parents: bool,
        floor: float,
    ) -> Scored:
        face_labels = {normalize_name(label) for label in vocabulary}
        det_rows = [
            (image, face)
            for image, answer in enumerate(answers)
            for face in answer.faces
            if face.confidence >= floor
        ]
        detections = BoxSet(
            np.asarray([image for image, _ in det_rows], dtype=np.int64),
            np.zeros(len(det_rows), dtype=np.int64),
            np.asarray([face.box for _, face in det_rows], dtype=np.float64).reshape(-1, 4),
            confidence=np.asarray([face.confidence for _, face in det_rows], dtype=np.float64),
        )
        truth_rows = [
            (image, box)
            for image, truth in enumerate(truths)
            for box in truth.get("boxes", ())
            if normalize_name(str(box[0])) in face_labels
        ]
        truth_set = BoxSet(
            np.asarray([image for image, _ in truth_rows], dtype=np.int64),
            np.zeros(len(truth_rows), dtype=np.int64),
            np.asarray([box[1:5] for _, box in truth_rows], dtype=np.float64).reshape(-1, 4),
            crowd=np.asarray([bool(box[5]) for _, box in truth_rows], dtype=bool),
        )
        truth_attributes = [box[6] if len(box) > 6 else {} for _, box in truth_rows]
        match = match_boxes(detections, truth_set, labels=(FACE,), n_images=len(answers))
        coco = coco_average_precision(match)
        pairs, negatives = scored_pairs(match, floor=floor)
        outcome = np.where(match.ignored[0], "crowd", np.where(match.matched[0], "tp", "fp"))
        per_face = pd.DataFrame(
            [
                {
                    "image": images[det_rows[source][0]],
                    "confidence": det_rows[source][1].confidence,
                    "left": det_rows[source][1].box[0],
                    "top": det_rows[source][1].box[1],
                    "width": det_rows[source][1].box[2],
                    "height": det_rows[source][1].box[3],
                    "iou": round(float(iou), 6),
                    "outcome": kind,
                    **det_rows[source][1].attributes,
                }
                for source, iou, kind in zip(match.source, match.iou, outcome, strict=True)
            ]
        )
        scores = _attribute_scores(match, det_rows, truth_attributes)
        details = {
            "face_labels": list(vocabulary),
            "ground_truth_faces": int(match.support[0]),
            "faces_returned": len(det_rows),
            "answers_at_100_faces": sum(len(answer.faces) >= MAX_FACES for answer in answers),
            "ap_50": rounded(float(coco.ap[0, 0])),
            "ap_50_95": rounded(float(coco.ap_mean_over_iou[0])),
            "attributes": _attribute_summary(per_face),
            "attributes_scored": [
                {key: rounded(value) if isinstance(value, float) else value for key, value in row.items()}
                for row in scores.astype(object).to_dict("records")
            ],
        }
        return Scored(
            pairs=pairs,
            ap=coco.ap[0],
            negatives=negatives,
            unjudged=pd.DataFrame(columns=["name", "images", "max_confidence"]),
            predictions=per_face[
                [
                    c
                    for c in ("image", "confidence", "left", "top", "width", "height", "iou", "outcome")
                    if c in per_face.columns
                ]
            ]
            if len(per_face)
            else pd.DataFrame(
                columns=["image", "confidence", "left", "top", "width", "height", "iou", "outcome"]
            ),
            label_columns={"ap_50_95": coco.ap_mean_over_iou, "ar_100": coco.recall_mean_over_iou},
            tables={
                "faces_attributes": per_face,
                **({"faces_attribute_scores": scores} if len(scores) else {}),
            },
            details=details,
            markdown=tuple(_markdown(details)),
        )


SCORED = (
    "gender",
    "emotion",
    *("".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_") for name in FLAGS),
)


def _key(name: str) -> str:
    return normalize_name(name).replace(" ", "_").replace("-", "_")


def _attribute_scores(
    match: Any, det_rows: Sequence[tuple[int, Face]], truth_attributes: Sequence[Mapping[str, Any]]
) -> pd.DataFrame:
    """Per attribute the ground truth gives: matched faces judged, how many the estimate got right."""
    found: dict[str, list[float]] = {}
    age_errors: list[float] = []
    for source, taken, ignored in zip(match.source, match.truth, match.ignored[0], strict=True):
        if taken < 0 or ignored:
            continue
        truth = {_key(str(k)): v for k, v in truth_attributes[taken].items()}
        estimate = det_rows[source][1].attributes
        if "age" in truth and "age_low" in estimate and not isinstance(truth["age"], bool | str):
            low, high, age = float(estimate["age_low"]), float(estimate["age_high"]), float(truth["age"])
            found.setdefault("age", []).append(float(low <= age <= high))
            age_errors.append(abs(age - (low + high) / 2))
        for name in SCORED:
            if name in truth and name in estimate and estimate[name] is not None:
                right = str(truth[name]).casefold() == str(estimate[name]).casefold()
                found.setdefault(name, []).append(float(right))
    rows = [
        {
            "attribute": name,
            "faces": len(values),
            "correct": int(sum(values)),
            "accuracy": round(sum(values) / len(values), 6),
            "mean_abs_error": round(float(np.mean(age_errors)), 3) if name == "age" else None,
        }
        for name, values in sorted(found.items())
    ]
    return pd.DataFrame(rows, columns=["attribute", "faces", "correct", "accuracy", "mean_abs_error"])


def _attribute_summary(per_face: pd.DataFrame) -> dict[str, Any]:
    """What the attribute estimates say over the faces that matched a real face (true positives)."""
    if per_face.empty or "outcome" not in per_face.columns:
        return {}
    found = per_face[per_face["outcome"] == "tp"]
    summary: dict[str, Any] = {"faces": len(found)}
    if "age_low" in found.columns and len(found):
        summary["age_range_width_mean"] = rounded(float((found["age_high"] - found["age_low"]).mean()), 3)
    for column in ("gender", "emotion"):
        if column in found.columns:
            summary[column] = dict(Counter(str(value) for value in found[column].dropna()).most_common())
    return summary


def _markdown(details: dict[str, Any]) -> list[str]:
    lines = [
        "## Faces",
        "",
        f"{details['ground_truth_faces']} ground-truth face(s), {details['faces_returned']} face(s) "
        f"returned; matched at IoU 0.5 as COCO's evaluation does. AP50 {_text(details['ap_50'])}, "
        f"AP (IoU 0.5:0.95) {_text(details['ap_50_95'])}.",
        "",
    ]
    if details["answers_at_100_faces"]:
        lines += [
            f"{details['answers_at_100_faces']} answer(s) hold 100 faces, DetectFaces' limit (the largest "
            "faces): smaller faces in those images were never returned.",
            "",
        ]
    attributes = details["attributes"]
    if attributes.get("faces"):
        rows = [
            [name, ", ".join(f"{k} {v}" for k, v in attributes[name].items())]
            for name in ("gender", "emotion")
            if name in attributes
        ]
        scored = details["attributes_scored"]
        lines += [
            "Attribute estimates (AgeRange, Gender, Emotions...) are reported, "
            + (
                "and scored where the ground truth gives them (`faces_attribute_scores.csv`). "
                if scored
                else "not scored: the ground truth holds none. "
            )
            + f"Over the {attributes['faces']} face(s) found: mean age range width "
            f"{attributes.get('age_range_width_mean', '–')} years. Every face's estimates: "
            "`faces_attributes.csv`.",
            "",
            *markdown_table(["Estimate", "Faces"], rows),
            "",
        ]
        if scored:
            table = [
                [row["attribute"], row["faces"], row["accuracy"], row["mean_abs_error"]] for row in scored
            ]
            lines += [
                *markdown_table(["Attribute", "Faces judged", "Accuracy", "Age error (years)"], table),
                "",
            ]
    return lines


def _text(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


OPERATION = FacesOperation()
