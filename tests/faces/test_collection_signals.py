"""Real signals to a real `rekognition-eval run --operation face-verification` in a subprocess, against
the local Rekognition-protocol endpoint: SIGTERM while its temporary collection exists deletes the
collection and exits non-zero; after a SIGKILL (nothing can run) the leftover is found and deleted by
`rekognition-eval faces cleanup --delete`, and only it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from evaluation.aws.collections import is_harness_name
from evaluation.cli import main

REPO = Path(__file__).resolve().parents[2]


def slow_searches(operation: str, _request: dict) -> None:
    if operation == "SearchFaces":
        time.sleep(0.05)  # so the run is still searching when the signal comes


def start_run(world, server, tmp_path: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    args = [
        "run",
        "--dataset",
        str(world.csv),
        "--operation",
        "face-verification",
        "--endpoint-url",
        server.url,
        "--region",
        "us-east-1",
        "--cache",
        str(tmp_path / "cache.sqlite"),
        "--out",
        str(tmp_path / "run"),
        "--workers",
        "2",
    ]
    return subprocess.Popen(
        [sys.executable, "-m", "evaluation", *args],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_searches(fake, process: subprocess.Popen, count: int) -> None:
    deadline = time.monotonic() + 90
    while fake.calls["SearchFaces"] < count:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the run never searched its collection"
        time.sleep(0.02)


def test_sigterm_deletes_the_temporary_collection_and_exits_non_zero(world, server, tmp_path):
    world.fake.fault = slow_searches
    process = start_run(world, server, tmp_path)
    try:
        wait_for_searches(world.fake, process, 10)
        made = list(world.fake.collections)
        assert len(made) == 1 and is_harness_name(made[0])  # the collection exists mid-run
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode not in (0, None), err
    assert process.returncode == 130, err  # as Ctrl-C
    assert f"Deleted the temporary face collection {made[0]}" in err and "run the same command again" in err
    assert world.fake.collections == {} and world.fake.deleted == made  # checked on the endpoint
    assert world.fake.calls["DeleteCollection"] == 1
    assert 10 <= world.fake.calls["SearchFaces"] < 200  # stopped mid-way, not run to the end


def test_a_sigkilled_run_s_collection_is_found_and_deleted_by_faces_cleanup(world, server, tmp_path, capsys):
    world.fake.fault = slow_searches
    world.fake.add_collection("customers")  # someone else's: never touched
    process = start_run(world, server, tmp_path)
    try:
        wait_for_searches(world.fake, process, 10)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == -signal.SIGKILL
    leftover = [name for name in world.fake.collections if name != "customers"]
    assert len(leftover) == 1 and world.fake.deleted == []  # nothing could delete it
    world.fake.fault = None

    assert main(["faces", "cleanup", "--endpoint-url", server.url, "--region", "us-east-1"]) == 0
    assert leftover[0] in capsys.readouterr().out
    assert leftover[0] in world.fake.collections  # listing deletes nothing
    assert main(["faces", "cleanup", "--delete", "--endpoint-url", server.url, "--region", "us-east-1"]) == 0
    assert world.fake.deleted == leftover
    assert "Deleted 1 collection(s)" in capsys.readouterr().out
    assert list(world.fake.collections) == ["customers"]
    assert main(["faces", "cleanup", "--endpoint-url", server.url, "--region", "us-east-1"]) == 0
    assert "No face collections named rekognition-eval-*" in capsys.readouterr().out
