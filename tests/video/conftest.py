"""Thirty short MP4s written with PyAV, their generated time lines, moto's S3 and the local endpoint."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pytest
from moto import mock_aws

from evaluation.server.protocol import RekognitionProtocolServer
from tests.support.fake_rekognition_video import FakeRekognitionVideo, Span

BUCKET = "media"
LABELS = ("Dog", "Cat", "Car")
FPS = 10


def write_video(path: Path, frames: int, seed: int) -> None:
    import av

    rng = np.random.default_rng(seed)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("mpeg4", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        stream.time_base = Fraction(1, FPS)
        for index in range(frames):
            image = np.full((32, 32, 3), (index * 7 + seed * 13) % 255, dtype=np.uint8)
            image[rng.integers(0, 32), :, :] = 255
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = index
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


@dataclass
class VideoCase:
    key: str
    duration_ms: int
    truth: list[tuple[str, int, int]]
    spans: list[Span]


def timeline(rng: random.Random, key: str, duration_ms: int, moderation: bool) -> VideoCase:
    truth, spans = [], []
    names = ("Explicit Nudity", "Violence", "Weapons") if moderation else LABELS
    for label in names:
        for _ in range(rng.choice([0, 0, 1, 1, 2])):
            start = rng.randrange(0, duration_ms - 200, 100)
            end = min(duration_ms, start + rng.randrange(200, 1500, 100))
            truth.append((label, start, end))
            if rng.random() < 0.8:  # detected, with jittered edges
                s = max(0, start + rng.randrange(-300, 301, 50))
                e = min(duration_ms, max(s + 100, end + rng.randrange(-300, 301, 50)))
                spans.append(_span(label, rng.uniform(40, 99), s, e, moderation))
        if rng.random() < 0.4:  # a false alarm
            s = rng.randrange(0, duration_ms - 100, 100)
            spans.append(_span(label, rng.uniform(5, 80), s, min(duration_ms, s + 400), moderation))
    return VideoCase(key, duration_ms, truth, spans)


def _span(label: str, confidence: float, start: int, end: int, moderation: bool) -> Span:
    confidence = round(confidence, 3)
    if not moderation:
        parents = ("Animal",) if label in ("Dog", "Cat") else ("Vehicle",)
        return Span(label, confidence, start, end, parents=parents)
    parent = {"Explicit Nudity": "Explicit", "Violence": "", "Weapons": "Violence"}[label]
    level = {"Explicit Nudity": 2, "Violence": 1, "Weapons": 2}[label]
    return Span(label, confidence, start, end, parent=parent, level=level)


@pytest.fixture(scope="session")
def video_files(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[Path, int]]:
    pytest.importorskip("av")
    folder = tmp_path_factory.mktemp("videos")
    files = []
    for index in range(30):
        frames = 10 + (index * 7) % 25  # 1.0 to 3.4 s
        path = folder / f"clip{index:02d}.mp4"
        write_video(path, frames, index)
        files.append((path, frames * 1000 // FPS))
    return files


@dataclass
class World:
    s3: Any
    fake: FakeRekognitionVideo
    server: RekognitionProtocolServer
    cases: list[VideoCase]
    dataset: Path
    tmp: Path


def make_world(video_files, tmp_path: Path, *, moderation: bool = False, **fake_options: Any) -> World:
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    fake = FakeRekognitionVideo(s3, **fake_options)
    rng = random.Random(7 if not moderation else 11)
    cases = []
    lines = []
    for path, duration in video_files:
        key = f"videos/{path.name}"
        s3.put_object(Bucket=BUCKET, Key=key, Body=path.read_bytes())
        case = timeline(rng, key, duration, moderation)
        fake.script(key, case.spans, duration_ms=duration)
        cases.append(case)
        segments = [{"label": label, "start_ms": s, "end_ms": e} for label, s, e in case.truth]
        lines.append(json.dumps({"video": f"s3://{BUCKET}/{key}", "segments": segments}))
    dataset = tmp_path / "videos.jsonl"
    dataset.write_text("\n".join(lines) + "\n", encoding="utf-8")
    server = RekognitionProtocolServer(fake).start()
    return World(s3, fake, server, cases, dataset, tmp_path)


@pytest.fixture
def world(video_files, tmp_path):
    with mock_aws():
        made = make_world(video_files, tmp_path)
        yield made
        made.server.stop()


@pytest.fixture
def moderation_world(video_files, tmp_path):
    with mock_aws():
        made = make_world(video_files, tmp_path, moderation=True)
        yield made
        made.server.stop()
