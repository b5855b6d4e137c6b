"""Size and write time of report.html for a synthetic run with many labels, and what takes the room.

    python benchmarks/bench_report_size.py [--labels 1000 --images 5000 --side 640]

The run is analysed by the real `analyse` over scripted answers (tests/support/runs.py), with a long
tail of label frequencies and real JPEG files on disk (noisy gradients, which compress worse than most
photos, so thumbnails are near their largest). Prints the page size and its parts: the per-threshold
counts, the errors, the thumbnails, the image names, and the code.
"""

from __future__ import annotations

import argparse
import io
import json
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from evaluation.reports.html import page_data, write_html
from tests.support.runs import synthetic_result


def photo_like(side: int):
    """JPEG bytes of a noisy gradient: as hard to compress as a busy photo."""

    def make(index: int) -> bytes:
        rng = np.random.default_rng(index)
        height = side * 3 // 4
        ramp = np.linspace(0, 255, side)[None, :, None] * rng.random(3)[None, None, :]
        noise = rng.normal(0, 40, (height, side, 3))
        pixels = np.clip(ramp + noise, 0, 255).astype(np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format="JPEG", quality=85)
        return buffer.getvalue()

    return make


def kib(size: int) -> str:
    return f"{size / 1024:,.0f} KiB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", type=int, default=1000)
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--side", type=int, default=640, help="image width in pixels")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        started = time.perf_counter()
        result = synthetic_result(
            folder,
            labels=[f"Label {i:04d}" for i in range(args.labels)],
            n_images=args.images,
            image_bytes=photo_like(args.side),
        )
        print(
            f"{args.labels} labels, {args.images} images ({args.side} px JPEG), "
            f"{result.pairs.n_pairs:,} scored pairs: analysed in {time.perf_counter() - started:.1f} s"
        )
        started = time.perf_counter()
        page = write_html(result, folder / "run")
        written = time.perf_counter() - started
        text = page.read_text(encoding="utf-8")
        size = len(text.encode())
        data = page_data(result)
        bins = len(json.dumps([label["bins"] for label in data["labels"]], separators=(",", ":")))
        errors = len(json.dumps([label["errors"] for label in data["labels"]], separators=(",", ":")))
        thumbs = sum(len(uri) for uri in data["thumbs"].values())
        names = len(json.dumps(data["images"]))
        code = sum(
            len(block) for block in re.findall(r"<(?:style|script)>(.*?)</(?:style|script)>", text, re.S)
        )
        pngs = sorted((folder / "run" / "plots").glob("*.png"))
        print(
            f"report.html: {kib(size)} ({size:,} bytes), written in {written:.1f} s (with {len(pngs)} PNGs)"
        )
        print(f"  per-threshold counts (sparse bins): {kib(bins)}")
        print(f"  errors (examples, confidences, boxes): {kib(errors)}")
        print(f"  thumbnails: {len(data['thumbs'])} images, {kib(thumbs)}")
        print(f"  image names: {len(data['images'])} images, {kib(names)}")
        print(f"  CSS and JavaScript: {kib(code)}")
        print(f"  plots/: {len(pngs)} PNGs, {kib(sum(p.stat().st_size for p in pngs))}")


if __name__ == "__main__":
    main()
