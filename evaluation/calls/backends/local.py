"""An offline baseline: EfficientNet-Lite0 (ImageNet-1k) on the CPU, answering in DetectLabels' shape.

Why: a newcomer sees the harness work with no AWS account, and every user gets a free baseline to hold
Rekognition against. Answers go through the same cache, adapter, metrics and reports as Rekognition's.

How an answer is made:
- the image is decoded with Pillow (JPEG and PNG only, as the service; EXIF orientation applied; RGB),
  centre-cropped to 224/256 of its shorter side and resized to 224x224 (bicubic), scaled as
  (x - 127) / 128: Google's evaluation preprocessing for EfficientNet-Lite (not ImageNet's mean/std);
- the 1000 logits go through a softmax: one probability per ImageNet class, summing to 1;
- every label is a set of classes: a class's own label is that class, an ancestor's (Cat, Dog, Mammal,
  Animal, Vehicle...: WordNet hypernyms named in data/local_model/label_names.yaml) is every class below
  it. A label's Confidence is 100 x the sum of its classes' probabilities. The classes exclude each other,
  so that sum is the model's probability that the image shows *some* cat, or *some* animal: a parent is
  never less confident than any child, and it is calibrated as well as the classes are. (Taking the best
  child instead, as Rekognition's numbers often look, would make "Animal" on a blurry cat as unsure as
  the unsure choice between tabby and tiger cat.)
- labels at or above MinConfidence, most confident first (ties by name), at most MaxLabels of them;
  each lists all its named ancestors as Parents, as the service does. Probabilities under
  REPORTED_FLOOR percent (0.1) are never returned, a floor as the service has one: with it an answer holds
  about 160 labels (20 KB) instead of all 1100 (130 KB, cut by MaxLabels), and a MinConfidence of 0
  still means "everything the model will say".

ImageNet-1k has no class for a person: "Person" comes only from the three classes that are people in
WordNet (ballplayer, groom, scuba diver), so this baseline cannot be used to judge person detection.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from botocore.exceptions import ClientError

from evaluation.errors import UserError
from evaluation.imagefix import TooManyPixels, check_decode_size, decode_slot
from evaluation.images import DETECT_LABELS_LIMITS, ImageLimits, LoadedImage

MODEL_DIR = Path(__file__).resolve().parents[2] / "data" / "local_model"
HIERARCHY_FILE = "hierarchy.json"
REPORTED_FLOOR = 0.1  # percent: a probability below 1e-3 is never returned
SERVICE_DEFAULT_MIN_CONFIDENCE = 55.0  # what DetectLabels uses when MinConfidence is not sent
MAX_SIDE = 10_000  # pixels a side, as the service


def _service_error(code: str, message: str) -> ClientError:
    """Errors shaped as botocore's, so the runner and the server treat them as the service's own."""
    return ClientError({"Error": {"Code": code, "Message": message}}, "DetectLabels")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class LocalModel:
    """The ONNX session and the label hierarchy, loaded once per process and shared by every thread.

    onnxruntime's `InferenceSession.run` is safe to call from several threads at once, so one session
    serves the runner's whole thread pool and every request of the server.
    """

    session: Any
    version: str
    input_name: str
    image_size: int
    crop_padding: int
    mean: float
    std: float
    label_names: tuple[str, ...]
    label_parents: tuple[tuple[str, ...], ...]
    membership: np.ndarray  # labels x classes, 1.0 where the class counts for the label
    model_sha256: str
    hierarchy_sha256: str
    folder: Path

    @classmethod
    def load(cls, folder: str | Path = MODEL_DIR) -> LocalModel:
        """The model in `folder` (default: the one shipped with the package), loaded once per process."""
        return _load(str(Path(folder).resolve()))

    def probabilities(self, image: Any) -> np.ndarray:
        """Softmax over the 1000 ImageNet classes for a decoded Pillow image (float64, sums to 1)."""
        batch = self.preprocess(image)
        logits = self.session.run(None, {self.input_name: batch})[0][0].astype(np.float64)
        exp = np.exp(logits - logits.max())
        return exp / exp.sum()

    def preprocess(self, image: Any) -> np.ndarray:
        """Centre crop of size/(size+padding) of the shorter side, bicubic to size x size, (x-mean)/std."""
        from PIL import Image

        width, height = image.size
        crop = self.image_size / (self.image_size + self.crop_padding) * min(width, height)
        left, top = (width - crop) / 2, (height - crop) / 2
        resized = image.resize(
            (self.image_size, self.image_size),
            Image.Resampling.BICUBIC,
            box=(left, top, left + crop, top + crop),
        )
        pixels = (np.asarray(resized, dtype=np.float32) - self.mean) / self.std
        return np.ascontiguousarray(pixels.transpose(2, 0, 1)[None])

    def confidences(self, probabilities: np.ndarray) -> np.ndarray:
        """Each label's confidence in percent: 100 x the sum of its classes' probabilities."""
        return np.clip(self.membership @ probabilities * 100.0, 0.0, 100.0)

    def detect_labels(self, data: bytes, *, min_confidence: float, max_labels: int) -> dict[str, Any]:
        """A DetectLabels response for image bytes; undecodable bytes raise InvalidImageFormatException."""
        with decode_slot():  # one decode at a time: concurrent bombs cannot add up
            probabilities = self.probabilities(decode_image(data, self.image_size))
        confidence = self.confidences(probabilities)
        keep = np.flatnonzero(confidence >= max(min_confidence, REPORTED_FLOOR))
        ordered = sorted(keep.tolist(), key=lambda i: (-confidence[i], self.label_names[i]))[:max_labels]
        return {
            "Labels": [
                {
                    "Name": self.label_names[i],
                    "Confidence": round(float(confidence[i]), 4),
                    "Instances": [],
                    "Parents": [{"Name": parent} for parent in self.label_parents[i]],
                    "Aliases": [],
                    "Categories": [],
                }
                for i in ordered
            ],
            "LabelModelVersion": self.version,
        }


@lru_cache(maxsize=4)
def _load(folder: str) -> LocalModel:
    try:
        import onnxruntime
    except ImportError:
        raise UserError(
            "the local backend needs onnxruntime: pip install 'rekognition-eval[local]'"
        ) from None
    root = Path(folder)
    hierarchy_path = root / HIERARCHY_FILE
    try:
        hierarchy = json.loads(hierarchy_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"the local model's {hierarchy_path} is missing; reinstall the package") from None
    model_info = hierarchy["model"]
    model_path = root / model_info["file"]
    if not model_path.is_file():
        raise UserError(f"the local model's {model_path} is missing; reinstall the package")
    digest = _sha256(model_path)
    if digest != model_info["sha256"]:
        raise UserError(
            f"{model_path} is not the model {hierarchy_path.name} was made for (sha256 {digest[:12]}..., "
            f"expected {model_info['sha256'][:12]}...): a Git LFS pointer or a partial copy? "
            "Restore it, or regenerate both with scripts/build_local_model.py"
        )
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    session = onnxruntime.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
    labels = hierarchy["labels"]
    n_classes = len(hierarchy["classes"])
    membership = np.zeros((len(labels), n_classes), dtype=np.float64)
    for row, label in enumerate(labels):
        membership[row, label["classes"]] = 1.0
    return LocalModel(
        session=session,
        version=str(hierarchy["label_model_version"]),
        input_name=str(model_info["input"]),
        image_size=int(model_info["image_size"]),
        crop_padding=int(model_info["crop_padding"]),
        mean=float(model_info["mean"]),
        std=float(model_info["std"]),
        label_names=tuple(label["name"] for label in labels),
        label_parents=tuple(tuple(label["parents"]) for label in labels),
        membership=membership,
        model_sha256=digest,
        hierarchy_sha256=_sha256(hierarchy_path),
        folder=root,
    )


def decode_image(data: bytes, target_side: int = 224) -> Any:
    """Bytes -> an upright RGB Pillow image; what the service refuses raises the service's error.

    JPEGs are decoded at a reduced scale (Pillow's draft mode) when they are much larger than needed:
    a 4000-pixel photo decodes in a fraction of the time, and is scaled down to 224 pixels anyway.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        image = Image.open(io.BytesIO(data))
        if image.format not in ("JPEG", "PNG"):
            raise _service_error(
                "InvalidImageFormatException",
                f"Request has invalid image format: {image.format or 'unknown'} (JPEG and PNG are accepted)",
            )
        width, height = image.size
        if max(width, height) > MAX_SIDE:
            raise _service_error(
                "ImageTooLargeException", f"Image is {width}x{height} pixels; at most {MAX_SIDE} a side"
            )
        if image.format == "JPEG":
            scale = (target_side * 8 / 7) / min(width, height)  # keep the shorter side >= 256 for a 224 crop
            if scale < 0.5:
                image.draft("RGB", (int(width * scale) + 1, int(height * scale) + 1))
        check_decode_size(image)  # a decompression bomb is refused from its header, before decoding
        image.load()
        return ImageOps.exif_transpose(image).convert("RGB")
    except ClientError:
        raise
    except TooManyPixels as exc:
        raise _service_error("ImageTooLargeException", str(exc)) from None
    except UnidentifiedImageError:
        raise _service_error("InvalidImageFormatException", "Request has invalid image format") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise _service_error(
            "InvalidImageFormatException", f"Request has invalid image format: {exc}"
        ) from None


class LocalLabels:
    """Backend `local`: the baseline model behind the Backend protocol (see the module's docstring)."""

    name = "local"
    operation = "DetectLabels"

    def __init__(
        self,
        *,
        min_confidence: float = 0.0,
        max_labels: int = 1000,
        s3_client: Any = None,
        model: LocalModel | None = None,
        limits: ImageLimits = DETECT_LABELS_LIMITS,
    ) -> None:
        if not 0.0 <= min_confidence <= 100.0:
            raise ValueError(f"min_confidence must be within 0-100, got {min_confidence}")
        if not 1 <= max_labels <= 1000:
            raise ValueError(f"max_labels must be within 1-1000, got {max_labels}")
        self.min_confidence = float(min_confidence)
        self.max_labels = int(max_labels)
        self.s3_client = s3_client
        self.model = model if model is not None else LocalModel.load()
        self.limits = limits

    def request_params(self) -> dict[str, Any]:
        """The model's identity is part of the key: its answers never pass for Rekognition's, or an older
        model's (the file digests change whenever the model or the names are regenerated)."""
        return {
            "MinConfidence": self.min_confidence,
            "MaxLabels": self.max_labels,
            "Model": self.model.version,
            "ModelSha256": self.model.model_sha256[:16],
            "HierarchySha256": self.model.hierarchy_sha256[:16],
            "ReportedFloor": REPORTED_FLOOR,
        }

    def call(self, image: LoadedImage) -> dict[str, Any]:
        data = image.data if image.data is not None else self._s3_bytes(image)
        return self.model.detect_labels(data, min_confidence=self.min_confidence, max_labels=self.max_labels)

    def _s3_bytes(self, image: LoadedImage) -> bytes:
        if not image.ref.is_s3:
            raise ValueError(f"{image.ref.uri}: a local image without its bytes")
        if self.s3_client is None:
            raise UserError(
                f"{image.ref.uri}: the local backend reads S3 images through an S3 client, and none was "
                "given (pass s3_client= to evaluate/build_backend, or copy the images to a local folder)"
            )
        response = self.s3_client.get_object(Bucket=image.ref.bucket, Key=image.ref.key)
        if int(response.get("ContentLength") or 0) > self.limits.max_s3_bytes:
            raise _service_error(
                "ImageTooLargeException",
                f"S3 object is {response['ContentLength']} bytes; the limit is {self.limits.max_s3_bytes}",
            )
        return response["Body"].read()

    def describe(self) -> dict[str, Any]:
        return {
            "backend": self.name,
            "operation": self.operation,
            "model": self.model.version,
            "model_sha256": self.model.model_sha256,
            "region": None,
            "endpoint_url": None,
            "min_confidence": self.min_confidence,
            "max_labels": self.max_labels,
        }


def label_names(model: LocalModel | None = None) -> Sequence[str]:
    """Every name the local backend can return (for writing a label map)."""
    return (model or LocalModel.load()).label_names
