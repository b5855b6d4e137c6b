"""COCO-style box matching and AP, on cases worked out by hand, and against a slow re-match per threshold."""

from __future__ import annotations

import numpy as np
import pytest

from evaluation.operations.detection import (
    RECALL_POINTS,
    BoxSet,
    coco_average_precision,
    greedy_match,
    iou_matrix,
    match_boxes,
    scored_pairs,
)
from evaluation.stats.metrics import exact_curves


def test_iou_of_boxes_worked_by_hand():
    truth = [[0.0, 0.0, 0.5, 0.5]]
    # half of the truth, shifted right by a quarter: overlap 0.25 x 0.5 = 0.125, union 0.25 + 0.25 - 0.125
    assert iou_matrix([[0.25, 0.0, 0.5, 0.5]], truth)[0, 0] == pytest.approx(0.125 / 0.375)
    assert iou_matrix([[0.0, 0.0, 0.5, 0.5]], truth)[0, 0] == 1.0
    assert iou_matrix([[0.5, 0.0, 0.5, 0.5]], truth)[0, 0] == 0.0  # touching edges do not overlap
    assert iou_matrix([[0.6, 0.6, 0.1, 0.1]], truth)[0, 0] == 0.0


def test_iou_with_a_crowd_region_is_over_the_detection_alone():
    crowd = [[0.0, 0.0, 1.0, 1.0]]
    small = [[0.25, 0.25, 0.25, 0.25]]  # entirely inside: 1.0 against the crowd, 1/16 against a box
    assert iou_matrix(small, crowd, [True])[0, 0] == 1.0
    assert iou_matrix(small, crowd, [False])[0, 0] == pytest.approx(1 / 16)
    half_out = [[0.75, 0.0, 0.5, 0.5]]  # half of it inside
    assert iou_matrix(half_out, crowd, [True])[0, 0] == pytest.approx(0.5)


def test_one_prediction_and_two_truths_takes_the_better_overlap():
    ious = np.array([[0.6, 0.8]])
    matched, ignored = greedy_match(ious, np.array([False, False]), [0.5])
    assert matched.tolist() == [[1]] and not ignored.any()


def test_two_truths_with_equal_overlap_the_later_one_is_taken_as_coco_does():
    matched, _ = greedy_match(np.array([[0.7, 0.7]]), np.array([False, False]), [0.5])
    assert matched.tolist() == [[1]]


def test_two_predictions_for_one_truth_the_more_confident_wins_the_other_is_false():
    # rows are most confident first: the second detection overlaps more but comes too late
    matched, _ = greedy_match(np.array([[0.6], [0.9]]), np.array([False]), [0.5])
    assert matched.tolist() == [[0, -1]]


def test_a_taken_truth_passes_the_next_detection_to_the_second_best():
    matched, _ = greedy_match(np.array([[0.9, 0.6], [0.8, 0.55]]), np.array([False, False]), [0.5])
    assert matched.tolist() == [[0, 1]]


def test_iou_exactly_at_the_threshold_matches():
    matched, _ = greedy_match(np.array([[0.5]]), np.array([False]), [0.5])
    assert matched.tolist() == [[0]]
    below, _ = greedy_match(np.array([[0.5 - 1e-12]]), np.array([False]), [0.5])
    assert below.tolist() == [[-1]]


def test_crowd_regions_absorb_any_number_of_detections_and_come_after_real_boxes():
    # truths: one real box, then a crowd region; three detections
    ious = np.array(
        [
            [0.7, 0.9],  # takes the real box (real boxes first), though the crowd overlaps more
            [0.6, 0.9],  # the real box is taken: the crowd absorbs it (ignored)
            [0.0, 0.6],  # also absorbed
        ]
    )
    matched, ignored = greedy_match(ious, np.array([False, True]), [0.5])
    assert matched.tolist() == [[0, 1, 1]]
    assert ignored.tolist() == [[False, True, True]]


def test_matching_at_each_iou_threshold():
    matched, _ = greedy_match(np.array([[0.72]]), np.array([False]), [0.5, 0.7, 0.75])
    assert matched[:, 0].tolist() == [0, 0, -1]


def boxes(rows: list, *, detections: bool) -> BoxSet:
    """Rows of (image, label, left, top, width, height, confidence or crowd)."""
    rows = np.asarray(rows, dtype=np.float64).reshape(-1, 7)
    image, label, geometry, extra = rows[:, 0].astype(int), rows[:, 1].astype(int), rows[:, 2:6], rows[:, 6]
    if detections:
        return BoxSet(image, label, geometry, confidence=extra)
    return BoxSet(image, label, geometry, crowd=extra.astype(bool))


def test_ap_worked_by_hand():
    """Two truths; detections tp 90, fp 80, tp 70: precision 1, 1/2, 2/3 -> envelope 1, 2/3, 2/3; recall
    .5, .5, 1. Recall points 0 to 0.5 (51 of them) read 1, the 50 above read 2/3: AP = (51 + 50*2/3)/101."""
    truths = boxes([[0, 0, 0.0, 0.0, 0.2, 0.2, 0], [1, 0, 0.5, 0.5, 0.2, 0.2, 0]], detections=False)
    detections = boxes(
        [
            [0, 0, 0.0, 0.0, 0.2, 0.2, 90],
            [0, 0, 0.7, 0.7, 0.1, 0.1, 80],
            [1, 0, 0.5, 0.5, 0.2, 0.2, 70],
        ],
        detections=True,
    )
    match = match_boxes(detections, truths, labels=["Car"], n_images=2)
    scores = coco_average_precision(match)
    assert scores.ap[0, 0] == pytest.approx((51 + 50 * 2 / 3) / 101)
    assert np.allclose(scores.ap[:, 0], scores.ap[0, 0])  # exact boxes: the same at every IoU
    assert scores.recall[0, 0] == 1.0
    assert RECALL_POINTS.shape == (101,)


def test_ties_across_images_are_taken_in_image_order():
    """Both detections at 80: image 0's is false, image 1's true. COCO walks image 0 first, so precision
    is 0 then 1/2 (envelope 1/2 at every recall up to 1): AP = 0.5. Swapping the images gives 1.0."""
    truths = boxes([[1, 0, 0.0, 0.0, 0.2, 0.2, 0]], detections=False)
    detections = boxes([[1, 0, 0.0, 0.0, 0.2, 0.2, 80], [0, 0, 0.6, 0.6, 0.2, 0.2, 80]], detections=True)
    ap = coco_average_precision(match_boxes(detections, truths, labels=["Car"], n_images=2)).ap[0, 0]
    assert ap == pytest.approx(0.5)
    swapped_truths = boxes([[0, 0, 0.0, 0.0, 0.2, 0.2, 0]], detections=False)
    swapped = boxes([[0, 0, 0.0, 0.0, 0.2, 0.2, 80], [1, 0, 0.6, 0.6, 0.2, 0.2, 80]], detections=True)
    assert coco_average_precision(match_boxes(swapped, swapped_truths, labels=["Car"], n_images=2)).ap[
        0, 0
    ] == pytest.approx(1.0)


def test_ties_within_an_image_keep_the_answer_order():
    # two equally confident detections of one truth: the first in the answer takes it
    truths = boxes([[0, 0, 0.0, 0.0, 0.4, 0.4, 0]], detections=False)
    detections = boxes([[0, 0, 0.0, 0.0, 0.3, 0.4, 60], [0, 0, 0.0, 0.0, 0.4, 0.4, 60]], detections=True)
    match = match_boxes(detections, truths, labels=["Car"], n_images=1)
    assert match.matched[0].tolist() == [True, False]
    assert match.iou[0] == pytest.approx(0.75)


def test_a_label_without_real_boxes_has_no_ap_and_crowd_only_images_are_not_support():
    truths = boxes([[0, 0, 0.0, 0.0, 1.0, 1.0, 1]], detections=False)
    detections = boxes([[0, 0, 0.1, 0.1, 0.2, 0.2, 50]], detections=True)
    match = match_boxes(detections, truths, labels=["Person"], n_images=1)
    assert match.support.tolist() == [0]
    assert match.ignored[0].tolist() == [True]
    assert np.isnan(coco_average_precision(match).ap).all()


def test_counts_per_threshold_equal_a_fresh_match_at_each_threshold():
    """The one matching gives, at every confidence t, the counts of matching only the detections >= t."""
    rng = np.random.default_rng(3)
    truth_rows, det_rows = [], []
    for image in range(12):
        for _ in range(rng.integers(0, 4)):
            label = int(rng.integers(0, 2))
            x, y = rng.uniform(0, 0.6, 2)
            truth_rows.append([image, label, x, y, 0.3, 0.3, float(rng.random() < 0.15)])
            for _ in range(rng.integers(0, 3)):
                dx, dy = rng.normal(0, 0.06, 2)
                det_rows.append([image, label, x + dx, y + dy, 0.3, 0.3, float(rng.integers(0, 10) * 10)])
    truths, detections = boxes(truth_rows, detections=False), boxes(det_rows, detections=True)
    match = match_boxes(detections, truths, labels=["A", "B"], n_images=12)
    pairs, negatives = scored_pairs(match, floor=0.0)
    curves = exact_curves(pairs)
    for row in curves.itertuples():
        keep = detections.confidence >= row.threshold
        subset = BoxSet(
            detections.image[keep], detections.label[keep], detections.box[keep], detections.confidence[keep]
        )
        again = match_boxes(subset, truths, labels=["A", "B"], n_images=12)
        label = ["A", "B"].index(row.label)
        counted = (again.label == label) & ~again.ignored[0]
        assert row.tp == int((again.matched[0] & counted).sum())
        assert row.fp == int((~again.matched[0] & counted).sum())
        assert row.fn == again.support[label] - row.tp
    assert negatives.sum() == int((~match.matched[0] & ~match.ignored[0]).sum())


def _cocoeval_ap50(truth_rows: list, det_rows: list, n_images: int, side: float = 256.0) -> float:
    """pycocotools' AP at IoU 0.5 for one category, boxes given as ratios of square images of `side` px."""
    import contextlib
    import io

    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    def pixels(row: list) -> list[float]:
        return [value * side for value in row[2:6]]

    truth = COCO()
    truth.dataset = {
        "images": [{"id": i + 1, "width": side, "height": side} for i in range(n_images)],
        "annotations": [
            {
                "id": k + 1,
                "image_id": int(r[0]) + 1,
                "category_id": 1,
                "bbox": pixels(r),
                "iscrowd": int(r[6]),
                "area": r[4] * r[5] * side * side,
            }
            for k, r in enumerate(truth_rows)
        ],
        "categories": [{"id": 1, "name": "Car"}],
    }
    with contextlib.redirect_stdout(io.StringIO()):
        truth.createIndex()
        results = [
            {"image_id": int(r[0]) + 1, "category_id": 1, "bbox": pixels(r), "score": r[6]} for r in det_rows
        ]
        evaluation = COCOeval(truth, truth.loadRes(results), "bbox")
        evaluation.evaluate()
        evaluation.accumulate()
    return float(evaluation.eval["precision"][0, :, 0, 0, 2].mean())


@pytest.mark.parametrize(
    "truth_rows, det_rows, n_images",
    [
        (  # the AP worked by hand
            [[0, 0, 0.0, 0.0, 0.25, 0.25, 0], [1, 0, 0.5, 0.5, 0.25, 0.25, 0]],
            [
                [0, 0, 0.0, 0.0, 0.25, 0.25, 90],
                [0, 0, 0.75, 0.75, 0.125, 0.125, 80],
                [1, 0, 0.5, 0.5, 0.25, 0.25, 70],
            ],
            2,
        ),
        (  # a tie across images
            [[1, 0, 0.0, 0.0, 0.25, 0.25, 0]],
            [[1, 0, 0.0, 0.0, 0.25, 0.25, 80], [0, 0, 0.5, 0.5, 0.25, 0.25, 80]],
            2,
        ),
        (  # a crowd region absorbing two detections beside a real box
            [[0, 0, 0.0, 0.0, 0.25, 0.25, 0], [0, 0, 0.5, 0.5, 0.5, 0.5, 1]],
            [
                [0, 0, 0.0, 0.0, 0.25, 0.25, 60],
                [0, 0, 0.5, 0.5, 0.25, 0.25, 90],
                [0, 0, 0.75, 0.75, 0.25, 0.25, 50],
            ],
            1,
        ),
        (  # one prediction between two truths, IoU exactly 0.5 with one (exact in binary fractions)
            [[0, 0, 0.0, 0.0, 0.5, 0.25, 0], [0, 0, 0.25, 0.0, 0.5, 0.25, 0]],
            [[0, 0, 0.125, 0.0, 0.5, 0.25, 70]],
            1,
        ),
    ],
)
def test_hand_cases_equal_cocoeval(truth_rows, det_rows, n_images):
    pytest.importorskip("pycocotools", reason="pycocotools is not installed: the hand-worked answers stand")
    match = match_boxes(
        boxes(det_rows, detections=True),
        boxes(truth_rows, detections=False),
        labels=["Car"],
        n_images=n_images,
    )
    assert coco_average_precision(match).ap[0, 0] == pytest.approx(
        _cocoeval_ap50(truth_rows, det_rows, n_images), abs=1e-12
    )
