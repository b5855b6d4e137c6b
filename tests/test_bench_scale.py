"""The scale benchmark's own arithmetic: its phase timeline and its 10,000,000 projection."""

from __future__ import annotations

import importlib.util
import sys
import time
import types
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_scale.py"


@pytest.fixture(scope="module")
def bench() -> types.ModuleType:
    spec = importlib.util.spec_from_file_location("bench_scale", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_scale"] = module
    spec.loader.exec_module(module)
    yield module
    del sys.modules["bench_scale"]


def _result(size: int, run_s: float, run_mb: float, report_s: float, report_mb: float, cache: float) -> dict:
    return {
        "size": size,
        "run": {"wall_s": run_s, "peak_rss_mb": run_mb},
        "report": {"wall_s": report_s, "peak_rss_mb": report_mb},
        "cache_bytes": cache,
    }


def test_the_projection_is_the_line_through_the_two_largest_sizes(bench: types.ModuleType) -> None:
    results = [
        _result(10_000, 5, 300, 2, 280, 1e8),  # not used: the two largest sizes make the line
        _result(100_000, 30, 700, 10, 600, 1e9),
        _result(1_000_000, 300, 4_000, 90, 3_600, 8e9),
    ]
    (line,) = bench.projection(results, free_disk=40e9)
    # run: 300 s + 270 s per 900,000 images x 9,000,000 = 3,000 s = 50 min; 4,000 + 3,300 x 10 MB
    assert "run 50 min, 37,000 MB" in line
    assert "report 15 min, 33,600 MB" in line  # 90 + 80 x 10 s; 3,600 + 3,000 x 10 MB
    assert "the cache 80 GB (40 GB free here)" in line
    assert "NOT met" in line


def test_a_projection_within_memory_and_disk_may_be_met(bench: types.ModuleType) -> None:
    results = [_result(100_000, 10, 200, 5, 150, 1e8), _result(1_000_000, 100, 1_100, 50, 1_050, 1e9)]
    (line,) = bench.projection(results, free_disk=20e9)
    assert "may be met" in line and "10,100 MB" in line


def test_no_projection_without_a_million_measured(bench: types.ModuleType) -> None:
    results = [_result(10_000, 5, 300, 2, 280, 1e8), _result(100_000, 30, 700, 10, 600, 1e9)]
    assert bench.projection(results, free_disk=40e9) == []


def test_the_timeline_names_each_phase_and_the_time_between(bench: types.ModuleType) -> None:
    module = types.SimpleNamespace(analyse=lambda seconds: time.sleep(seconds), write_run=lambda: None)
    clock = bench.PhaseClock()
    clock.wrap(module)
    time.sleep(0.1)  # the pipeline's own work before its first phase
    module.analyse(0.1)
    module.write_run()
    rows = clock.timeline()
    assert [row["what"] for row in rows] == [
        "(the pipeline's own work between)",
        "the analysis",
        "write the run folder",
    ]
    assert rows[0]["to_s"] == pytest.approx(rows[1]["from_s"])
    assert rows[1]["to_s"] - rows[1]["from_s"] >= 0.1
    assert all(row["peak_rss_mb"] > 0 for row in rows)


def test_the_ratio_is_judged_on_json_s_floor_and_shown_against_orjson_s(bench: types.ModuleType) -> None:
    result = _result(10_000, 5, 300, 2.8, 330, 1e8)
    result["report"].update(floor_s=0.7, orjson_floor_s=0.35)
    result["ratio"] = 2.8 / 0.7
    (line,) = bench.verdicts([result], {})
    assert "report / floor <= 5: met (4.0;" in line and "8.0 against the floor parsed by orjson" in line
