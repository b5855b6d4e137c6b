"""What the F1 / MinConfidence intervals cost at scale: the exact bootstrap against the bag of little
bootstraps, in the same process, with time and peak memory (tracemalloc) of each.

    python benchmarks/bench_bootstrap.py [--sizes 20000 100000] [--million] [--exact-up-to 100000]

Pairs are generated directly as arrays, in the shape of tests/support/scale_answers.py (about 30 of a
1,000-name vocabulary per image, confidences 50-100; 100 dataset labels, 0-4 true per image, 85% of them
returned 20 points higher). 1,000 resamples, best-f1. The exact bootstrap is skipped above
--exact-up-to images (100,000 takes minutes on 2 cores); --million adds 1,000,000 images (BLB only).
"""

from __future__ import annotations

import argparse
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from evaluation.stats.bootstrap import bootstrap_recommendations
from evaluation.stats.metrics import ScoredPairs


def synthetic(n_images: int, seed: int = 19) -> tuple[ScoredPairs, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    vocabulary, dataset_first, dataset_labels = 1000, 60, 100
    per_image = np.clip(rng.normal(30, 5, n_images), 1, 60).astype(np.int64)
    image = np.repeat(np.arange(n_images), per_image)
    label = rng.integers(0, vocabulary, image.size)
    truth_count = rng.integers(0, 5, n_images)
    truth_image = np.repeat(np.arange(n_images), truth_count)
    truth_label = dataset_first + rng.integers(0, dataset_labels, truth_image.size)
    truth_key = np.unique(truth_image * vocabulary + truth_label)
    found = truth_key[rng.random(truth_key.size) < 0.85]
    key = np.unique(np.concatenate([image * vocabulary + label, found]))
    image, label = key // vocabulary, key % vocabulary
    is_true = np.isin(key, truth_key)
    confidence = rng.uniform(50, 100, key.size).astype(np.float32).astype(np.float64)
    confidence = np.where(is_true, np.minimum(99.999, confidence + 20), confidence)
    pairs = ScoredPairs(
        labels=tuple(f"label{i:04d}" for i in range(vocabulary)),
        n_images=n_images,
        support=np.bincount(truth_key % vocabulary, minlength=vocabulary),
        label_idx=label,
        image_idx=image,
        confidence=confidence,
        is_true=is_true,
        floor=50.0,
    )
    return pairs, truth_key // vocabulary, truth_key % vocabulary


def measure(pairs: ScoredPairs, image: np.ndarray, label: np.ndarray, *, exact: bool) -> tuple[float, float]:
    tracemalloc.start()
    started = time.perf_counter()
    result = bootstrap_recommendations(
        pairs, positive_image_idx=image, positive_label_idx=label, objective="best-f1", exact=exact
    )
    result.per_label()
    result.global_interval()
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    if not exact:
        assert result.method is not None
        print(f"    {result.method.describe()}")
    return elapsed, peak / 2**20


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[20_000, 100_000])
    parser.add_argument("--million", action="store_true", help="add 1,000,000 images")
    parser.add_argument("--exact-up-to", type=int, default=20_000)
    args = parser.parse_args(argv)
    for n_images in [*args.sizes, *([1_000_000] if args.million else [])]:
        pairs, image, label = synthetic(n_images)
        print(
            f"{n_images:,} images: {pairs.n_pairs:,} scored pairs, {image.size:,} positives, 1,000 resamples"
        )
        little = measure(pairs, image, label, exact=False)
        print(f"  bag of little bootstraps: {little[0]:7.1f} s, peak {little[1]:7.0f} MB")
        if n_images <= args.exact_up_to:
            exact = measure(pairs, image, label, exact=True)
            print(f"  exact bootstrap:          {exact[0]:7.1f} s, peak {exact[1]:7.0f} MB")
            print(f"  exact / little: time {exact[0] / little[0]:.1f}x, memory {exact[1] / little[1]:.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
