"""Time the local backend per image on this machine: the ONNX run alone, and a whole DetectLabels answer.

    PYTHONPATH=. python benchmarks/bench_local_model.py

Prints medians over repeated runs (the machine's other load shows in the spread, so the minimum is
printed too), and the model file's size.
"""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path

import numpy as np

from evaluation.calls.backends.local import LocalModel

SAMPLE = Path(__file__).resolve().parents[1] / "datasets" / "sample" / "images"
REPEATS = 50


def timed(function, repeats: int = REPEATS) -> tuple[float, float]:
    function()  # warm-up
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples), min(samples)


def main() -> None:
    started = time.perf_counter()
    model = LocalModel.load()
    print(f"load: {(time.perf_counter() - started) * 1000:.0f} ms (session and hierarchy)")
    onnx = model.folder / "efficientnet_lite0.onnx"
    print(f"model file: {onnx.stat().st_size / 1e6:.1f} MB; CPUs: {os.cpu_count()}")
    batch = np.zeros((1, 3, model.image_size, model.image_size), dtype=np.float32)
    median, best = timed(lambda: model.session.run(None, {model.input_name: batch}))
    print(f"ONNX run, one 224x224 image: median {median:.1f} ms, min {best:.1f} ms")
    for name in ("chelsea-a.jpg", "rocket-a.jpg"):
        data = (SAMPLE / name).read_bytes()
        median, best = timed(lambda data=data: model.detect_labels(data, min_confidence=0, max_labels=1000))
        print(
            f"DetectLabels answer for {name} (decode, preprocess, run, labels): median {median:.1f} ms, "
            f"min {best:.1f} ms"
        )


if __name__ == "__main__":
    main()
