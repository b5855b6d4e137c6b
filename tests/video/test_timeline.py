"""Time-weighted segment metrics: hand-worked numbers, and the sweep against a millisecond brute force."""

from __future__ import annotations

import random

import numpy as np
import pytest

from evaluation.stats.timeline import Pieces, best_f1, pieces, time_curve


def test_hand_worked_example():
    # truth 1000-3000 ms; detections 2000-4000 @ 80 and 0-500 @ 40; video 5 s, no tolerance
    judged = pieces([(1000, 3000)], [(2000, 4000, 80.0), (0, 500, 40.0)], duration_ms=5000)
    curve = time_curve(judged)
    at_80 = curve[curve["threshold"] == 80.0].iloc[0]
    assert (at_80.tp_s, at_80.fn_s, at_80.fp_s) == (1.0, 1.0, 1.0)  # 2-3 s hit, 1-2 s missed, 3-4 s false
    at_40 = curve[curve["threshold"] == 40.0].iloc[0]
    assert (at_40.tp_s, at_40.fn_s, at_40.fp_s) == (1.0, 1.0, 1.5)
    assert at_80.precision == pytest.approx(0.5) and at_80.recall == pytest.approx(0.5)
    assert best_f1(curve)["threshold"] == 80.0


def test_tolerance_leaves_the_edges_unjudged():
    # 250 ms either side of 1000 and 3000 are not judged: hit 2000-2750, missed 1250-2000, false 3250-4000
    judged = pieces([(1000, 3000)], [(2000, 4000, 80.0)], duration_ms=5000, tolerance_ms=250)
    row = time_curve(judged).iloc[0]
    assert (row.tp_s, row.fn_s, row.fp_s) == (0.75, 0.75, 0.75)


def test_no_truth_means_recall_undefined_and_no_detection_means_an_empty_curve():
    curve = time_curve(pieces([], [(0, 100, 50.0)], duration_ms=1000))
    assert np.isnan(curve["recall"]).all() and curve.iloc[0].fp_s == 0.1
    assert time_curve(pieces([(0, 100)], [], duration_ms=1000)).empty


def test_sweep_equals_a_millisecond_brute_force_on_random_time_lines():
    rng = random.Random(3)
    videos = []
    for _ in range(25):
        duration = rng.randrange(500, 4000, 10)
        truth = [
            (s, min(duration, s + rng.randrange(50, 900, 10)))
            for s in (rng.randrange(0, duration - 40, 10) for _ in range(rng.randrange(0, 3)))
        ]
        detections = [
            (s, min(duration, s + rng.randrange(20, 900, 10)), float(rng.choice([10, 35, 35, 60, 90])))
            for s in (rng.randrange(0, duration - 20, 10) for _ in range(rng.randrange(0, 4)))
        ]
        videos.append((duration, truth, detections))
    tolerance = 30
    judged = Pieces.concat([pieces(t, d, duration_ms=n, tolerance_ms=tolerance) for n, t, d in videos])
    for row in time_curve(judged).itertuples():
        tp = fn = fp = 0
        for duration, truth, detections in videos:
            edges = [edge for span in truth for edge in span]
            for ms in range(duration):
                x = ms + 0.5
                if any(e - tolerance <= x < e + tolerance for e in edges):
                    continue
                present = any(s <= x < e for s, e in truth)
                predicted = any(s <= x < e and c >= row.threshold for s, e, c in detections)
                tp += present and predicted
                fn += present and not predicted
                fp += predicted and not present
        assert (round(row.tp_s * 1000), round(row.fn_s * 1000), round(row.fp_s * 1000)) == (tp, fn, fp)


def test_union_and_subtract_by_hand():
    from evaluation.stats.timeline import subtract, union

    merged = union([(300, 500), (0, 100), (50, 200), (700, 700)])  # a zero-length span covers nothing
    assert merged == [(0, 200), (300, 500)]
    assert subtract(merged, [(100, 350)]) == [(0, 100), (350, 500)]
    assert subtract(merged, []) == merged and subtract([], merged) == []
