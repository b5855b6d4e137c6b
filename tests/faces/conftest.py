"""A generated face dataset (40 people x 5 images) and the local endpoint answering for it."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from evaluation.server.protocol import RekognitionProtocolServer
from tests.support.fake_faces import FakeFaces
from tests.support.images import png_bytes

PEOPLE, PER_PERSON = 40, 5


def pair_similarity(first: str, second: str, same: bool) -> float:
    """A similarity per pair of images, symmetric: genuine pairs 60-100, impostors 0-75 (they overlap)."""
    low, high = sorted((first, second))
    spread = int(hashlib.sha256(f"{low}|{high}".encode()).hexdigest()[:8], 16) % 4001 / 100.0
    return round(60.0 + spread if same else spread * 75.0 / 40.0, 4)


@dataclass
class FaceWorld:
    root: Path
    csv: Path
    fake: FakeFaces
    identity: dict[str, str]  # digest -> identity
    group: dict[str, str]  # digest -> group column
    digests: list[str]  # in CSV order
    paths: list[Path]

    def similarity(self, first: str, second: str) -> float:
        return pair_similarity(first, second, self.identity[first] == self.identity[second])


def make_world(
    root: Path, *, people: int = PEOPLE, per_person: int = PER_PERSON, no_face: int = 0
) -> FaceWorld:
    identity: dict[str, str] = {}
    group: dict[str, str] = {}
    lines = ["image,identity,group"]
    digests, paths = [], []
    for person in range(people):
        for shot in range(per_person):
            data = png_bytes(seed=person * 100 + shot + 1)
            path = root / "faces" / f"p{person:02d}_{shot}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            digest = hashlib.sha256(data).hexdigest()
            identity[digest] = f"person-{person:02d}"
            group[digest] = "a" if person % 2 else "b"
            digests.append(digest)
            paths.append(path)
            lines.append(f"faces/{path.name},person-{person:02d},{group[digest]}")
    csv = root / "faces.csv"
    csv.write_text("\n".join(lines) + "\n")
    world = FaceWorld(root, csv, None, identity, group, digests, paths)  # type: ignore[arg-type]
    world.fake = FakeFaces(world.similarity)
    world.fake.no_face = set(digests[:no_face])
    return world


@pytest.fixture
def world(tmp_path: Path) -> FaceWorld:
    return make_world(tmp_path)


@pytest.fixture
def server(world: FaceWorld) -> Iterator[RekognitionProtocolServer]:
    with RekognitionProtocolServer(world.fake) as running:
        yield running
