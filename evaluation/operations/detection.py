"""Boxes against boxes, the way COCO's evaluation (pycocotools' COCOeval, bbox) matches and scores them.

Shared by the `boxes` (DetectLabels Instances) and `faces` (DetectFaces) operations. The rules, each as
COCOeval has it, so the numbers equal its own on the same data:

- IoU of two boxes is intersection over union; against a crowd region it is intersection over the
  detection's own area (a detection inside a crowd is "in" it, however large the crowd).
- Per image and label, detections are taken most confident first (ties in the order the answer gave
  them), at most MAX_DETECTIONS of them. Each takes the unmatched ground-truth box it overlaps most, if
  that IoU is at least the threshold (ties between two boxes: the later one, as COCOeval's `>=` does).
  Real boxes are tried before crowd regions; a crowd region can absorb any number of detections.
- A detection matched to a crowd region is ignored: neither a true nor a false positive. Crowd regions
  never count as missed objects (they are not in the support).
- AP is COCO's 101-point interpolated AP: over a label's detections of every image (image order, then
  confidence, ties kept in that order), precision is made non-increasing from the right and read at
  recall 0, 0.01, ..., 1 (0 beyond the last recall reached); AP is the mean of those 101 values, at
  IoU 0.5 (AP50) and averaged over IoU 0.5, 0.55, ..., 0.95 (AP). Precision carries COCOeval's
  epsilon in its denominator. Mean AP is the mean over labels with at least one real box.
- Only COCOeval's "all" area range and its largest detection budget (100) are computed.

Greedy matching by confidence means the detections kept at a threshold t are matched exactly as in the
full run (a detection's match depends only on more confident ones), so the counts at every threshold
come from one matching: true positives are the matched detections at or above t, false positives the
unmatched ones, false negatives the real boxes not matched at or above t.

Matching loops over (image, label) groups and their few detections, as COCOeval does; everything after
it is vectorised.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from evaluation.stats.metrics import ScoredPairs

__all__ = [
    "IOU_THRESHOLDS",
    "MAX_DETECTIONS",
    "RECALL_POINTS",
    "BoxSet",
    "DetectionMatch",
    "coco_average_precision",
    "greedy_match",
    "iou_matrix",
    "match_boxes",
    "scored_pairs",
]

# The same expressions as pycocotools' Params, so the floating-point thresholds are bit-identical.
IOU_THRESHOLDS = np.linspace(0.5, 0.95, int(np.round((0.95 - 0.5) / 0.05)) + 1, endpoint=True)
RECALL_POINTS = np.linspace(0.0, 1.00, int(np.round((1.00 - 0.0) / 0.01)) + 1, endpoint=True)
MAX_DETECTIONS = 100  # per image and label, COCOeval's maxDets[-1]


def iou_matrix(detections: np.ndarray, truths: np.ndarray, crowd: np.ndarray | None = None) -> np.ndarray:
    """IoU of every detection (rows) with every ground-truth box (columns); boxes are (left, top, width,
    height) in any one unit. Against a crowd box the denominator is the detection's area (COCO's rule)."""
    detections = np.asarray(detections, dtype=np.float64).reshape(-1, 4)
    truths = np.asarray(truths, dtype=np.float64).reshape(-1, 4)
    crowd = np.zeros(truths.shape[0], bool) if crowd is None else np.asarray(crowd, dtype=bool)
    dl, dt, dw, dh = (detections[:, i, None] for i in range(4))
    gl, gt, gw, gh = (truths[None, :, i] for i in range(4))
    width = np.minimum(dl + dw, gl + gw) - np.maximum(dl, gl)
    height = np.minimum(dt + dh, gt + gh) - np.maximum(dt, gt)
    overlap = np.where((width > 0) & (height > 0), width * height, 0.0)
    detection_area = dw * dh
    union = np.where(crowd[None, :], detection_area, detection_area + gw * gh - overlap)
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = np.where(overlap > 0, overlap / union, 0.0)
    return iou


def greedy_match(
    ious: np.ndarray, crowd: np.ndarray, thresholds: Sequence[float] | np.ndarray = IOU_THRESHOLDS
) -> tuple[np.ndarray, np.ndarray]:
    """COCOeval's matching for one image and label, at each IoU threshold.

    `ious` is (D, G) with detections most confident first and ground-truth boxes real first, crowd last.
    Returns (matched, ignored), each (T, D): the ground-truth column a detection took (-1: none), and
    whether it took a crowd region (then it is neither true nor false).
    """
    n_det, n_truth = ious.shape
    thresholds = np.asarray(thresholds, dtype=np.float64)
    matched = np.full((thresholds.shape[0], n_det), -1, dtype=np.int64)
    ignored = np.zeros((thresholds.shape[0], n_det), dtype=bool)
    crowd = np.asarray(crowd, dtype=bool)
    for t_index, threshold in enumerate(thresholds):
        taken = np.zeros(n_truth, dtype=bool)
        for d in range(n_det):
            best = min(float(threshold), 1 - 1e-10)
            chosen = -1
            for g in range(n_truth):
                if taken[g] and not crowd[g]:
                    continue
                if chosen > -1 and not crowd[chosen] and crowd[g]:
                    break  # a real box is matched: crowd regions (sorted last) cannot take its place
                if ious[d, g] < best:
                    continue
                best = float(ious[d, g])
                chosen = g
            if chosen == -1:
                continue
            matched[t_index, d] = chosen
            ignored[t_index, d] = crowd[chosen]
            taken[chosen] = True
    return matched, ignored


@dataclass(frozen=True)
class BoxSet:
    """Boxes over a run: which evaluated image (position) and which label (vocabulary index) each is."""

    image: np.ndarray  # (n,) int
    label: np.ndarray  # (n,) int
    box: np.ndarray  # (n, 4) float: left, top, width, height
    confidence: np.ndarray | None = None  # (n,) for detections
    crowd: np.ndarray | None = None  # (n,) bool for ground truth

    @classmethod
    def empty(cls, *, detections: bool) -> BoxSet:
        zero = np.zeros(0, dtype=np.int64)
        return cls(
            zero,
            zero,
            np.zeros((0, 4)),
            np.zeros(0) if detections else None,
            None if detections else np.zeros(0, bool),
        )

    def __len__(self) -> int:
        return int(self.image.shape[0])


@dataclass(frozen=True)
class DetectionMatch:
    """Every kept detection's fate at every IoU threshold, in COCO's evaluation order.

    Rows are sorted by (label, image, confidence descending, answer order): per label, the order in which
    COCOeval concatenates the images' detections. `source` maps each row back to its input position.
    """

    labels: tuple[str, ...]
    n_images: int
    source: np.ndarray  # (M,) position in the detections given
    image: np.ndarray  # (M,)
    label: np.ndarray  # (M,)
    confidence: np.ndarray  # (M,)
    matched: np.ndarray  # (T, M) bool: took a ground-truth box (real or crowd)
    ignored: np.ndarray  # (T, M) bool: took a crowd region
    iou: np.ndarray  # (M,) IoU with the box taken at the first threshold (0 when none)
    truth: (
        np.ndarray
    )  # (M,) position in the ground truth given of the box taken at the first threshold, or -1
    truth_taken: np.ndarray  # (K,) bool: the ground-truth box was taken at the first threshold
    support: np.ndarray  # (L,) real (not crowd) ground-truth boxes per label
    dropped: int  # detections beyond MAX_DETECTIONS per image and label, not evaluated
    thresholds: np.ndarray  # (T,)


def match_boxes(
    detections: BoxSet,
    truths: BoxSet,
    *,
    labels: Sequence[str],
    n_images: int,
    thresholds: Sequence[float] | np.ndarray = IOU_THRESHOLDS,
    max_detections: int = MAX_DETECTIONS,
) -> DetectionMatch:
    """Match every (image, label) group's detections to its ground truth (see the module's rules)."""
    thresholds = np.asarray(thresholds, dtype=np.float64)
    n_labels = len(labels)
    assert detections.confidence is not None and truths.crowd is not None
    order = np.lexsort(
        (np.arange(len(detections)), -detections.confidence, detections.image, detections.label)
    )
    det_image, det_label = detections.image[order], detections.label[order]
    group_key = det_label * np.int64(max(n_images, 1)) + det_image
    starts = np.flatnonzero(np.r_[True, group_key[1:] != group_key[:-1]]) if len(order) else np.zeros(0, int)
    rank_in_group = np.arange(len(order)) - np.repeat(starts, np.diff(np.r_[starts, len(order)]))
    keep = rank_in_group < max_detections
    dropped = int((~keep).sum())
    order, group_key = order[keep], group_key[keep]

    truth_key = truths.label * np.int64(max(n_images, 1)) + truths.image
    # real boxes before crowd regions in each group, each kind in the order given (COCOeval's mergesort)
    truth_order = np.lexsort((np.arange(len(truths)), truths.crowd, truth_key))
    sorted_truth_key = truth_key[truth_order]

    n_rows = len(order)
    matched = np.zeros((thresholds.shape[0], n_rows), dtype=bool)
    ignored = np.zeros((thresholds.shape[0], n_rows), dtype=bool)
    iou = np.zeros(n_rows)
    truth_of = np.full(n_rows, -1, dtype=np.int64)
    truth_taken = np.zeros(len(truths), dtype=bool)
    row_starts = np.flatnonzero(np.r_[True, group_key[1:] != group_key[:-1]]) if n_rows else np.zeros(0, int)
    for start, end in zip(
        row_starts, np.r_[row_starts[1:], n_rows].astype(np.int64)[: len(row_starts)], strict=True
    ):
        key = group_key[start]
        first, last = np.searchsorted(sorted_truth_key, [key, key + 1])
        if first == last:
            continue
        truth_rows = truth_order[first:last]
        ious = iou_matrix(detections.box[order[start:end]], truths.box[truth_rows], truths.crowd[truth_rows])
        taken, in_crowd = greedy_match(ious, truths.crowd[truth_rows], thresholds)
        matched[:, start:end] = taken >= 0
        ignored[:, start:end] = in_crowd
        at_first = taken[0]
        hit = at_first >= 0
        iou[start:end][hit] = ious[np.flatnonzero(hit), at_first[hit]]
        truth_of[start:end][hit] = truth_rows[at_first[hit]]
        truth_taken[truth_rows[at_first[hit]]] = True
    support = np.bincount(truths.label[~truths.crowd], minlength=n_labels).astype(np.int64)
    return DetectionMatch(
        labels=tuple(labels),
        n_images=n_images,
        source=order,
        image=detections.image[order],
        label=detections.label[order],
        confidence=detections.confidence[order],
        matched=matched,
        ignored=ignored,
        iou=iou,
        truth=truth_of,
        truth_taken=truth_taken,
        support=support,
        dropped=dropped,
        thresholds=thresholds,
    )


@dataclass(frozen=True)
class CocoScores:
    """COCO's numbers per label: AP and recall at every IoU threshold (NaN where a label has no real box)."""

    ap: np.ndarray  # (T, L)
    recall: np.ndarray  # (T, L)
    thresholds: np.ndarray  # (T,)

    def at(self, threshold: float) -> tuple[np.ndarray, np.ndarray]:
        index = int(np.flatnonzero(np.isclose(self.thresholds, threshold))[0])
        return self.ap[index], self.recall[index]

    @property
    def ap_mean_over_iou(self) -> np.ndarray:
        return self.ap.mean(axis=0)

    @property
    def recall_mean_over_iou(self) -> np.ndarray:
        return self.recall.mean(axis=0)


def coco_average_precision(match: DetectionMatch) -> CocoScores:
    """COCOeval's accumulate() for the "all" area range and 100 detections, per label and IoU threshold."""
    n_thresholds, n_labels = match.thresholds.shape[0], len(match.labels)
    ap = np.full((n_thresholds, n_labels), np.nan)
    recall = np.full((n_thresholds, n_labels), np.nan)
    # Rows are already in concatenation order per label; a stable sort by confidence is COCO's mergesort.
    order = np.lexsort((np.arange(match.label.shape[0]), -match.confidence, match.label))
    label = match.label[order]
    bounds = np.searchsorted(label, np.arange(n_labels + 1))
    for k in range(n_labels):
        if match.support[k] == 0:
            continue
        rows = order[bounds[k] : bounds[k + 1]]
        counted = ~match.ignored[:, rows]
        tp = np.cumsum(match.matched[:, rows] & counted, axis=1).astype(np.float64)
        fp = np.cumsum(~match.matched[:, rows] & counted, axis=1).astype(np.float64)
        n_rows = rows.shape[0]
        for t in range(n_thresholds):
            rc = tp[t] / match.support[k]
            pr = tp[t] / (fp[t] + tp[t] + np.spacing(1))
            recall[t, k] = rc[-1] if n_rows else 0.0
            envelope = np.maximum.accumulate(pr[::-1])[::-1] if n_rows else pr
            points = np.searchsorted(rc, RECALL_POINTS, side="left")
            reached = points < n_rows
            q = np.zeros(RECALL_POINTS.shape[0])
            q[reached] = envelope[points[reached]]
            ap[t, k] = q.mean()
    return CocoScores(ap=ap, recall=recall, thresholds=match.thresholds)


def scored_pairs(
    match: DetectionMatch, *, floor: float, threshold_index: int = 0
) -> tuple[ScoredPairs, np.ndarray]:
    """The counts at one IoU threshold as ScoredPairs, so curves, grids and recommendations are shared.

    Each entry is one counted detection (a unit of its own: `image_idx` numbers units, not images), true
    when it matched a real box; real boxes never matched at or above the floor are positives never
    returned. Detections below the floor are left out (they cannot outrank one above it). Returns the pairs
    and, per label, the number of false detections at the floor: a threshold's true negatives are the
    false detections it removes (negatives - fp), which the caller writes in place of the image count.
    """
    # detections below the floor may be matched (AP counts them) but no threshold below it is known
    counted = ~match.ignored[threshold_index] & (match.confidence >= floor)
    label = match.label[counted]
    is_true = match.matched[threshold_index][counted]
    n_entries = int(counted.sum())
    missed = match.support - np.bincount(label[is_true], minlength=len(match.labels))
    negatives = np.bincount(label[~is_true], minlength=len(match.labels)).astype(np.int64)
    pairs = ScoredPairs(
        labels=match.labels,
        n_images=n_entries + int(missed.sum()),
        support=match.support,
        label_idx=label,
        image_idx=np.arange(n_entries, dtype=np.int64),
        confidence=match.confidence[counted],
        is_true=is_true,
        floor=floor,
    )
    return pairs, negatives
