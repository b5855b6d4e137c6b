"""`--operation video-labels`: StartLabelDetection / GetLabelDetection on videos stored in S3.

- API and request: StartLabelDetection with MinConfidence 0, the lowest the API accepts (the service's
  default is 50); GetLabelDetection with AggregateBy SEGMENTS for segment ground truth, TIMESTAMPS for
  video-level ground truth; every page (evaluation.aws.video_jobs).
- Ground truth: a `video,labels` CSV (labels anywhere in the video) or JSON Lines with segments.
- Scoring: see evaluation.operations.video; a detection counts for a dataset label when its name, or
  with parents on one of its Parents or Aliases, is one of the label's names under the label map.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from evaluation.labelmap import LabelMap, normalize_name
from evaluation.operations.base import Scored
from evaluation.operations.video import (
    Detection,
    VideoAnswer,
    VideoOperation,
    score_videos,
    segment_columns,
    segment_markdown,
    segment_thresholds,
)
from evaluation.stats.metrics import average_precision


class VideoLabelsOperation(VideoOperation):
    name = "video-labels"
    api = "StartLabelDetection"
    start_api = "StartLabelDetection"
    get_api = "GetLabelDetection"
    items_key = "Labels"
    version_key = "LabelModelVersion"
    needs = "video labels (a video,labels CSV) or segments (JSON Lines with video and segments)"

    def score(
        self,
        answers: Sequence[VideoAnswer],
        truths: Sequence[Mapping[str, Any]],
        *,
        images: Sequence[str],
        vocabulary: Sequence[str],
        label_map: LabelMap,
        use_parents: bool,
        floor: float,
        tolerance_ms: float = 0.0,
    ) -> Scored:
        labels = list(vocabulary)
        targets = [{normalize_name(name) for name in label_map.targets(label)} for label in labels]
        unjudged: dict[str, list[Any]] = {}

        def claims(detection: Detection) -> list[int]:
            names = {normalize_name(detection.name)}
            if use_parents:
                names.update(normalize_name(name) for name in detection.parents)
            found = [k for k, wanted in enumerate(targets) if wanted & names]
            if not found:
                entry = unjudged.setdefault(detection.name, [set(), 0.0])
                entry[1] = max(entry[1], detection.confidence)
            return found

        by_name = {normalize_name(label): k for k, label in enumerate(labels)}

        def truth_claims(name: str) -> set[int]:
            k = by_name.get(normalize_name(name))
            return set() if k is None else {k}

        score = score_videos(
            answers,
            truths,
            videos=images,
            labels=labels,
            claims=claims,
            truth_claims=truth_claims,
            floor=floor,
            tolerance_ms=tolerance_ms,
        )
        for video, answer in enumerate(answers):
            for detection in answer.detections:
                if detection.name in unjudged and detection.confidence >= floor:
                    unjudged[detection.name][0].add(video)
        return Scored(
            pairs=score.pairs,
            ap=average_precision(score.pairs),
            unjudged=pd.DataFrame(
                [(name, len(entry[0]), entry[1]) for name, entry in sorted(unjudged.items()) if entry[0]],
                columns=["name", "images", "max_confidence"],
            ),
            predictions=_predictions(images, answers),
            label_columns=segment_columns(score, len(labels)),
            tables={"segment_curves": score.segment_curves, "timelines": score.timelines}
            if score.has_segments
            else {"timelines": score.timelines},
            details={
                "videos": len(answers),
                "aggregate_by": sorted({a.aggregate_by for a in answers if a.aggregate_by}),
                "model_versions": sorted({a.model_version for a in answers if a.model_version}),
                "segment_tolerance_ms": tolerance_ms,
                "segment_metrics": score.has_segments,
            },
            markdown=tuple(segment_markdown(score, labels, tolerance_ms)),
            thresholds=segment_thresholds(score, labels, tolerance_ms),
        )


def _predictions(videos: Sequence[str], answers: Sequence[VideoAnswer]) -> pd.DataFrame:
    rows = [
        (video, d.name, d.confidence, d.start_ms, d.end_ms, ";".join(d.parents))
        for video, answer in zip(videos, answers, strict=True)
        for d in answer.detections
    ]
    return pd.DataFrame(rows, columns=["image", "label", "confidence", "start_ms", "end_ms", "parents"])


OPERATION = VideoLabelsOperation()
