"""`--operation video-moderation`: StartContentModeration / GetContentModeration on videos stored in S3.

- API and request: StartContentModeration with MinConfidence 0, the lowest the API accepts (the
  service's default is 50); GetContentModeration with AggregateBy as for video-labels; every page.
- Ground truth: as for video-labels, with moderation names at any level of the taxonomy.
- Scoring: as the image operation `moderation` does it, per video: a dataset label is predicted at the
  highest confidence of any detection at or below it in the taxonomy (learnt from the answers'
  ParentName), every level-1 category above a dataset label is added as a row (the roll-up), and the
  video-level flag "any judged label >= t" has its own curve (moderation_flag.csv) and threshold
  (thresholds.yaml: video_flag). Per segment and time lines: see evaluation.operations.video.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from evaluation.labelmap import LabelMap, normalize_name
from evaluation.operations.base import Scored
from evaluation.operations.moderation import Taxonomy, image_flag
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


class VideoModerationOperation(VideoOperation):
    name = "video-moderation"
    api = "StartContentModeration"
    start_api = "StartContentModeration"
    get_api = "GetContentModeration"
    items_key = "ModerationLabels"
    version_key = "ModerationModelVersion"
    needs = "video moderation labels (a video,labels CSV) or segments (JSON Lines); none: a safe video"

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
        taxonomy = Taxonomy(answers)
        declared = [str(label) for label in vocabulary]
        present = {normalize_name(label) for label in declared}
        roots: list[str] = []
        for label in declared:
            root = taxonomy.root(label)
            if normalize_name(root) not in present and root not in roots:
                roots.append(root)
                present.add(normalize_name(root))
        labels = [*declared, *roots]
        targets = [{normalize_name(name) for name in label_map.targets(label)} for label in labels]

        def names_of(name: str) -> list[str]:
            return taxonomy.chain(name) if use_parents else [normalize_name(name)]

        judged_best: dict[int, float] = {}
        unjudged: dict[str, list[Any]] = {}

        def claims(detection: Detection) -> list[int]:
            found = [k for k, wanted in enumerate(targets) if wanted.intersection(names_of(detection.name))]
            if not found:
                entry = unjudged.setdefault(detection.name, [0, 0.0])
                entry[0] += 1
                entry[1] = max(entry[1], detection.confidence)
            return found

        def truth_claims(name: str) -> set[int]:
            return {k for k, wanted in enumerate(targets) if wanted.intersection(names_of(name))}

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
        for (video, _k), confidence in score.best.items():
            judged_best[video] = max(judged_best.get(video, 0.0), confidence)
        flag_curve, flag = image_flag(judged_best, score.positives, len(answers), floor)
        levels = [taxonomy.level_of(label) for label in labels]
        columns = {
            "level": pd.array(levels, dtype="Int64"),
            "category": [taxonomy.root(label) if taxonomy.known(label) else label for label in labels],
            "rolled_up": [label in roots for label in labels],
            **segment_columns(score, len(labels)),
        }
        tables = {"moderation_flag": flag_curve, "timelines": score.timelines}
        if score.has_segments:
            tables["segment_curves"] = score.segment_curves
        flag_line = (
            f"**Flag a video when any label reaches MinConfidence {flag['threshold']:.2f}** (best F1): "
            f"precision {flag['precision']}, recall {flag['recall']}, over {flag['images']} videos of which "
            f"{flag['unsafe_images']} are unsafe (curve: `moderation_flag.csv`)."
            if flag["threshold"] is not None
            else f"No threshold for the video-level flag. {flag['note']}"
        )
        return Scored(
            pairs=score.pairs,
            ap=average_precision(score.pairs),
            unjudged=pd.DataFrame(
                [(name, entry[0], entry[1]) for name, entry in sorted(unjudged.items())],
                columns=["name", "images", "max_confidence"],
            ),
            predictions=pd.DataFrame(
                [
                    (video, d.name, d.parent, d.level, d.confidence, d.start_ms, d.end_ms)
                    for video, answer in zip(images, answers, strict=True)
                    for d in answer.detections
                ],
                columns=["image", "label", "parent", "level", "confidence", "start_ms", "end_ms"],
            ),
            label_columns=columns,
            tables=tables,
            details={
                "videos": len(answers),
                "aggregate_by": sorted({a.aggregate_by for a in answers if a.aggregate_by}),
                "model_versions": sorted({a.model_version for a in answers if a.model_version}),
                "rolled_up_categories": roots,
                "video_flag": flag,
                "segment_tolerance_ms": tolerance_ms,
                "segment_metrics": score.has_segments,
            },
            markdown=(
                "## Unsafe content in videos: flag a video when any label reaches MinConfidence",
                "",
                flag_line,
                "",
                f"Level-1 categories rolled up: {', '.join(roots) or 'none needed'}.",
                "",
                *segment_markdown(score, labels, tolerance_ms),
            ),
            thresholds={
                "video_flag": {
                    key: flag[key]
                    for key in ("min_confidence", "precision", "recall", "f1", "status", "note")
                },
                **segment_thresholds(score, labels, tolerance_ms),
            },
        )


OPERATION = VideoModerationOperation()
