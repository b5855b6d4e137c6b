"""Calls at the quota: achieved TPS against an endpoint that throttles above its limit.

Starts a local Rekognition-protocol server with a token-bucket limit and a set latency, then fetches
answers for N images three ways, in this one run:
  - the harness: thread pool + client-side rate limiter at the limit + retries;
  - the harness told a rate 20% above the real limit (a wrong --tps): it is throttled, retries, loses nothing;
  - one at a time (the obvious loop): no pool, no limiter;
  - flooding: the same pool with no rate limiter.
For each it prints achieved TPS / limit, throttled responses, retries and images lost.

    python benchmarks/bench_calls.py [--images 600 --tps 50 --latency 0.05 --workers 16]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from evaluation.calls.backends import RekognitionLabels, make_client
from evaluation.calls.cache import ResponseCache
from evaluation.calls.runner import ANSWERED, RetryPolicy, fetch
from evaluation.images import ImageRef
from evaluation.server.protocol import RekognitionProtocolServer, decode_image_bytes


def answer(operation: str, request: dict) -> dict:
    data = decode_image_bytes(request) or b""
    digest = hashlib.sha256(data).digest()
    return {"Labels": [{"Name": "Thing", "Confidence": digest[0] / 2.56}], "LabelModelVersion": "3.0"}


def make_images(folder: Path, count: int) -> list[ImageRef]:
    from tests.support.images import png_bytes

    refs = []
    for index in range(count):
        path = folder / f"{index:05d}.png"
        path.write_bytes(png_bytes(96, 96, seed=index))
        refs.append(ImageRef(str(path)))
    return refs


def measure(name: str, images, *, limit: float, latency: float, workers: int, tps: float | None) -> dict:
    with (
        RekognitionProtocolServer(answer, tps_limit=limit, latency_s=latency) as server,
        tempfile.TemporaryDirectory() as tmp,
    ):
        client = make_client(endpoint_url=server.url, region="us-east-1", max_pool_connections=workers)
        with ResponseCache(Path(tmp) / "cache.sqlite") as cache:
            started = time.monotonic()
            outcomes, stats = fetch(
                images,
                RekognitionLabels(client),
                cache,
                workers=workers,
                tps=tps,
                progress=False,
                retry=RetryPolicy(rounds=6, base_s=0.5),
            )
            wall = time.monotonic() - started
        answered = sum(o.status in ANSWERED for o in outcomes)
    return {
        "name": name,
        "answered": answered,
        "lost": len(images) - answered,
        "wall_s": wall,
        "tps": answered / wall,
        "throttled": server.stats.throttled,
        "retries": stats.retries,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=600)
    parser.add_argument(
        "--tps", type=float, default=50.0, help="the endpoint's limit and the harness's --tps"
    )
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per answer")
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument(
        "--sequential-images", type=int, default=100, help="images for the one-at-a-time loop"
    )
    args = parser.parse_args()
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "benchmark")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "benchmark")

    with tempfile.TemporaryDirectory() as tmp:
        images = make_images(Path(tmp), args.images)
        runs = [
            measure(
                "harness (pool + limiter + retries)",
                images,
                limit=args.tps,
                latency=args.latency,
                workers=args.workers,
                tps=args.tps,
            ),
            measure(
                "harness, --tps 20% above the limit",
                images,
                limit=args.tps,
                latency=args.latency,
                workers=args.workers,
                tps=args.tps * 1.2,
            ),
            measure(
                "one at a time",
                images[: args.sequential_images],
                limit=args.tps,
                latency=args.latency,
                workers=1,
                tps=None,
            ),
            measure(
                "flooding (pool, no limiter)",
                images,
                limit=args.tps,
                latency=args.latency,
                workers=args.workers,
                tps=None,
            ),
        ]
    print(f"endpoint limit {args.tps:g} TPS, latency {args.latency * 1000:.0f} ms, {args.workers} workers")
    print(f"{'':38} {'images':>7} {'TPS':>7} {'TPS/limit':>9} {'throttled':>9} {'retries':>8} {'lost':>5}")
    for run in runs:
        print(
            f"{run['name']:38} {run['answered'] + run['lost']:7d} {run['tps']:7.1f} "
            f"{run['tps'] / args.tps:9.2f} {run['throttled']:9d} {run['retries']:8d} {run['lost']:5d}"
        )
    harness, over, sequential, flood = runs
    print(f"harness vs one at a time: {harness['tps'] / sequential['tps']:.1f}x the throughput")
    fewer = flood["throttled"] / max(1, harness["throttled"])
    print(f"harness vs flooding: {fewer:.1f}x fewer throttled responses")
    ok = harness["lost"] == 0 and over["lost"] == 0 and harness["tps"] >= 0.95 * args.tps
    print("target (>= 95% of the limit, zero lost):", "met" if ok else "NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
