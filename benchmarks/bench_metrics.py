"""Time the vectorised sweep against the obvious per-label loop over scikit-learn, in the same run.

    python benchmarks/bench_metrics.py [--images 100000 --labels 1000 --per-image 30]

The sweep is exact_curves + grid_table + average_precision on sparse ScoredPairs. The alternative builds
a dense score vector per label (unreturned = below every threshold) and calls sklearn's
precision_recall_curve and average_precision_score; at full size that loop takes minutes, so it is timed
on a sample of labels and extrapolated to all of them (the output says so). Peak memory of the sweep is
measured with tracemalloc in a second, untimed run on a fresh instance (ScoredPairs caches its sort).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import resource
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from sklearn.metrics import average_precision_score, precision_recall_curve

from evaluation.stats.metrics import ScoredPairs, average_precision, exact_curves, grid_table

FLOOR = 50.0
UNRETURNED = -1.0


def random_pairs(
    n_images: int, n_labels: int, per_image: int, *, seed: int
) -> tuple[ScoredPairs, np.ndarray, np.ndarray]:
    """Random sparse predictions like DetectLabels at MinConfidence 50: skewed label frequencies, about
    ``per_image`` labels per image, confidences rounded to 2 decimals (ties, as parents tie children),
    and about 10% of positives never returned. Also returns the unreturned positives (label, image)."""
    rng = np.random.default_rng(seed)
    popularity = 1.0 / np.arange(1, n_labels + 1) ** 0.8
    image = np.repeat(np.arange(n_images, dtype=np.int64), per_image)
    label = rng.choice(n_labels, size=image.size, p=popularity / popularity.sum())
    key = np.unique(
        image * n_labels + label
    )  # one entry per (image, label), image by image as responses come
    image, label = key // n_labels, key % n_labels
    is_true = rng.random(key.size) < 0.5
    confidence = FLOOR + (100 - FLOOR) * np.where(is_true, rng.beta(5, 2, key.size), rng.beta(2, 3, key.size))
    confidence = np.round(confidence, 2)

    missed_key = np.unique(rng.integers(0, n_labels * n_images, int(0.1 * is_true.sum())))
    missed_key = missed_key[~np.isin(missed_key, key, assume_unique=True)]
    missed_image, missed_label = missed_key // n_labels, missed_key % n_labels
    support = np.bincount(label[is_true], minlength=n_labels) + np.bincount(missed_label, minlength=n_labels)
    pairs = ScoredPairs(
        labels=tuple(f"label{i:04d}" for i in range(n_labels)),
        n_images=n_images,
        support=support,
        label_idx=label,
        image_idx=image,
        confidence=confidence,
        is_true=is_true,
        floor=FLOOR,
    )
    return pairs, missed_label, missed_image


def sweep(pairs: ScoredPairs) -> tuple[int, int, np.ndarray]:
    curves = exact_curves(pairs)
    grid = grid_table(pairs)
    ap = average_precision(pairs)
    return len(curves), len(grid), ap


def sklearn_loop(
    pairs: ScoredPairs, missed_label: np.ndarray, missed_image: np.ndarray, labels: np.ndarray
) -> dict[int, tuple[np.ndarray, np.ndarray, np.ndarray, float]]:
    """The obvious alternative: per label, dense y_true and y_score over all N images, then sklearn."""
    by_label = np.argsort(pairs.label_idx, kind="stable")
    starts = np.searchsorted(pairs.label_idx[by_label], np.arange(pairs.n_labels + 1))
    missed_by_label = np.argsort(missed_label, kind="stable")
    missed_starts = np.searchsorted(missed_label[missed_by_label], np.arange(pairs.n_labels + 1))
    results = {}
    for label in labels:
        entries = by_label[starts[label] : starts[label + 1]]
        y_score = np.full(pairs.n_images, UNRETURNED)
        y_score[pairs.image_idx[entries]] = pairs.confidence[entries]
        y_true = np.zeros(pairs.n_images, dtype=bool)
        y_true[pairs.image_idx[entries][pairs.is_true[entries]]] = True
        y_true[missed_image[missed_by_label[missed_starts[label] : missed_starts[label + 1]]]] = True
        precision, recall, thresholds = precision_recall_curve(y_true, y_score)
        ap = average_precision_score(y_true, y_score) if y_true.any() else np.nan
        results[int(label)] = (precision, recall, thresholds, ap)
    return results


def check_agreement(
    pairs: ScoredPairs, ap: np.ndarray, reference: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray, float]]
) -> bool:
    """Our curves equal sklearn's above the floor; AP differs only by sklearn's predict-everything point."""
    curves = exact_curves(pairs)
    codes = curves["label"].cat.codes.to_numpy()
    for label, (precision, recall, thresholds, sklearn_ap) in reference.items():
        if not pairs.support[label]:
            continue
        ours = curves[codes == label].iloc[::-1]
        known = thresholds >= 0
        if not (
            np.array_equal(ours["threshold"], thresholds[known])
            and np.allclose(ours["precision"], precision[:-1][known], rtol=1e-12)
            and np.allclose(ours["recall"], recall[:-1][known], rtol=1e-12)
        ):
            return False
        last_recall = ours["recall"].iloc[0] if len(ours) else 0.0  # ascending: row 0 is the lowest threshold
        tail = (1 - last_recall) * pairs.support[label] / pairs.n_images
        if not np.isclose(sklearn_ap, ap[label] + tail, rtol=1e-10):
            return False
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--labels", type=int, default=1_000)
    parser.add_argument("--per-image", type=int, default=30)
    parser.add_argument("--sample-labels", type=int, default=50, help="labels timed in the sklearn loop")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=3, help="sweep runs; the best time is reported")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    pairs, missed_label, missed_image = random_pairs(args.images, args.labels, args.per_image, seed=args.seed)
    built = time.perf_counter() - start
    print(
        f"data: {pairs.n_images:,} images x {pairs.n_labels:,} labels, M = {pairs.n_pairs:,} pairs, "
        f"{int(pairs.support.sum()):,} positives ({missed_label.size:,} never returned); "
        f"built in {built:.1f}s"
    )

    start = time.perf_counter()
    fresh = dataclasses.replace(pairs)  # a new instance: nothing cached
    validated = time.perf_counter() - start
    print(f"ScoredPairs validation and copy: {validated:.2f}s")

    fast = math.inf
    for _ in range(args.repeat):  # best of a few, each on a fresh instance (nothing cached)
        instance = dataclasses.replace(pairs)
        start = time.perf_counter()
        n_curve_rows, n_grid_rows, ap = sweep(instance)
        fast = min(fast, time.perf_counter() - start)
    print(
        f"sweep (exact_curves + grid_table + average_precision): {fast:.2f}s, best of {args.repeat} "
        f"({n_curve_rows:,} curve rows, {n_grid_rows:,} grid rows)"
    )

    tracemalloc.start()
    sweep(fresh)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"peak memory allocated by the sweep (tracemalloc, second run): {peak / 2**20:,.0f} MiB")

    rng = np.random.default_rng(args.seed + 1)
    sample = np.sort(rng.choice(pairs.n_labels, size=min(args.sample_labels, pairs.n_labels), replace=False))
    start = time.perf_counter()
    reference = sklearn_loop(pairs, missed_label, missed_image, sample)
    sampled = time.perf_counter() - start
    loop = sampled * pairs.n_labels / sample.size
    extrapolated = sample.size < pairs.n_labels
    how = (
        f"measured on {sample.size} of {pairs.n_labels} labels ({sampled:.2f}s), extrapolated"
        if extrapolated
        else "measured"
    )
    print(f"per-label sklearn loop (precision_recall_curve + average_precision_score): {loop:.1f}s, {how}")
    print(f"speed-up: {loop / fast:,.0f}x")
    agrees = check_agreement(pairs, ap, reference)
    print(f"sweep agrees with sklearn on the sampled labels: {'yes' if agrees else 'NO'}")
    max_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux
    print(f"process peak RSS (everything above, data included): {max_rss:,.0f} MiB")
    return 0 if agrees else 1


if __name__ == "__main__":
    sys.exit(main())
