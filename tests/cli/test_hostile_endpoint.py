"""A run against an endpoint, a cache and a disk that misbehave: nothing bad kept, nothing paid twice,
nothing leaked, and the user's environment named in one line (exit 2), never a bug (exit 3).

Each test scripts the local Rekognition-protocol endpoint (tests/support/fake_rekognition.py) and
counts what it was asked.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest

from evaluation.calls.cache import ResponseCache
from evaluation.server.protocol import RawAnswer, RekognitionProtocolServer
from tests.support.cli import evaluation_command, one_line_error, repo_environment, run_cli, run_words
from tests.support.fake_rekognition import FakeRekognition, label
from tests.support.images import png_bytes

MALFORMED = {
    "no Labels": {"LabelModelVersion": "3.0"},
    "Labels null": {"Labels": None, "LabelModelVersion": "3.0"},
    "not JSON": RawAnswer(b"<html><body>502 Bad Gateway</body></html>"),
    "text confidence": {"Labels": [{"Name": "Cat", "Confidence": "high"}]},
    "NaN confidence": {"Labels": [{"Name": "Cat", "Confidence": float("nan")}]},
    "infinite confidence": {"Labels": [{"Name": "Cat", "Confidence": float("inf")}]},
    "confidence above 100": {"Labels": [{"Name": "Cat", "Confidence": 180.0}]},
    "negative confidence": {"Labels": [{"Name": "Cat", "Confidence": -3.0}]},
    "label without a name": {"Labels": [{"Confidence": 70.0}]},
    "empty name": {"Labels": [{"Name": "", "Confidence": 70.0}]},
    "parent without a name": {"Labels": [{"Name": "Cat", "Confidence": 70.0, "Parents": [{}]}]},
}


def good_dataset(folder: Path, fake: FakeRekognition, count: int) -> Path:
    """`count` images, each answered well: Cat on the even ones (truth: Cat on every third)."""
    (folder / "images").mkdir(parents=True, exist_ok=True)
    rows = []
    for index in range(count):
        data = png_bytes(90, 90, seed=1000 + index)
        (folder / "images" / f"g{index:03d}.png").write_bytes(data)
        fake.answer_for_bytes(data, [label("Cat", 40.0 + index)] if index % 2 == 0 else [])
        rows.append(f"images/g{index:03d}.png,{'Cat' if index % 3 == 0 else ''}")
    csv = folder / "data.csv"
    csv.write_text("image,labels\n" + "\n".join(rows) + "\n")
    return csv


def add_malformed(folder: Path, csv: Path, fake: FakeRekognition) -> dict[str, str]:
    """One image per malformed answer; returns image path -> what is wrong with its answer."""
    which = {}
    lines = []
    for index, (name, response) in enumerate(MALFORMED.items()):
        data = png_bytes(90, 90, seed=5000 + index)
        path = folder / "images" / f"bad{index:02d}.png"
        path.write_bytes(data)
        fake.respond_for_bytes(data, response)
        which[str(path.resolve())] = name
        lines.append(f"images/bad{index:02d}.png,Cat")
    csv.write_text(csv.read_text() + "\n".join(lines) + "\n")
    return which


def stored_rows(cache: Path) -> int:
    with sqlite3.connect(cache) as connection:
        return int(connection.execute("SELECT COUNT(*) FROM responses").fetchone()[0])


# ---------------------------------------------------------------- 1, 2: nothing bad in


def test_malformed_answers_fail_their_images_are_never_cached_and_are_asked_again(
    tmp_path, fake_rekognition, endpoint, capsys
):
    csv = good_dataset(tmp_path, fake_rekognition, 12)
    bad = add_malformed(tmp_path, csv, fake_rekognition)
    cache = tmp_path / "cache.sqlite"
    out = tmp_path / "run"
    base = run_words(csv, endpoint_url=endpoint.url, cache=cache)
    assert run_cli(*base, "--out", str(out)) == 1  # not every image was evaluated: never exit 0
    assert stored_rows(cache) == 12  # only the good answers were kept
    images = pd.read_csv(out / "images.csv")
    failed = images[images["status"] == "failed"]
    assert {str(Path(image).resolve()) for image in failed["image"]} == set(bad)
    assert set(failed["error_code"]) == {"MalformedAnswer"}
    for image, reason in zip(failed["image"], failed["reason"], strict=True):
        assert reason.startswith("malformed DetectLabels answer: "), (bad[image], reason)
    assert (images["status"] == "called").sum() == 12
    summary = json.loads((out / "summary.json").read_text())
    assert summary["images"]["not_evaluated"] == len(MALFORMED)
    assert "MalformedAnswer" in json.dumps(summary)
    assert "malformed DetectLabels answer" in (out / "report.md").read_text()
    # the next run asks again for the bad ones only, and they are still not kept
    calls = dict(fake_rekognition.calls)
    assert run_cli(*base, "--out", str(tmp_path / "again")) == 1
    asked = {digest for digest, count in fake_rekognition.calls.items() if count > calls[digest]}
    assert len(asked) == len(MALFORMED)
    assert stored_rows(cache) == 12


def test_bad_answers_already_in_an_old_cache_are_asked_again_not_crashed_on(
    tmp_path, fake_rekognition, endpoint
):
    csv = good_dataset(tmp_path, fake_rekognition, 12)
    cache = tmp_path / "cache.sqlite"
    base = run_words(csv, endpoint_url=endpoint.url, cache=cache)
    assert run_cli(*base, "--out", str(tmp_path / "first")) == 0
    # an older version stored bad answers under these keys (written past ResponseCache, which refuses)
    with sqlite3.connect(cache) as connection:
        keys = [row[0] for row in connection.execute("SELECT key FROM responses ORDER BY key")]
        spoiled = [json.dumps(answer) for answer in MALFORMED.values() if isinstance(answer, dict)]
        spoiled += ["not json at all", "null"]
        for key, text in zip(keys, spoiled, strict=False):
            connection.execute("UPDATE responses SET response = ? WHERE key = ?", (text, key))
    requests = endpoint.stats.requests
    assert run_cli(*base, "--out", str(tmp_path / "second")) == 0
    assert endpoint.stats.requests - requests == 12  # all twelve rows were spoiled: each asked again
    first = pd.read_csv(tmp_path / "first" / "metrics.csv")
    assert first.equals(pd.read_csv(tmp_path / "second" / "metrics.csv"))
    with ResponseCache(cache) as store:
        assert len(store.get_many(keys)) == 12  # replaced by the good answers


# ---------------------------------------------------------------- 7: replay through --endpoint-url


def test_replay_of_answers_from_an_endpoint_says_what_to_pass_and_then_finds_them(
    tmp_path, fake_rekognition, endpoint, capsys
):
    csv = good_dataset(tmp_path, fake_rekognition, 9)
    cache = tmp_path / "cache.sqlite"
    assert run_cli(*run_words(csv, endpoint_url=endpoint.url, cache=cache, out=tmp_path / "live")) == 0
    capsys.readouterr()
    requests = endpoint.stats.requests
    # without the endpoint: nothing found, and the message names the option that finds them
    assert run_cli(*run_words(csv, "--backend", "replay", cache=cache, out=tmp_path / "none")) == 1
    err = capsys.readouterr().err
    assert f"--endpoint-url {endpoint.url}" in err and "pass exactly that" in err
    assert len(err.strip().splitlines()) <= 2  # one line for the misses, one for the report
    images = pd.read_csv(tmp_path / "none" / "images.csv")
    assert (images["status"] == "missing").all()
    assert all(f"--endpoint-url {endpoint.url}" in reason for reason in images["reason"])
    notes = " ".join(pd.read_csv(tmp_path / "none" / "labels.csv")["note"].dropna())
    assert "in the dataset" not in notes and "were not evaluated" in notes
    # with it: every answer, no call
    replayed = run_words(
        csv, "--backend", "replay", endpoint_url=endpoint.url, cache=cache, out=tmp_path / "replayed"
    )
    assert run_cli(*replayed) == 0
    assert endpoint.stats.requests == requests
    live = pd.read_csv(tmp_path / "live" / "metrics.csv")
    assert live.equals(pd.read_csv(tmp_path / "replayed" / "metrics.csv"))


# ---------------------------------------------------------------- 12, 22: the cache file


def test_a_cache_that_cannot_be_written_stops_the_calls_at_once(
    tmp_path, fake_rekognition, endpoint, monkeypatch, capsys
):
    csv = good_dataset(tmp_path, fake_rekognition, 40)
    cache = tmp_path / "cache.sqlite"

    def full(self, key, **keywords):
        def write() -> None:
            raise sqlite3.OperationalError("database or disk is full")

        self._write(write)

    monkeypatch.setattr(ResponseCache, "put", full)
    code = run_cli(
        *run_words(csv, "--workers", "2", endpoint_url=endpoint.url, cache=cache, out=tmp_path / "run")
    )
    err = one_line_error(capsys)
    assert code == 2
    assert str(cache) in err and "disk is full" in err
    assert endpoint.stats.requests <= 2  # the calls in flight when the first answer could not be kept
    assert not (tmp_path / "run").exists()


@pytest.fixture
def small_tmpfs(tmp_path):
    """A 512 KiB tmpfs (where this process may mount one), unmounted after the test."""
    mount_point = tmp_path / "small"
    mount_point.mkdir()
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(mount_point)], capture_output=True
    )
    if made.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root); the patched writer test covers this")
    yield mount_point
    subprocess.run(["umount", "-l", str(mount_point)], check=False)


def test_a_full_disk_stops_the_run_before_paying_for_answers_it_cannot_keep(
    tmp_path, fake_rekognition, endpoint, small_tmpfs, capsys
):
    csv = good_dataset(tmp_path, fake_rekognition, 30)
    cache = small_tmpfs / "cache.sqlite"
    ResponseCache(cache).close()
    filler = small_tmpfs / "filler"
    handle = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:  # fill what is left of the disk
        while True:
            os.write(handle, b"\0" * 4096)
    except OSError:
        pass
    finally:
        os.close(handle)
    code = run_cli(*run_words(csv, endpoint_url=endpoint.url, cache=cache, out=tmp_path / "run"))
    err = one_line_error(capsys)
    assert code == 2, err
    assert str(cache) in err
    assert endpoint.stats.requests <= 8  # at most the calls in flight, never the whole dataset


def test_a_corrupt_cache_file_is_the_users_environment_not_a_bug(
    tmp_path, fake_rekognition, endpoint, capsys
):
    csv = good_dataset(tmp_path, fake_rekognition, 3)
    cache = tmp_path / "cache.sqlite"
    cache.write_bytes(b"this is not a database, it was overwritten by something else\n" * 200)
    code = run_cli(*run_words(csv, endpoint_url=endpoint.url, cache=cache, out=tmp_path / "run"))
    err = one_line_error(capsys)
    assert code == 2
    assert str(cache) in err and "not a readable cache" in err
    assert endpoint.stats.requests == 0


# ---------------------------------------------------------------- 13: never paid twice


def test_three_concurrent_runs_on_one_cache_make_exactly_one_call_per_image(tmp_path):
    fake = FakeRekognition()
    csv = good_dataset(tmp_path, fake, 36)
    cache = tmp_path / "shared.sqlite"
    with RekognitionProtocolServer(fake, latency_s=0.05) as server:
        runs = [
            subprocess.Popen(
                evaluation_command(
                    "--quiet",
                    *run_words(
                        csv,
                        "--workers",
                        "4",
                        endpoint_url=server.url,
                        cache=cache,
                        out=tmp_path / f"run{index}",
                    ),
                ),
                env=repo_environment(),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for index in range(3)
        ]
        results = [run.communicate(timeout=240) for run in runs]
    for run, (_, err) in zip(runs, results, strict=True):
        assert run.returncode == 0, err
    assert len(fake.calls) == 36 and set(fake.calls.values()) == {1}  # counted at the endpoint
    summaries = [json.loads((tmp_path / f"run{i}" / "summary.json").read_text()) for i in range(3)]
    assert sum(summary["api_calls"] for summary in summaries) == 36
    metrics = [pd.read_csv(tmp_path / f"run{i}" / "metrics.csv") for i in range(3)]
    assert metrics[0].equals(metrics[1]) and metrics[0].equals(metrics[2])


# ---------------------------------------------------------------- 14: --out first


@pytest.mark.parametrize("where", ["a file", "under a file", "a read-only disk"])
def test_an_invalid_out_is_found_before_any_call(
    tmp_path, fake_rekognition, endpoint, capsys, request, where
):
    csv = good_dataset(tmp_path, fake_rekognition, 5)
    blocker = tmp_path / "report.txt"
    blocker.write_text("not a folder")
    if where == "a read-only disk":
        small_tmpfs = request.getfixturevalue("small_tmpfs")
        subprocess.run(["mount", "-o", "remount,ro", str(small_tmpfs)], check=True)
        out = small_tmpfs / "run"
    else:
        out = blocker if where == "a file" else blocker / "run"
    code = run_cli(*run_words(csv, endpoint_url=endpoint.url, cache=tmp_path / "c.sqlite", out=out))
    err = one_line_error(capsys)
    assert code == 2 and str(out) in err
    assert where != "a read-only disk" or "Read-only" in err
    assert endpoint.stats.requests == 0


# ---------------------------------------------------------------- 17: nothing leaked


def test_credentials_in_the_endpoint_url_are_in_no_file_and_no_message(tmp_path, fake_rekognition, endpoint):
    csv = good_dataset(tmp_path, fake_rekognition, 6)
    bad = add_malformed(tmp_path, csv, fake_rekognition)
    assert bad
    host = endpoint.url.removeprefix("http://")
    secret_url = f"http://alice:Pa55w0rdXYZ@{host}/?token=T0kenABC123&region=x"
    secrets = ("Pa55w0rdXYZ", "T0kenABC123", "alice")
    cache = tmp_path / "cache" / "responses.sqlite"
    out = tmp_path / "out"

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            evaluation_command(*args), env=repo_environment(), capture_output=True, text=True, timeout=120
        )

    dead_url = "http://bob:Pa55w0rdXYZ@127.0.0.1:9/?token=T0kenABC123"  # nothing listens: botocore quotes it
    runs = [
        cli(*run_words(csv, endpoint_url=secret_url, cache=cache, out=out / "live")),
        cli(*run_words(csv, "--backend", "replay", cache=cache, out=out / "replay-without")),
        cli(*run_words(csv, "--backend", "replay", endpoint_url=secret_url, cache=cache, out=out / "replay")),
        cli(*run_words(csv, "--dry-run", endpoint_url=secret_url, cache=cache)),
        cli("report", str(out / "live"), "--out", str(out / "report")),
        cli(*run_words(csv, endpoint_url=dead_url, cache=cache, out=out / "dead")),
    ]
    assert [run.returncode for run in runs] == [1, 1, 1, 0, 1, 2]
    assert "127.0.0.1:9" in runs[-1].stderr and "--endpoint-url" in runs[-1].stderr
    # the replay with the same endpoint found every answer the live run stored
    assert json.loads((out / "replay" / "summary.json").read_text())["cache_hits"] == 6
    written = [path for path in tmp_path.rglob("*") if path.is_file() and "images" not in path.parts]
    assert any(path.name == "report.html" for path in written)
    assert any(path.name.startswith("responses.sqlite") for path in written)
    for path in written:
        data = path.read_bytes()
        for secret in secrets:
            assert secret.encode() not in data, f"{secret} in {path}"
    for run in runs:
        for secret in secrets:
            assert secret not in run.stdout + run.stderr, (secret, run.args, run.stderr)
    run_json = json.loads((out / "live" / "run.json").read_text())
    assert run_json["backend"]["endpoint_url"] == f"http://{host}/?token=***&region=***"


# ---------------------------------------------------------------- 21: fail fast, once


def test_an_endpoint_that_cannot_be_reached_fails_fast_and_once_whatever_the_size(
    tmp_path, fake_rekognition, capsys
):
    csv = good_dataset(tmp_path, fake_rekognition, 60)
    started = time.monotonic()
    code = run_cli(
        *run_words(csv, endpoint_url="http://127.0.0.1:9", cache=tmp_path / "c.sqlite", out=tmp_path / "run")
    )
    elapsed = time.monotonic() - started
    err = one_line_error(capsys)
    assert code == 2
    assert "Could not connect" in err and "--endpoint-url" in err
    assert elapsed < 8, elapsed  # botocore's 8 attempts with backoff took 40-50 s


def test_missing_credentials_fail_fast_with_one_line(
    tmp_path, fake_rekognition, endpoint, monkeypatch, capsys
):
    csv = good_dataset(tmp_path, fake_rekognition, 40)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    code = run_cli(
        *run_words(csv, endpoint_url=endpoint.url, cache=tmp_path / "c.sqlite", out=tmp_path / "run")
    )
    err = one_line_error(capsys)
    assert code == 2
    assert "credentials" in err
    assert endpoint.stats.requests == 0
