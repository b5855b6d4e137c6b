"""Time LabelsCodec.encode (the response store's encoding of every answer it keeps) against the adapter's
objects it replaced and against json.loads of the same answers, in the same process.

    python benchmarks/bench_label_encode.py [--answers 20000 --repeat 3]

The answers are tests/support/scale_answers.py's (about 30 labels per image, 1-3 parents each, a few
instance boxes), parsed once from their JSON text. gc is off while timing, every path is run --repeat times
and its best time reported; the two encodings are checked equal before anything is printed. Peak memory is
tracemalloc's, in a second, untimed run of each path that keeps its results (as the timed run does).
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from evaluation.operations.answers import adapter_for
from evaluation.operations.label_columns import LABELS_CODEC, encode_answer
from tests.support.scale_answers import answers

OPERATION = "DetectLabels"


def through_objects(response: dict[str, Any]) -> dict[str, Any]:
    """The encoding before: the adapter's LabelsAnswer, then its columns."""
    return encode_answer(adapter_for(OPERATION)(response))


def direct(response: dict[str, Any]) -> dict[str, Any]:
    return LABELS_CODEC.encode(OPERATION, response)


def best_time(work: Callable[[], Any], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - started)
    return best


def peak_mib(work: Callable[[], Any]) -> float:
    tracemalloc.start()
    kept = work()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del kept
    return peak / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--answers", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each path; the best time is reported")
    args = parser.parse_args()

    texts = [json.dumps(response) for _, response, _ in answers(args.answers)]
    responses = [json.loads(text) for text in texts]
    labels = sum(len(response["Labels"]) for response in responses)
    if [through_objects(r) for r in responses] != [direct(r) for r in responses]:
        raise SystemExit("the two encodings differ")

    paths: dict[str, Callable[[], Any]] = {
        "json.loads": lambda: [json.loads(text) for text in texts],
        "encode through the adapter's objects (before)": lambda: [through_objects(r) for r in responses],
        "encode straight from the response (now)": lambda: [direct(r) for r in responses],
    }
    gc.disable()
    try:
        times = {name: best_time(work, args.repeat) for name, work in paths.items()}
    finally:
        gc.enable()
    peaks = {name: peak_mib(work) for name, work in paths.items()}

    print(f"{args.answers:,} DetectLabels answers, {labels:,} labels; gc off; best of {args.repeat}")
    for name, seconds in times.items():
        per_answer = seconds / args.answers * 1e6
        print(f"  {name:<48} {seconds:6.2f} s  {per_answer:6.1f} us/answer  peak {peaks[name]:6.1f} MiB")
    loads, before, now = times.values()
    print(f"speed-up of encode: {before / now:.1f}x")
    print(f"encode / json.loads: before {before / loads:.2f}, now {now / loads:.2f}")
    max_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux
    print(f"process peak RSS (everything above, data included): {max_rss:,.0f} MiB")


if __name__ == "__main__":
    main()
