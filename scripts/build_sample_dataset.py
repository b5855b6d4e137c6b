"""Regenerate datasets/sample/: real photographs with hand-checked labels, and augmented copies of them.

The photographs come from inside three wheels whose licences allow shipping them (each photo's licence
is in its package's docstrings and README, quoted in datasets/sample/README.md). A maintainer runs this
once; users and CI only read the committed files. In a separate virtual environment:

    python3.11 -m venv /tmp/vexport
    /tmp/vexport/bin/pip install pillow numpy scikit-image==0.26.0 scikit-learn==1.9.1
    /tmp/vexport/bin/pip download scipy==1.9.3 --no-deps -d /tmp/wheels   # only read, never installed
    /tmp/vexport/bin/python scripts/build_sample_dataset.py --scipy-wheel /tmp/wheels/scipy-1.9.3-*.whl

Ground truth is written here, per photograph, after looking at each one: every label of VOCABULARY is
decided for every photo (a photo without a label is a checked negative for it). An augmented copy (a
mirror image, a centre crop that keeps the subject, a small rotation, the same pixels stored rotated with
an EXIF orientation tag, as phones do) keeps its photo's labels.
"""

from __future__ import annotations

import argparse
import bz2
import io
import json
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

REPO = Path(__file__).resolve().parents[1]
OUT_DIR = REPO / "datasets" / "sample"
MAX_SIDE = 448
QUALITY = 85
ATTRIBUTE = "sample-labels"
CREATION_DATE = "2026-11-25T00:00:00.000000"
VOCABULARY = ("Animal", "Building", "Cat", "Coffee", "Cup", "Flower", "Person", "Rocket", "Tripod")


@dataclass(frozen=True)
class Photo:
    name: str
    package: str  # where the file is: "skimage", "sklearn" or "scipy-wheel"
    file: str
    labels: tuple[str, ...]
    licence: str
    credit: str
    box: tuple[float, float, float, float] | None = None  # a crop (ratios) applied before anything else


PHOTOS = (
    Photo("chelsea", "skimage", "chelsea.png", ("Animal", "Cat"), "CC0", "Stefan van der Walt"),
    Photo(
        "raccoon",
        "scipy-wheel",
        "scipy/misc/face.dat",
        ("Animal",),
        "public domain",
        "raccoon-procyon-lotor.jpg, public-domain-image.com (as scipy.misc.face says)",
    ),
    # the left of the portrait: the space shuttle model on the right would make "Rocket" arguable
    Photo(
        "astronaut",
        "skimage",
        "astronaut.png",
        ("Person",),
        "public domain",
        "NASA (Eileen Collins)",
        box=(0.0, 0.0, 0.62, 1.0),
    ),
    # distant buildings on the right horizon: they are in the photo, so "Building" is true
    Photo("cameraman", "skimage", "camera.png", ("Building", "Person", "Tripod"), "CC0", "Lav Varshney"),
    Photo("coffee", "skimage", "coffee.png", ("Coffee", "Cup"), "CC0", "Rachel Michetti"),
    Photo(
        "pagoda",
        "sklearn",
        "china.jpg",
        ("Building",),
        "CC BY 2.0",
        "danielbuechele (Flickr photo 6061409035), as scikit-learn's images/README.txt says",
    ),
    Photo(
        "dahlia",
        "sklearn",
        "flower.jpg",
        ("Flower",),
        "CC BY 2.0",
        "vultilion (Flickr photo 6056698931), as scikit-learn's images/README.txt links",
    ),
    Photo("rocket", "skimage", "rocket.jpg", ("Rocket",), "public domain", "SpaceX (DSCOVR launch)"),
    # negatives: none of the vocabulary's labels is in these
    Photo(
        "coins",
        "skimage",
        "coins.png",
        (),
        "no known copyright restrictions",
        "Brooklyn Museum (Greek coins from Pompeii)",
    ),
    Photo(
        "clock",
        "skimage",
        "clock_motion.png",
        (),
        "public domain",
        "Stefan van der Walt (a wall clock, motion-blurred)",
    ),
    Photo("bricks", "skimage", "brick.png", (), "CC0", "CC0Textures (Bricks25)"),
    Photo("grass", "skimage", "grass.png", (), "CC0", "linolafett (DeviantArt)"),
    Photo("gravel", "skimage", "gravel.png", (), "CC0", "CC0Textures (Gravel04)"),
    Photo("retina", "skimage", "retina.jpg", (), "CC0", "Häggström, Mikael (Wikimedia Commons)"),
    Photo("deep-field", "skimage", "hubble_deep_field.jpg", (), "public domain", "NASA (Hubble)"),
    Photo("cell", "skimage", "cell.png", (), "CC0", "qpformat authors (a cell in saline)"),
)


def _mirror(image: Image.Image) -> Image.Image:
    return ImageOps.mirror(image)


def _centre_crop(image: Image.Image, keep: float = 0.85) -> Image.Image:
    width, height = image.size
    left, top = round(width * (1 - keep) / 2), round(height * (1 - keep) / 2)
    return image.crop((left, top, width - left, height - top))


def _rotate(image: Image.Image, degrees: float) -> Image.Image:
    """A small rotation, cropped to the largest centred rectangle with no filled corners."""
    width, height = image.size
    turned = image.rotate(degrees, resample=Image.Resampling.BICUBIC, expand=False)
    angle = np.deg2rad(abs(degrees))
    scale = 1 / (np.cos(angle) + np.sin(angle) * max(width, height) / min(width, height))
    return _centre_crop(turned, keep=float(scale))


VARIANTS: dict[str, Callable[[Image.Image], Image.Image]] = {
    "a": lambda image: image,
    "mirror": _mirror,
    "crop": _centre_crop,
    "rot7": lambda image: _rotate(image, 7),
    "mirror-rot-6": lambda image: _rotate(_mirror(image), -6),
    "exif": lambda image: image,  # stored turned by 90 degrees with EXIF Orientation 6 (see _save)
}
NEGATIVE_VARIANTS = ("a", "mirror", "crop")


def _open(photo: Photo, scipy_wheel: Path) -> Image.Image:
    if photo.package == "scipy-wheel":
        with zipfile.ZipFile(scipy_wheel) as wheel:
            raw = bz2.decompress(wheel.read(photo.file))
        image = Image.fromarray(np.frombuffer(raw, dtype=np.uint8).reshape(768, 1024, 3))
    else:
        module = {"skimage": "skimage.data", "sklearn": "sklearn.datasets.images"}[photo.package]
        folder = Path(sys.modules[module].__file__ if module in sys.modules else _import(module)).parent
        image = Image.open(folder / photo.file)
        image.load()
    image = image.convert("L" if image.mode in ("L", "I;16", "I") else "RGB")
    if photo.box is not None:
        width, height = image.size
        left, top, right, bottom = photo.box
        image = image.crop(
            (round(left * width), round(top * height), round(right * width), round(bottom * height))
        )
    image.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
    return image


def _import(module: str) -> str:
    __import__(module)
    return str(sys.modules[module].__file__)


def _save(image: Image.Image, variant: str, path: Path) -> None:
    buffer = io.BytesIO()
    if variant == "exif":
        exif = Image.Exif()
        exif[0x0112] = 6  # Orientation: the stored pixels must be turned 90 degrees clockwise to view
        image.transpose(Image.Transpose.ROTATE_90).save(
            buffer, "JPEG", quality=QUALITY, optimize=True, exif=exif.tobytes()
        )
    else:
        image.save(buffer, "JPEG", quality=QUALITY, optimize=True)
    path.write_bytes(buffer.getvalue())


def manifest_line(source_ref: str, labels: tuple[str, ...]) -> str:
    """A Ground Truth multi-label classification line; the class map names the whole vocabulary."""
    ids = {label: index for index, label in enumerate(VOCABULARY)}
    record = {
        "source-ref": source_ref,
        ATTRIBUTE: sorted(ids[label] for label in labels),
        f"{ATTRIBUTE}-metadata": {
            "class-map": {str(index): label for label, index in ids.items()},
            "confidence-map": {str(ids[label]): 1.0 for label in sorted(labels)},
            "type": "groundtruth/image-classification-multilabel",
            "human-annotated": "yes",
            "creation-date": CREATION_DATE,
            "job-name": "labeling-job/rekognition-eval-sample",
        },
    }
    return json.dumps(record, separators=(",", ":"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--scipy-wheel", type=Path, required=True, help="scipy 1.9.3's wheel (holds face.dat)"
    )
    parser.add_argument("--out", type=Path, default=OUT_DIR)
    args = parser.parse_args(argv)
    images = args.out / "images"
    images.mkdir(parents=True, exist_ok=True)
    for old in images.glob("*.jpg"):
        old.unlink()
    lines = []
    for photo in PHOTOS:
        unknown = set(photo.labels) - set(VOCABULARY)
        if unknown:
            raise SystemExit(f"{photo.name}: labels outside the vocabulary: {sorted(unknown)}")
        base = _open(photo, args.scipy_wheel)
        for variant in VARIANTS if photo.labels else NEGATIVE_VARIANTS:
            name = f"{photo.name}-{variant}.jpg"
            _save(VARIANTS[variant](base), variant, images / name)
            lines.append(manifest_line(f"images/{name}", photo.labels))
    (args.out / "manifest.jsonl").write_text("\n".join(sorted(lines)) + "\n", encoding="utf-8")
    size = sum(path.stat().st_size for path in images.glob("*.jpg"))
    print(f"wrote {len(lines)} images ({size / 1e6:.1f} MB) and {args.out / 'manifest.jsonl'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
