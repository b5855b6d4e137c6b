"""The base model's errors as a Custom Moderation adapter training manifest, in AWS's documented format.

Each line: `{"source-ref": "s3://bucket/key", "content-moderation-groundtruth": {"ModerationLabels":
[{"Name": ...}, ...]}}`, an empty list for a safe image (Rekognition developer guide, "Manifest file
formats" of Custom Moderation adapters). The images are those of a moderation run the base model got
wrong at the thresholds judged (each label's recommended MinConfidence, or a deployed thresholds.yaml):
false negatives (an unsafe label missed) and false positives (flagged, not in the ground truth); with
`include_correct`, that many correctly judged images too (AWS recommends bringing some).

AWS's documented minimums ("Best practices for training adapters"): at least 50 false-negative OR 20
false-positive training images, and 20 test images (a test manifest, or auto-split); at most 10,000
training images ("Manual annotation"). Images must be in S3, all in one bucket.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from evaluation.errors import UserError
from evaluation.runfolder import RunFolder, api_and_operation, atomic_write

MIN_FALSE_NEGATIVES = 50
MIN_FALSE_POSITIVES = 20
MIN_TEST_IMAGES = 20
MAX_TRAINING_IMAGES = 10_000
GROUND_TRUTH_KEY = "content-moderation-groundtruth"


@dataclass
class AdapterManifest:
    lines: list[dict[str, Any]]
    false_negatives: int
    false_positives: int
    correct: int
    problems: list[str] = field(default_factory=list)

    @property
    def meets_minimum(self) -> bool:
        return self.false_negatives >= MIN_FALSE_NEGATIVES or self.false_positives >= MIN_FALSE_POSITIVES

    def describe(self) -> str:
        return (
            f"{len(self.lines)} image(s): {self.false_negatives} with a false negative, "
            f"{self.false_positives} "
            f"with a false positive, {self.correct} judged right; AWS's documented minimum for training is "
            f"{MIN_FALSE_NEGATIVES} false-negative OR {MIN_FALSE_POSITIVES} false-positive images "
            f"({'met' if self.meets_minimum else 'NOT met'}), and {MIN_TEST_IMAGES} test images (a test "
            f"manifest of its own, or auto-split)"
        )


def _source_ref(uri: str, s3_prefix: str | None, root: str) -> str:
    if uri.startswith("s3://"):
        return uri
    if s3_prefix is None:
        raise UserError(
            f"{uri} is a local image: adapters train on S3 images only; pass --s3-prefix s3://bucket/prefix/ "
            "where the images will be uploaded"
        )
    return (
        s3_prefix.rstrip("/")
        + "/"
        + PurePosixPath(Path(uri).resolve().relative_to(root).as_posix()).as_posix()
    )


def adapter_manifest(
    run_dir: str | Path,
    *,
    deployed: dict[str, Any] | None = None,
    s3_prefix: str | None = None,
    include_correct: int = 0,
) -> AdapterManifest:
    run = RunFolder.load(run_dir)
    if api_and_operation(run.summary)[1] != "moderation":
        raise UserError(
            f"{run.path} is not a moderation run: adapters are trained on DetectModerationLabels errors"
        )
    scores = run.scores()
    if scores is None:
        raise UserError(f"{run.path} has no scores.parquet; run `rekognition-eval report {run.path}` first")
    labels = run.labels
    if "rolled_up" in labels.columns:  # the dataset's own labels, not the roll-up rows the run added
        labels = labels[labels["rolled_up"].astype(str).str.lower() != "true"]
    deployed_labels = (deployed or {}).get("labels") or {}
    thresholds: dict[str, float] = {}
    for label, threshold in zip(labels["label"], labels["threshold"], strict=True):
        entry = deployed_labels.get(label) or {}
        value = entry.get("min_confidence") if deployed is not None else threshold
        thresholds[label] = (
            math.inf if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)
        )
    judged = scores[scores["label"].isin(thresholds)]
    flagged = judged["confidence"].fillna(-np.inf).to_numpy() >= judged["label"].map(thresholds).to_numpy()
    wrong_negative = judged["positive"].to_numpy() & ~flagged
    wrong_positive = ~judged["positive"].to_numpy() & flagged
    fn_images = set(judged.loc[wrong_negative, "image"])
    fp_images = set(judged.loc[wrong_positive, "image"])
    answered = run.images[run.images["status"].isin(("called", "cached"))]
    uris = [str(uri) for uri in answered["image"]]
    local = [Path(uri).resolve() for uri in uris if not uri.startswith("s3://")]
    root = str(Path(*_common_parts(local))) if local else "/"
    truth = dict(zip(answered["image"], answered["labels"], strict=True))
    wrong = [uri for uri in uris if uri in fn_images or uri in fp_images]
    right = [uri for uri in uris if uri not in fn_images and uri not in fp_images][: max(include_correct, 0)]
    lines = []
    for uri in [*wrong, *right]:
        names = json.loads(truth[uri] or "[]") if str(truth[uri] or "").startswith("[") else []
        lines.append(
            {
                "source-ref": _source_ref(uri, s3_prefix, root),
                GROUND_TRUTH_KEY: {"ModerationLabels": [{"Name": name} for name in sorted(names)]},
            }
        )
    manifest = AdapterManifest(lines, len(fn_images), len(fp_images), len(right))
    buckets = {line["source-ref"].split("/")[2] for line in lines}
    if len(buckets) > 1:
        manifest.problems.append(
            f"the images are in {len(buckets)} buckets; AWS expects one: {', '.join(sorted(buckets))}"
        )
    if len(lines) > MAX_TRAINING_IMAGES:
        manifest.problems.append(
            f"{len(lines)} images, more than AWS's {MAX_TRAINING_IMAGES:,} training images"
        )
    if not manifest.meets_minimum:
        manifest.problems.append(
            f"{manifest.false_negatives} false-negative and {manifest.false_positives} "
            "false-positive image(s): "
            f"below AWS's documented minimum of {MIN_FALSE_NEGATIVES} false negatives OR "
            f"{MIN_FALSE_POSITIVES} false positives"
        )
    return manifest


def _common_parts(paths: list[Path]) -> tuple[str, ...]:
    parts = paths[0].parent.parts
    for path in paths[1:]:
        other = path.parent.parts
        size = next(
            (i for i, (x, y) in enumerate(zip(parts, other, strict=False)) if x != y),
            min(len(parts), len(other)),
        )
        parts = parts[:size]
    return parts or ("/",)


def write_adapter_manifest(manifest: AdapterManifest, out: str | Path) -> Path:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(out, "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in manifest.lines))
    return out
