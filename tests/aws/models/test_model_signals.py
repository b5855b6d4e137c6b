"""A model this tool started is never left running: SIGTERM and SIGHUP stop it as Ctrl-C does; after a
SIGKILL its lease lets the same command, or `models stop --leftovers`, find and stop it; a --max-runtime
deadline that falls while the model starts stops it promptly, and "was stopped" is said only once it was.

Real signals to a real `rekognition-eval run` in a subprocess, against the fake Custom Labels service.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from evaluation.aws import models as models_module
from evaluation.aws.model_guard import DeadlinePassed, ModelGuard
from evaluation.aws.model_leases import LeaseStore
from evaluation.aws.models import Waiting
from evaluation.cli import main
from tests.support.custom_labels_runs import FAST, models, run_args, write_dataset

REPO = Path(__file__).resolve().parents[3]


CLI = textwrap.dedent(
    """
    import sys
    from evaluation.aws.models import Waiting
    from evaluation.cli import main, models
    models.WAITING = Waiting(delay_s=0.01, max_attempts=500)
    sys.exit(main(sys.argv[1:]))
    """
)


def start_run(args: list[str]) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-c", CLI, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def wait_for_detections(service, process: subprocess.Popen, count: int) -> None:
    deadline = time.monotonic() + 60
    while sum(service.detected.values()) < count:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the run never called the model"
        time.sleep(0.02)


@pytest.mark.parametrize("name", ["SIGTERM", "SIGHUP"])
def test_sigterm_and_sighup_stop_the_model_the_run_started(fake, endpoint, tmp_path, name):
    arn = fake.add_model("shop", "v1")
    fake.detect_latency_s = 0.05
    csv = write_dataset(tmp_path, fake, count=40)
    process = start_run(run_args(tmp_path, csv, endpoint, arn, "--start-model", "--workers", "2"))
    try:
        wait_for_detections(fake, process, 5)
        process.send_signal(getattr(signal, name))
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, err
    assert f"{name} received" in err and "again to resume" in err
    assert fake.status(arn) in ("STOPPING", "STOPPED") and fake.calls["StopProjectVersion"] == 1
    assert LeaseStore().find(arn) is None
    assert 5 <= sum(fake.detected.values()) < 40


@pytest.mark.parametrize("recovery", ["rerun", "models stop --leftovers"])
def test_after_a_sigkill_the_model_is_recognised_as_ours_and_stopped(
    fake,
    endpoint,
    tmp_path,
    capsys,
    recovery,
):
    arn = fake.add_model("shop", "v1")
    fake.detect_latency_s = 0.05
    csv = write_dataset(tmp_path, fake, count=30)
    args = run_args(tmp_path, csv, endpoint, arn, "--start-model", "--workers", "2")
    process = start_run(args)
    try:
        wait_for_detections(fake, process, 5)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert fake.status(arn) == "RUNNING"  # nothing could stop it
    lease = LeaseStore().find(arn)
    assert lease is not None and lease.pid == process.pid and lease.is_leftover()
    assert lease.endpoint_url == endpoint.url

    assert models(endpoint, "list", "--project-arn", fake.projects["shop"]) == 0
    listed = capsys.readouterr().out
    assert f"ours, left over: started by rekognition-eval (pid {process.pid}" in listed

    fake.detect_latency_s = 0.0
    if recovery == "rerun":
        assert main(args) == 0
        err = capsys.readouterr().err
        assert "a leftover of rekognition-eval" in err and "takes it over" in err
        assert fake.calls["StartProjectVersion"] == 1  # taken over, not started again
        # answers before the kill were kept: only the calls in flight when it fell (2 workers) are repeated
        assert sum(count > 1 for count in fake.detected.values()) <= 2
    else:
        assert main(["--quiet", "models", "stop", "--leftovers"]) == 0  # the lease knows the endpoint
        assert "left over by rekognition-eval" in capsys.readouterr().out
    assert fake.status(arn) == "STOPPED"
    assert LeaseStore().find(arn) is None
    assert main(["--quiet", "models", "stop", "--leftovers"]) == 0
    assert "No leftover model" in capsys.readouterr().out


def test_a_model_held_by_a_live_run_is_not_a_leftover(fake, endpoint, client, capsys):
    """Another run of this tool still holds it: used, never stopped by this one, and not a leftover."""
    arn = fake.add_model("shop", "v1", status="RUNNING")
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        store = LeaseStore()
        store.write(arn, project_arn=None, region="us-east-1", endpoint_url=endpoint.url, max_runtime_s=60)
        path = next(store.folder.glob("*.json"))
        path.write_text(path.read_text().replace(f'"pid": {os.getpid()}', f'"pid": {sleeper.pid}'))
        said: list[str] = []
        with ModelGuard(client, arn, max_runtime_s=60, waiting=FAST, say=said.append) as guard:
            assert not guard.started_by_us
        assert "held by another rekognition-eval" in said[0]
        assert fake.status(arn) == "RUNNING" and fake.calls["StopProjectVersion"] == 0
        assert main(["--quiet", "models", "stop", "--leftovers"]) == 0
        assert "No leftover model" in capsys.readouterr().out and fake.status(arn) == "RUNNING"
    finally:
        sleeper.kill()
        sleeper.wait()


def test_a_deadline_while_the_model_starts_stops_it_promptly_and_says_so_only_then(
    fake,
    client,
    monkeypatch,
):
    """The waiter polls every 2 s here (30 s on AWS): at the deadline (0.2 s) the stop is asked at once,
    and again every 0.05 s while the service refuses it (STARTING), so it is accepted well before the
    waiter's next poll; "was stopped" is said only after StopProjectVersion was accepted."""
    monkeypatch.setattr(models_module, "STOP_RETRY_S", 0.05)
    fake.steps = 8  # RUNNING after 8 DescribeProjectVersions
    arn = fake.add_model("shop", "v1")
    said: list[tuple[str, list[str]]] = []
    guard = ModelGuard(
        client,
        arn,
        max_runtime_s=0.2,
        waiting=Waiting(delay_s=2.0, max_attempts=30),
        say=lambda text: said.append((text, list(fake.models[arn].history))),
    )
    accepted: list[float] = []
    refuse_or_accept = fake._StopProjectVersion

    def timed(request):
        answer = refuse_or_accept(request)
        accepted.append(time.monotonic())
        return answer

    fake._StopProjectVersion = timed
    started = time.monotonic()
    with pytest.raises(DeadlinePassed) as passed, guard:
        pytest.fail("the block must not run: the deadline passed while the model was starting")
    elapsed = accepted[0] - started
    assert elapsed < 1.5, f"stopped after {elapsed:.1f} s: the stop waited for the waiter's poll"
    assert fake.status(arn) == "STOPPED"
    assert "was stopped" in str(passed.value)
    for text, history in said:
        if "was stopped" in text or "is STOPPED" in text:
            assert "STOPPING" in history, f"{text!r} said before the stop was accepted"
    assert any("passed: stopping model v1 now" in text for text, _ in said)


def test_models_start_counts_max_runtime_from_the_start_call(fake, endpoint, capsys):
    fake.steps = 8  # starting takes 8 polls of 10 ms (and their requests)
    arn = fake.add_model("shop", "v1")
    started = time.monotonic()
    assert models(endpoint, "start", arn, "--max-runtime", "2s") == 0
    assert time.monotonic() - started < 2.0 + 8.0  # the hold, then the stop (a loaded machine is slow)
    out = capsys.readouterr().out
    found = re.search(r"\(([\d.]+)s more; --max-runtime counts from the start\)", out)
    assert found, out
    left = float(found.group(1))
    assert left < 2.0  # the time spent starting counts
    assert fake.status(arn) == "STOPPED" and LeaseStore().find(arn) is None


def test_models_start_with_a_deadline_while_starting_stops_it_and_exits_cleanly(fake, endpoint, capsys):
    fake.steps = 60  # 60 polls of 10 ms and their requests: far longer than --max-runtime
    arn = fake.add_model("shop", "v1")
    started = time.monotonic()
    code = models(endpoint, "start", arn, "--max-runtime", "0.1s")
    out, err = capsys.readouterr()
    assert code == 0, err
    assert time.monotonic() - started < 8.0
    assert "--max-runtime 0.1s passed" in out and "Traceback" not in err
    assert fake.status(arn) == "STOPPED"
