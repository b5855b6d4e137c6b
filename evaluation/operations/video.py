"""What the two stored-video operations share (`video-labels`, `video-moderation`): the adapter of the
Get* answers, and scoring per video and per segment.

- Answers: the complete, paginated answer of GetLabelDetection / GetContentModeration (every page, joined
  by evaluation.aws.video_jobs), read here only. A detection is a label with a confidence over a time
  span: [StartTimestampMillis, EndTimestampMillis] when the answer was aggregated by SEGMENTS, the single
  Timestamp (no length) when by TIMESTAMPS.
- Per video: a label is predicted in a video at threshold t when any of its detections reaches t; the
  (video, label) pairs go through the one analysis like images' (curves, recommended thresholds).
- Per segment (ground truth with segments): time-weighted, from evaluation.stats.timeline: seconds
  present-and-predicted, present-and-missed and predicted-and-absent at every threshold, with time within
  the tolerance (--segment-tolerance-ms) of a ground-truth segment's edge left unjudged. Written as
  segment_curves.csv; each label's time-weighted best-F1 threshold is in labels.csv (segment_*) and in
  thresholds.yaml (segments).
- The report shows, for the videos behind the errors at each label's recommended threshold (labels.csv's
  `threshold`, known only after the analysis recommends: `Timelines.at` is Scored.after_thresholds), a
  time line: ground-truth segments against detections at or above that threshold, with the time missed
  and the time falsely detected (timelines.csv holds them as rows; report.html draws them).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from evaluation.datasets import Dataset, DatasetItem
from evaluation.operations.answers import ResponseShapeError
from evaluation.operations.base import Operation, markdown_table, rounded
from evaluation.stats.metrics import ScoredPairs
from evaluation.stats.timeline import (
    SEGMENT_COLUMNS,
    Pieces,
    best_f1,
    pieces,
    subtract,
    time_curve,
    union,
)

# kind: "video" (one row per (video, label) drawn: 0 to the video's duration, `error` "missed" or "false
# alarm" when the label is wrong in the video at `threshold`, "" when right), "truth" (a ground-truth
# segment), "detection" (a detection at or above `threshold`), "missed" (truth time no detection covers),
# "false" (detected time outside the truth; for a label absent from the video, all its detected time).
TIMELINE_COLUMNS = [
    "video",
    "label",
    "kind",
    "start_ms",
    "end_ms",
    "confidence",
    "threshold",
    "error",
    "duration_ms",
]
TIMELINE_WIDTH = 60
TIMELINES_SHOWN = 12


@dataclass(frozen=True)
class Detection:
    name: str
    confidence: float
    start_ms: float
    end_ms: float
    parents: tuple[str, ...] = ()  # labels: Parents and Aliases
    parent: str = ""  # moderation: ParentName ("" for a level-1 category)
    level: int | None = None  # moderation: TaxonomyLevel


@dataclass(frozen=True)
class VideoAnswer:
    """The whole answer of one video job, every page."""

    detections: tuple[Detection, ...]
    duration_ms: float | None
    model_version: str | None
    aggregate_by: str | None

    @property
    def labels(self) -> tuple[Detection, ...]:  # the taxonomy of moderation reads name, parent, level
        return self.detections

    @property
    def lowest_confidence(self) -> float | None:
        return min((d.confidence for d in self.detections), default=None)

    @property
    def truncated(self) -> bool:
        return False  # every page is fetched


def read_video_answer(response: Mapping[str, Any]) -> VideoAnswer:
    """Read a joined GetLabelDetection or GetContentModeration answer (stored by the video job runner)."""
    if not isinstance(response, Mapping):
        raise ResponseShapeError("a video answer must be an object")
    moderation = "ModerationLabels" in response
    entries = response.get("ModerationLabels" if moderation else "Labels", [])
    if not isinstance(entries, Sequence) or isinstance(entries, str):
        raise ResponseShapeError("a video answer must have a Labels or ModerationLabels list")
    detections = []
    for raw in entries:
        try:
            inner = raw["ModerationLabel" if moderation else "Label"]
            name, confidence = str(inner["Name"]), float(inner["Confidence"])
            timestamp = float(raw.get("Timestamp", 0))
        except (KeyError, TypeError, ValueError) as exc:
            raise ResponseShapeError(
                f"video detection without a Name, Confidence and Timestamp: {raw!r}"
            ) from exc
        start = float(raw.get("StartTimestampMillis", timestamp))
        end = float(raw.get("EndTimestampMillis", start))
        if moderation:
            level = inner.get("TaxonomyLevel")
            detections.append(
                Detection(
                    name,
                    confidence,
                    start,
                    end,
                    parent=str(inner.get("ParentName") or ""),
                    level=int(level) if level else None,
                )
            )
        else:
            names = [
                str(entry.get("Name"))
                for key in ("Parents", "Aliases")
                for entry in inner.get(key) or ()
                if isinstance(entry, Mapping) and entry.get("Name")
            ]
            detections.append(Detection(name, confidence, start, end, parents=tuple(names)))
    metadata = response.get("VideoMetadata") or {}
    duration = metadata.get("DurationMillis") if isinstance(metadata, Mapping) else None
    version = response.get("ModerationModelVersion" if moderation else "LabelModelVersion")
    return VideoAnswer(
        tuple(detections),
        float(duration) if duration else None,
        str(version) if version is not None else None,
        str(response.get("AggregateBy")) if response.get("AggregateBy") else None,
    )


class VideoOperation(Operation):
    """The parts both video operations share; each subclass says how names count for labels."""

    start_api = ""
    get_api = ""
    items_key = ""
    version_key = ""
    backends = ("rekognition", "replay")
    is_video = True

    def request(self, *, min_confidence: float, max_labels: int) -> dict[str, Any]:
        # MinConfidence 0: the lowest value the API accepts (StartLabelDetection/StartContentModeration,
        # MinConfidence: float, 0-100; the service's default is 50), so one job answers every threshold
        return {"MinConfidence": float(min_confidence)}

    @staticmethod
    def aggregate_for(dataset: Dataset) -> str:
        """SEGMENTS (spans with durations) when any video has segment ground truth, else TIMESTAMPS (every
        sampled detection, the service's default): video-level truth needs only the highest confidence."""
        return "SEGMENTS" if any(item.segments for item in dataset.items) or _jsonl(dataset) else "TIMESTAMPS"

    def read(self, response: Mapping[str, Any]) -> VideoAnswer:
        return read_video_answer(response)

    def ground_truth(self, item: DatasetItem) -> dict[str, Any]:
        record: dict[str, Any] = {"labels": sorted(item.labels)}
        if item.segments or not item.source.rsplit(":", 1)[0].lower().endswith(".csv"):  # JSON Lines
            record["segments"] = [
                {"label": s.label, "start_ms": s.start_ms, "end_ms": s.end_ms} for s in item.segments
            ]
        return record

    def vocabulary(self, declared: Sequence[str], truths: Sequence[Mapping[str, Any]]) -> tuple[str, ...]:
        if declared:
            return tuple(declared)
        return tuple(sorted({str(name) for truth in truths for name in truth.get("labels", ())}))

    def summary_request(self, request: Mapping[str, Any]) -> dict[str, Any]:
        return {"MinConfidence": self.requested_floor(request), "MaxLabels": None, **request}

    def score_options(self, options: Any) -> dict[str, Any]:
        return {"tolerance_ms": float(getattr(options, "segment_tolerance_ms", 0) or 0)}


def _jsonl(dataset: Dataset) -> bool:
    return dataset.format == "manifest"


@dataclass
class VideoScore:
    """Per-video pairs, segment metrics, timelines: what both operations hand to Scored."""

    pairs: ScoredPairs
    best: dict[tuple[int, int], float]
    positives: list[set[int]]
    segment_curves: pd.DataFrame
    segment_best: list[dict[str, float] | None]
    segment_present_s: list[float]
    timelines: Timelines
    has_segments: bool
    note: str


def score_videos(
    answers: Sequence[VideoAnswer],
    truths: Sequence[Mapping[str, Any]],
    *,
    videos: Sequence[str],
    labels: Sequence[str],
    claims: Callable[[Detection], list[int]],
    truth_claims: Callable[[str], set[int]],
    floor: float,
    tolerance_ms: float,
) -> VideoScore:
    """Score answers against truths: `claims(detection)` are the label indexes a detection counts for,
    `truth_claims(name)` those a ground-truth name is a positive of."""
    n_labels = len(labels)
    best: dict[tuple[int, int], float] = {}
    spans: list[dict[int, list[tuple[float, float, float]]]] = []
    for video, answer in enumerate(answers):
        by_label: dict[int, list[tuple[float, float, float]]] = {}
        for detection in answer.detections:
            if detection.confidence < floor:
                continue
            for k in claims(detection):
                best[(video, k)] = max(best.get((video, k), -math.inf), detection.confidence)
                by_label.setdefault(k, []).append(
                    (detection.start_ms, detection.end_ms, detection.confidence)
                )
        spans.append(by_label)
    positives = [
        set().union(*(truth_claims(str(name)) for name in truth.get("labels", ()))) for truth in truths
    ]
    support = np.zeros(n_labels, dtype=np.int64)
    for found in positives:
        for k in found:
            support[k] += 1
    keys = sorted(best)
    pairs = ScoredPairs(
        labels=tuple(labels),
        n_images=len(answers),
        support=support,
        label_idx=np.asarray([k for _, k in keys], dtype=np.int64),
        image_idx=np.asarray([v for v, _ in keys], dtype=np.int64),
        confidence=np.asarray([best[key] for key in keys], dtype=np.float64),
        is_true=np.asarray([k in positives[v] for v, k in keys], dtype=bool),
        floor=floor,
    )
    has_segments = bool(truths) and all("segments" in truth for truth in truths)
    curves, seg_best, present = [], [], []
    note = ""
    if has_segments:
        if any(a.aggregate_by == "TIMESTAMPS" for a in answers):
            note = "answers aggregated by TIMESTAMPS have no durations: per-segment metrics need SEGMENTS"
        per_label: list[list[Pieces]] = [[] for _ in range(n_labels)]
        for video, (answer, truth) in enumerate(zip(answers, truths, strict=True)):
            truth_spans: dict[int, list[tuple[float, float]]] = {}
            for segment in truth.get("segments", ()):
                for k in truth_claims(str(segment["label"])):
                    truth_spans.setdefault(k, []).append(
                        (float(segment["start_ms"]), float(segment["end_ms"]))
                    )
            duration = answer.duration_ms or max(
                [end for items in truth_spans.values() for _, end in items]
                + [end for items in spans[video].values() for _, end, _ in items]
                + [0.0]
            )
            for k in range(n_labels):
                per_label[k].append(
                    pieces(
                        truth_spans.get(k, []),
                        spans[video].get(k, []),
                        duration_ms=duration,
                        tolerance_ms=tolerance_ms,
                    )
                )
        for k, label in enumerate(labels):
            judged = Pieces.concat(per_label[k])
            curve = time_curve(judged, floor=floor)
            curve.insert(0, "label", label)
            curves.append(curve)
            seg_best.append(best_f1(curve))
            present.append(float(judged.length_ms[judged.in_truth].sum()) / 1000.0)
    else:
        seg_best = [None] * n_labels
        present = [float("nan")] * n_labels
    segment_curves = (
        pd.concat(curves, ignore_index=True) if curves else pd.DataFrame(columns=["label", *SEGMENT_COLUMNS])
    )
    timelines = Timelines(answers, truths, videos, labels, best, positives, spans, truth_claims)
    return VideoScore(
        pairs,
        best,
        positives,
        segment_curves,
        seg_best,
        present,
        timelines,
        has_segments,
        note,
    )


@dataclass(frozen=True)
class Timelines:
    """What a time line needs, kept from scoring until the thresholds are recommended: `at(thresholds)`
    gives timelines.csv and report.md's text for the videos wrong at those thresholds."""

    answers: Sequence[VideoAnswer]
    truths: Sequence[Mapping[str, Any]]
    videos: Sequence[str]
    labels: Sequence[str]
    best: Mapping[tuple[int, int], float]
    positives: Sequence[set[int]]
    spans: Sequence[Mapping[int, list[tuple[float, float, float]]]]
    truth_claims: Callable[[str], set[int]]

    def at(self, thresholds: Mapping[str, float | None]) -> tuple[dict[str, pd.DataFrame], list[str]]:
        """Rows for every video wrong at the labels' `thresholds` (None: no threshold, never predicted):
        each label with truth or detections in it, its segments, its detections at or above the
        threshold, the time missed and the time falsely detected; and report.md's text time lines."""
        chosen = [thresholds.get(label) for label in self.labels]
        rows: list[tuple[Any, ...]] = []
        drawn: list[str] = []
        shown = 0
        for video, answer in enumerate(self.answers):
            errors: dict[int, str] = {}
            for k, threshold in enumerate(chosen):
                present = k in self.positives[video]
                predicted = threshold is not None and self.best.get((video, k), -math.inf) >= threshold
                if predicted != present:
                    errors[k] = "missed" if present else "false alarm"
            if not errors:
                continue
            segments = self.truths[video].get("segments")
            lanes = []
            for k, threshold in enumerate(chosen):
                truth_spans = [
                    (float(s["start_ms"]), float(s["end_ms"]))
                    for s in segments or ()
                    if k in self.truth_claims(str(s["label"]))
                ]
                detected = [
                    span
                    for span in self.spans[video].get(k, [])
                    if threshold is not None and span[2] >= threshold
                ]
                if k in errors or truth_spans or detected or k in self.positives[video]:
                    lanes.append((k, threshold, truth_spans, detected))
            duration = answer.duration_ms or max(
                [e for _, _, truth_spans, _ in lanes for _, e in truth_spans]
                + [e for _, _, _, detected in lanes for _, e, _ in detected]
                + [1.0]
            )
            for k, threshold, truth_spans, detected in lanes:
                error = errors.get(k, "")
                where = (self.videos[video], self.labels[k])
                rows.append((*where, "video", 0.0, duration, None, threshold, error, duration))
                rows += [(*where, "truth", s, e, None, threshold, error, duration) for s, e in truth_spans]
                rows += [(*where, "detection", s, e, c, threshold, error, duration) for s, e, c in detected]
                known = segments is not None or k not in self.positives[video]  # absent: all time is false
                if known:
                    truth_union = union(truth_spans)
                    detected_union = union([(s, e) for s, e, _ in detected])
                    rows += [
                        (*where, "missed", s, e, None, threshold, error, duration)
                        for s, e in subtract(truth_union, detected_union)
                    ]
                    rows += [
                        (*where, "false", s, e, None, threshold, error, duration)
                        for s, e in subtract(detected_union, truth_union)
                    ]
                if error and shown < TIMELINES_SHOWN:
                    at = "no threshold" if threshold is None else f">= {threshold:.2f}"
                    truth_bar = _bar(truth_spans, duration) if segments is not None else " video only"
                    drawn += [
                        f"{self.videos[video]}: {self.labels[k]} ({error}; {duration / 1000:.1f} s)",
                        f"  truth    |{truth_bar}|",
                        f"  {at:<8} |{_bar([(s, e) for s, e, _ in detected], duration)}|",
                    ]
            shown += 1
        frame = pd.DataFrame(rows, columns=TIMELINE_COLUMNS)
        markdown = []
        if drawn:
            markdown = [
                "### Time lines of the videos behind the errors",
                "",
                "Each label wrong in a video at its recommended threshold (labels.csv): ground-truth "
                "segments against detections at or above that threshold "
                f"({TIMELINE_WIDTH} columns span the video; all rows, with the time missed and falsely "
                f"detected, in `timelines.csv`; at most {TIMELINES_SHOWN} videos shown, report.html draws "
                "them).",
                "",
                "```",
                *drawn,
                "```",
                "",
            ]
        return {"timelines": frame}, markdown


def _bar(intervals: Sequence[tuple[float, float]], duration: float) -> str:
    cells = []
    for cell in range(TIMELINE_WIDTH):
        middle = (cell + 0.5) * duration / TIMELINE_WIDTH
        cells.append(
            "#"
            if any(
                s <= middle < e or (s == e and abs(s - middle) <= duration / TIMELINE_WIDTH / 2)
                for s, e in intervals
            )
            else "."
        )
    return "".join(cells)


def segment_columns(score: VideoScore, n_labels: int) -> dict[str, Any]:
    def pick(name: str) -> list[float | None]:
        return [None if row is None else rounded(row[name], 4) for row in score.segment_best]

    if not score.has_segments:
        return {}
    return {
        "segment_threshold": pick("threshold"),
        "segment_precision": pick("precision"),
        "segment_recall": pick("recall"),
        "segment_f1": pick("f1"),
        "segment_present_s": [rounded(value, 3) for value in score.segment_present_s],
    }


def segment_thresholds(score: VideoScore, labels: Sequence[str], tolerance_ms: float) -> dict[str, Any]:
    if not score.has_segments:
        return {}
    return {
        "segments": {
            "objective": "best-f1, time-weighted",
            "tolerance_ms": tolerance_ms,
            "labels": {
                label: None
                if row is None
                else {key: rounded(row[key], 4) for key in ("threshold", "precision", "recall", "f1")}
                for label, row in zip(labels, score.segment_best, strict=True)
            },
        }
    }


def segment_markdown(score: VideoScore, labels: Sequence[str], tolerance_ms: float) -> list[str]:
    lines = [
        "## Videos",
        "",
        "A label is predicted in a video when any of its detections reaches the threshold (the curves and "
        "recommendations above are per video).",
        "",
    ]
    if score.has_segments:
        lines += [
            "### Per segment (time-weighted)",
            "",
            "Seconds present and predicted (TP), present and missed (FN), predicted and absent (FP), "
            f"with {tolerance_ms:g} ms around every ground-truth segment edge left unjudged; the threshold "
            "of best time-weighted F1 per label (all thresholds in `segment_curves.csv`).",
            "",
        ]
        if score.note:
            lines += [f"Note: {score.note}.", ""]
        rows = []
        for label, row, present in zip(labels, score.segment_best, score.segment_present_s, strict=True):
            if row is None:
                rows.append([label, present, None, None, None, None, None, None])
            else:
                rows.append(
                    [
                        label,
                        present,
                        row["threshold"],
                        row["tp_s"],
                        row["fn_s"],
                        row["fp_s"],
                        row["precision"],
                        row["recall"],
                    ]
                )
        lines += markdown_table(
            ["Label", "Present (s)", "MinConfidence", "TP (s)", "FN (s)", "FP (s)", "Precision", "Recall"],
            rows,
        )
        lines.append("")
    return lines
