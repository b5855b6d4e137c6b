"""What reading a stored answer costs: `check_answer` with the old closure-tree test against the
generated one, next to json.loads of the same answers, in the same run, with peak memory.

    python benchmarks/bench_answer_check.py [--answers 20000 --repeat 3]

The answers are the scale benchmark's DetectLabels answers (tests/support/scale_answers.py: about 30
labels each, 1-3 parents, a category, some aliases and instance boxes), held as the JSON text a store
keeps. Times are the best of --repeat rounds, the three measured in turn in every round, with the
garbage collector off (as a replay of many answers would run). "old" is check_answer as it was: the
reference closure tree kept in tests/calls/test_answers_compiled.py for the yes/no, then the same slow
checker on a failure. Peak memory is tracemalloc's, in a separate, untimed pass of each.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from evaluation.calls.answers import _output_shape, check_answer
from tests.calls.test_answers_compiled import reference_check_answer, reference_test
from tests.support.scale_answers import answers

API = "DetectLabels"


def passes(texts: list[str], parsed: list[Any]) -> dict[str, Callable[[], Any]]:
    """The three passes over every answer, by name."""
    old_test = reference_test(_output_shape(API))

    def old() -> None:
        for response in parsed:
            reference_check_answer(API, response, old_test)

    def new() -> None:
        for response in parsed:
            check_answer(API, response)

    def loads() -> list[Any]:
        return [json.loads(text) for text in texts]

    return {"json.loads": loads, "check_answer, old test": old, "check_answer, generated test": new}


def timed(work: dict[str, Callable[[], Any]], repeat: int) -> dict[str, float]:
    best = dict.fromkeys(work, float("inf"))
    gc.disable()
    try:
        for _ in range(repeat):
            for name, run in work.items():
                start = time.perf_counter()
                run()
                best[name] = min(best[name], time.perf_counter() - start)
    finally:
        gc.enable()
    return best


def peak(run: Callable[[], Any]) -> float:
    tracemalloc.start()
    run()
    _, top = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return top / 2**20


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--answers", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)

    texts = [json.dumps(response, separators=(",", ":")) for _, response, _ in answers(args.answers)]
    parsed = [json.loads(text) for text in texts]
    labels = sum(len(response["Labels"]) for response in parsed)
    megabytes = sum(map(len, texts)) / 2**20
    print(f"{args.answers:,} {API} answers, {labels:,} labels, {megabytes:.1f} MB of JSON")
    work = passes(texts, parsed)
    check_answer(API, parsed[0])  # the generated test is compiled once per API: not timed
    seconds = timed(work, args.repeat)
    loads, old, new = seconds.values()
    for name, value in seconds.items():
        per_answer = value / args.answers * 1e6
        print(f"{name:30s} {value:7.3f} s  {per_answer:6.1f} us/answer (best of {args.repeat}, gc off)")
    print(f"old / generated test:          {old / new:7.2f}x")
    print(f"check / json.loads, old:       {old / loads:7.2f}   generated: {new / loads:.2f}")
    peaks = "  ".join(f"{name}: {peak(run):.2f} MB" for name, run in work.items())
    print(f"peak memory (tracemalloc)      {peaks}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
