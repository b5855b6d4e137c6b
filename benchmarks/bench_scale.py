"""A million images on one machine: replay, report and the calls' client-side ceiling, at scale.

For each size it generates a seeded answers file of realistic DetectLabels answers (about 30 labels per
image from a 1,000-name vocabulary, 1-3 parents each; tests/support/scale_answers.py) and a CSV dataset
of s3:// images (no image file is needed: an S3 image's id is its URI), then, each step in a fresh
process so its peak RSS is its own:

  1. `run --backend replay --answers FILE --dataset CSV` (stores every answer, then evaluates);
  2. `report RUN_DIR` (everything again from the stored answers);
  3. in the same process as 2, the floor: reading every stored raw answer and parsing its JSON once.

and prints wall time, peak RSS and report / floor, and where each step's time and memory went: the
pipeline's own phases, timed by wrapping the functions evaluation.pipeline calls (wall, this process's
CPU, the reading workers' CPU, and the peak RSS reached by the end of each phase). With 1,000,000 images
measured it also projects 10,000,000 from what grows per image (the cache's bytes, report's peak).
With --calls it also measures the runner's client-side ceiling (calls/s) against a zero-latency local
endpoint (in a process of its own) at 2,000 and 100,000 images.

    python benchmarks/bench_scale.py                 # 10,000 and 100,000 images
    python benchmarks/bench_scale.py --sizes 10000   # one size
    python benchmarks/bench_scale.py --million       # and 1,000,000 (several minutes)
    python benchmarks/bench_scale.py --calls         # the calls' ceiling too
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


def _rss_mb() -> float:
    """The resident set now (Linux), or NaN."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        return float("nan")
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


# evaluation.pipeline's own steps, by the names it calls them (a replay run, then report), and what
# each does; the time between two of them is the pipeline's own (planning, the images table, ...)
PHASES = {
    "load_dataset": "read the dataset",
    "plan": "look up the cache",
    "store_recorded_answers": "read, check and store the answers",
    "versions_to_call": "the stored model versions",
    "fetch": "the runner (nothing to call)",
    "model_versions": "the answers' model versions",
    "images_frame": "the images table",
    "read_answers": "read the stored columns",
    "stored_or_carried": "read the stored columns",
    "analyse": "the analysis",
    "write_run": "write the run folder",
}


class PhaseClock:
    """Wall and CPU time (this process's, its children's) and the peak RSS at each phase's edges."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.phases: list[dict] = []
        self.origin = self._now()

    def _now(self) -> dict:
        own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return {
            "at_s": time.perf_counter() - self.started,
            "cpu_s": own.ru_utime + own.ru_stime,
            "workers_cpu_s": children.ru_utime + children.ru_stime,
            "peak_rss_mb": _peak_rss_mb(),
            "rss_mb": _rss_mb(),
        }

    def wrap(self, module: object) -> None:
        for name in PHASES:
            function = getattr(module, name, None)
            if callable(function):
                setattr(module, name, self._timed(name, function))

    def _timed(self, name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = self._now()
            try:
                return function(*args, **kwargs)
            finally:
                self.phases.append({"name": name, "start": start, "end": self._now()})

        return timed

    def timeline(self) -> list[dict]:
        """The phases in order, with the pipeline's own time between them as phases of their own."""
        rows, last = [], self.origin
        end = self._now()
        for phase in [*self.phases, {"name": None, "start": end, "end": end}]:
            if phase["start"]["at_s"] - last["at_s"] >= 0.05:
                rows.append(_row("(the pipeline's own work between)", last, phase["start"]))
            if phase["name"] is not None:
                rows.append(_row(PHASES[phase["name"]], phase["start"], phase["end"]))
            last = phase["end"]
        return rows


def _row(what: str, start: dict, end: dict) -> dict:
    return {
        "what": what,
        "from_s": start["at_s"],
        "to_s": end["at_s"],
        "cpu_s": end["cpu_s"] - start["cpu_s"],
        "workers_cpu_s": end["workers_cpu_s"] - start["workers_cpu_s"],
        "peak_rss_mb": end["peak_rss_mb"],
        "rss_mb": end["rss_mb"],
    }


def _step(kind: str, folder: Path) -> dict:
    """One step, run in this (fresh) process."""
    import evaluation.pipeline
    from evaluation.cli import main

    clock = PhaseClock()
    clock.wrap(evaluation.pipeline)
    cache, run_dir = folder / "cache.sqlite", folder / "run"
    started = time.perf_counter()
    if kind == "run":
        argv = ["run", "--backend", "replay", "--answers", str(folder / "answers.jsonl"), "--dataset"]
        argv += [str(folder / "dataset.csv"), "--cache", str(cache), "--out", str(run_dir), "--quiet"]
        with open(os.devnull, "w") as quiet:
            stdout, sys.stdout = sys.stdout, quiet
            try:
                main(argv)
            finally:
                sys.stdout = stdout
        wall = time.perf_counter() - started
        return {"wall_s": wall, "peak_rss_mb": _peak_rss_mb(), "phases": clock.timeline()}
    with open(os.devnull, "w") as quiet:
        stdout, sys.stdout = sys.stdout, quiet
        try:
            main(["report", str(run_dir)])
        finally:
            sys.stdout = stdout
    report_s = time.perf_counter() - started
    report_rss = _peak_rss_mb()
    phases = clock.timeline()
    import orjson

    floor_s, parsed = _read_and_parse(cache, json.loads)
    orjson_floor_s, _ = _read_and_parse(cache, orjson.loads)
    return {
        "wall_s": report_s,
        "peak_rss_mb": report_rss,
        "floor_s": floor_s,
        "orjson_floor_s": orjson_floor_s,
        "answers": parsed,
        "phases": phases,
    }


def _read_and_parse(cache: Path, parse: Callable[[str], Any]) -> tuple[float, int]:
    """The floor: (seconds, answers) to read every stored raw answer and parse its JSON once."""
    import sqlite3

    started = time.perf_counter()
    connection = sqlite3.connect(str(cache))
    parsed = 0
    for (text,) in connection.execute("SELECT response FROM responses"):
        parse(text)
        parsed += 1
    connection.close()
    return time.perf_counter() - started, parsed


def _in_child(kind: str, folder: Path) -> dict:
    output = subprocess.run(
        [sys.executable, __file__, "--step", kind, "--folder", str(folder)],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def bench_size(size: int, base: Path) -> dict:
    from tests.support.scale_answers import write_files

    folder = base / f"n{size}"
    started = time.perf_counter()
    write_files(folder, size)
    generated = time.perf_counter() - started
    answers_mb = (folder / "answers.jsonl").stat().st_size / 1e6
    print(f"\n{size:,} images: answers file {answers_mb:,.0f} MB generated in {generated:.0f} s", flush=True)
    run = _in_child("run", folder)
    print(f"  run --backend replay --answers: {run['wall_s']:7.1f} s, peak RSS {run['peak_rss_mb']:7,.0f} MB")
    _print_phases(run["phases"])
    cache_bytes = sum(p.stat().st_size for p in folder.glob("cache.sqlite*"))
    report = _in_child("report", folder)
    ratio = report["wall_s"] / report["floor_s"]
    print(
        f"  report RUN_DIR:                 {report['wall_s']:7.1f} s, "
        f"peak RSS {report['peak_rss_mb']:7,.0f} MB"
    )
    _print_phases(report["phases"])
    print(f"  read and parse every answer:    {report['floor_s']:7.1f} s ({report['answers']:,} answers)")
    print(f"  report / floor:                 {ratio:7.1f}")
    orjson_ratio = report["wall_s"] / report["orjson_floor_s"]
    print(
        f"  the same floor parsed by orjson: {report['orjson_floor_s']:6.1f} s (report / that floor "
        f"{orjson_ratio:.1f}; the replay reads its answers with orjson, report parses no answer)"
    )
    sizes = {p.name: p.stat().st_size / 1e6 for p in (folder / "run").iterdir() if p.is_file()}
    print("  run folder: " + ", ".join(f"{name} {mb:,.1f} MB" for name, mb in sorted(sizes.items())))
    return {"size": size, "run": run, "report": report, "ratio": ratio, "cache_bytes": cache_bytes}


def _print_phases(phases: list[dict]) -> None:
    print("      from s    to s  CPU s  workers' CPU s  RSS at its end MB  peak RSS by then MB  phase")
    for p in phases:
        print(
            f"    {p['from_s']:7.1f} {p['to_s']:7.1f} {p['cpu_s']:6.1f} {p['workers_cpu_s']:15.1f} "
            f"{p['rss_mb']:18,.0f} {p['peak_rss_mb']:20,.0f}  {p['what']}"
        )


# ------------------------------------------------------------------------------------------ calls


def _serve(port_queue: multiprocessing.Queue) -> None:  # in a process of its own: its own GIL
    from evaluation.server.protocol import RekognitionProtocolServer

    def answer(operation: str, request: dict) -> dict:
        return {"Labels": [{"Name": "Thing", "Confidence": 90.0}], "LabelModelVersion": "3.0"}

    with RekognitionProtocolServer(answer, latency_s=0.0) as server:
        port_queue.put(server.url)
        while True:
            time.sleep(3600)


def bench_calls(count: int, url: str, workers: int) -> float:
    from evaluation.calls.backends import RekognitionLabels, make_client
    from evaluation.calls.cache import ResponseCache
    from evaluation.calls.runner import fetch
    from evaluation.images import ImageRef

    for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing")):
        os.environ.setdefault(name, value)  # the local endpoint checks no signature; botocore wants one
    images = [ImageRef(f"s3://bench-bucket/calls/{count}/{index:07d}.jpg") for index in range(count)]
    client = make_client(endpoint_url=url, region="us-east-1", max_pool_connections=workers)
    with tempfile.TemporaryDirectory() as tmp, ResponseCache(Path(tmp) / "cache.sqlite") as cache:
        started = time.perf_counter()
        _, stats = fetch(images, RekognitionLabels(client), cache, workers=workers, progress=False)
        elapsed = time.perf_counter() - started
    assert stats.calls == count, stats
    return count / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="*", default=[10_000, 100_000])
    parser.add_argument("--million", action="store_true", help="add 1,000,000 images")
    parser.add_argument("--calls", action="store_true", help="measure the calls' client-side ceiling")
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--keep", metavar="DIR", help="work here and keep the files")
    parser.add_argument("--step", choices=["run", "report"], help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.step:
        print(json.dumps(_step(args.step, Path(args.folder))))
        return
    sizes = list(args.sizes) + ([1_000_000] if args.million else [])
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(args.keep or tmp)
        free_disk = shutil.disk_usage(base).free
        results = [bench_size(size, base) for size in sizes]
    print("\nsize        run s  run MB  report s  report MB  floor s  report/floor")
    for r in results:
        print(
            f"{r['size']:>9,} {r['run']['wall_s']:7.1f} {r['run']['peak_rss_mb']:7,.0f} "
            f"{r['report']['wall_s']:9.1f} "
            f"{r['report']['peak_rss_mb']:10,.0f} {r['report']['floor_s']:8.1f} {r['ratio']:13.1f}"
        )
    rates: dict[int, float] = {}
    if args.calls:
        ports: multiprocessing.Queue = multiprocessing.Queue()
        server = multiprocessing.Process(target=_serve, args=(ports,), daemon=True)
        server.start()
        url = ports.get(timeout=30)
        try:
            for count in (2_000, 100_000):
                rates[count] = bench_calls(count, url, args.workers)
                print(f"calls, zero-latency local endpoint, {count:>7,} images: {rates[count]:6.0f} calls/s")
        finally:
            server.terminate()
    print("\nissue 19's targets on a 2-core, 24 GB machine:")
    for line in verdicts(results, rates):
        print("  " + line)
    for line in projection(results, free_disk):
        print("  " + line)


# (size, step, seconds at most, peak MB at most): the targets
TARGETS = (
    (100_000, "report", 10.0, 1_000),
    (1_000_000, "run", 90.0, 4_000),
    (1_000_000, "report", 90.0, 4_000),
)
MAX_REPORT_OVER_FLOOR = 5.0
MIN_CALLS_PER_S = 300.0


def verdicts(results: list[dict], rates: dict[int, float]) -> list[str]:
    """One line per target this run measured: met, or the figure that misses it."""
    by_size = {r["size"]: r for r in results}
    lines = []
    for size, step, seconds, megabytes in TARGETS:
        if size in by_size:
            measured = by_size[size][step]
            ok = measured["wall_s"] <= seconds and measured["peak_rss_mb"] <= megabytes
            lines.append(
                f"{size:>9,} {step:<6} <= {seconds:.0f} s, <= {megabytes:,} MB: "
                f"{'met' if ok else 'NOT met'} "
                f"({measured['wall_s']:.1f} s, {measured['peak_rss_mb']:,.0f} MB)"
            )
    for r in results:
        ok = r["ratio"] <= MAX_REPORT_OVER_FLOOR
        orjson_ratio = r["report"]["wall_s"] / r["report"]["orjson_floor_s"]
        lines.append(
            f"{r['size']:>9,} report / floor <= {MAX_REPORT_OVER_FLOOR:.0f}: "
            f"{'met' if ok else 'NOT met'} ({r['ratio']:.1f}; the floor parsed by json, as the issue "
            f"measured it; {orjson_ratio:.1f} against the floor parsed by orjson)"
        )
    if rates:
        low, high = rates[2_000], rates[100_000]
        ok = high >= MIN_CALLS_PER_S and high >= low
        lines.append(
            f"calls >= {MIN_CALLS_PER_S:.0f}/s and not falling from 2,000 to 100,000 images: "
            f"{'met' if ok else 'NOT met'} ({low:.0f} -> {high:.0f} calls/s)"
        )
    return lines


TEN_MILLION = 10_000_000
TEN_MILLION_MB = 16_000


def projection(results: list[dict], free_disk: int) -> list[str]:
    """10,000,000 images, projected (not run) on the line through the two largest sizes measured, when the
    larger is 1,000,000 or more: what grows with the images (time, peak RSS, the cache's bytes)."""
    measured = sorted(results, key=lambda r: r["size"])[-2:]
    if len(measured) < 2 or measured[-1]["size"] < 1_000_000:
        return []
    small, large = measured

    def at_ten_million(value: Callable[[dict], float]) -> float:
        slope = (value(large) - value(small)) / (large["size"] - small["size"])
        return value(large) + slope * (TEN_MILLION - large["size"])

    run_s = at_ten_million(lambda r: r["run"]["wall_s"])
    run_mb = at_ten_million(lambda r: r["run"]["peak_rss_mb"])
    report_s = at_ten_million(lambda r: r["report"]["wall_s"])
    report_mb = at_ten_million(lambda r: r["report"]["peak_rss_mb"])
    cache_gb = large["cache_bytes"] / large["size"] * TEN_MILLION / 1e9
    ok = max(run_mb, report_mb) <= TEN_MILLION_MB and cache_gb * 1e9 < free_disk
    return [
        f"{TEN_MILLION:,} within {TEN_MILLION_MB:,} MB: {'may be met' if ok else 'NOT met'}, projected from "
        f"{small['size']:,} and {large['size']:,} (not run): run {run_s / 60:.0f} min, {run_mb:,.0f} MB; "
        f"report {report_s / 60:.0f} min, {report_mb:,.0f} MB; the cache {cache_gb:,.0f} GB "
        f"({free_disk / 1e9:,.0f} GB free here)"
    ]


if __name__ == "__main__":
    main()
