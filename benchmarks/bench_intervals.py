"""What the intervals cost: the one analysis of a 10,000-image run with the bootstrap (1,000 resamples)
against the same analysis without it, in the same run, with peak memory.

    python benchmarks/bench_intervals.py [--images 10000 --labels 50 --resamples 1000 --repeat 3]

The run is scripted (tests/support/runs.py: long-tailed label frequencies, DetectLabels-shaped answers)
and analysed by the real `analyse`; "without" is --resamples 0 (Wilson intervals, data advice and
calibration are still computed: they cost next to nothing), "with" adds the seeded bootstrap over
images that gives the F1 and MinConfidence intervals. Times are the best of --repeat runs; peak memory
is tracemalloc's in a separate, untimed run of each.
"""

from __future__ import annotations

import argparse
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from evaluation.analysis import analyse
from evaluation.options import AnalysisOptions
from tests.support import runs


def inputs(n_images: int, n_labels: int) -> dict[str, Any]:
    """analyse()'s arguments for a scripted run (captured, not analysed)."""
    captured: dict[str, Any] = {}

    def capture(images: Any, responses: Any, **keywords: Any) -> None:
        captured.update(images=images, responses=responses, **keywords)

    with mock.patch.object(runs, "analyse", capture):
        runs.synthetic_result(None, labels=[f"label{i:03d}" for i in range(n_labels)], n_images=n_images)
    return captured


def timed(arguments: dict[str, Any], options: AnalysisOptions, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        analyse(arguments["images"], arguments["responses"], run=arguments["run"], options=options)
        best = min(best, time.perf_counter() - start)
    return best


def peak(arguments: dict[str, Any], options: AnalysisOptions) -> float:
    tracemalloc.start()
    analyse(arguments["images"], arguments["responses"], run=arguments["run"], options=options)
    _, top = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return top / 2**20


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--labels", type=int, default=50)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)

    arguments = inputs(args.images, args.labels)
    vocabulary = list(arguments["run"]["dataset"]["vocabulary"])
    without = AnalysisOptions.build(resamples=0, vocabulary=vocabulary)
    with_bootstrap = AnalysisOptions.build(resamples=args.resamples, seed=0, vocabulary=vocabulary)
    pairs = analyse(arguments["images"], arguments["responses"], run=arguments["run"], options=without).pairs
    assert pairs is not None
    print(
        f"{args.images:,} images, {args.labels} labels, {pairs.n_pairs:,} returned (image, label) pairs, "
        f"{int(pairs.support.sum()):,} positives"
    )
    base = timed(arguments, without, args.repeat)
    full = timed(arguments, with_bootstrap, args.repeat)
    print(f"analysis without the bootstrap:        {base:7.2f} s (best of {args.repeat})")
    print(f"analysis with {args.resamples:,} resamples:          {full:7.2f} s")
    print(f"time added by the bootstrap:            {full - base:7.2f} s (ratio {full / base:.2f}x)")
    print(
        f"peak memory (tracemalloc) without/with: {peak(arguments, without):7.1f} / "
        f"{peak(arguments, with_bootstrap):.1f} MB"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
