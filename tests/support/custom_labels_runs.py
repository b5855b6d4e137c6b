"""Runs against the fake Custom Labels service: a dataset it answers, the command lines, fast polls."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from evaluation.aws.models import Waiting
from evaluation.cli import main
from tests.support.fake_custom_labels import FakeCustomLabels, custom_label
from tests.support.images import png_bytes

FAST = Waiting(delay_s=0.01, max_attempts=500)  # DescribeProjectVersions every 10 ms instead of 30 s


class Switchboard:
    """One server for a module (stopping a server takes half a second); each test scripts its own fake."""

    def __init__(self) -> None:
        self.fake = FakeCustomLabels()

    def __call__(self, operation: str, request: dict[str, Any]) -> dict[str, Any]:
        return self.fake(operation, request)


def write_dataset(folder: Path, fake: FakeCustomLabels, count: int = 12) -> Path:
    """Images with ground truth and scripted answers: every even image has a dent (found at 60-95)."""
    (folder / "images").mkdir(exist_ok=True)
    rows = []
    for index in range(count):
        data = png_bytes(80, 80, seed=index)
        (folder / "images" / f"{index}.png").write_bytes(data)
        truth = "dent" if index % 2 == 0 else "scratch"
        confidence = 60.0 + (index % 13) * 3 if truth == "dent" else 20.0 + index % 40
        fake.answer_for_bytes(
            data, [custom_label("dent", confidence), custom_label("scratch", 100 - confidence)]
        )
        rows.append(f"images/{index}.png,{truth}")
    csv = folder / "data.csv"
    csv.write_text("image,labels\n" + "\n".join(rows) + "\n")
    return csv


def run_args(tmp_path: Path, csv: Path, endpoint: Any, arn: str, *extra: str) -> list[str]:
    return [
        "--quiet",
        "run",
        "--dataset",
        str(csv),
        "--backend",
        "custom-labels",
        "--project-version-arn",
        arn,
        "--endpoint-url",
        endpoint.url,
        "--region",
        "us-east-1",
        "--cache",
        str(tmp_path / "cache.sqlite"),
        "--out",
        str(tmp_path / "run"),
        "--min-support",
        "1",
        *extra,
    ]


def models(endpoint: Any, *args: str) -> int:
    return main(["--quiet", "models", *args, "--endpoint-url", endpoint.url])
