"""The local backend on the bundled photographs: real model, real files, no network."""

from __future__ import annotations

import io
import json
import socket
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
import numpy as np
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from PIL import Image

from evaluation.calls.backends import Backend, LocalLabels, RekognitionLabels, ReplayLabels
from evaluation.calls.backends import local as local_module
from evaluation.calls.backends.local import MODEL_DIR, REPORTED_FLOOR, LocalModel, decode_image
from evaluation.calls.cache import cache_key
from evaluation.errors import UserError
from evaluation.images import ImageRef, LoadedImage, load_image
from evaluation.options import RunRequest
from evaluation.pipeline import build_backend

SAMPLE = Path(__file__).resolve().parents[3] / "datasets" / "sample" / "images"


def photo(name: str) -> LoadedImage:
    return load_image(ImageRef(str(SAMPLE / name)))


def by_name(answer: dict) -> dict[str, dict]:
    return {label["Name"]: label for label in answer["Labels"]}


@pytest.fixture(scope="module")
def backend() -> LocalLabels:
    return LocalLabels()


@pytest.fixture(scope="module")
def hierarchy() -> dict:
    return json.loads((MODEL_DIR / "hierarchy.json").read_text(encoding="utf-8"))


def test_model_and_hierarchy_load_with_the_network_unavailable(monkeypatch):
    def no_network(*args, **kwargs):
        raise OSError("network disabled by the test")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    local_module._load.cache_clear()
    model = LocalModel.load()
    answer = model.detect_labels(photo("chelsea-a.jpg").data, min_confidence=50, max_labels=5)
    assert answer["LabelModelVersion"] == "efficientnet-lite0-imagenet:1"
    assert answer["Labels"]


def test_the_hierarchy_is_consistent(hierarchy):
    labels = {label["name"]: label for label in hierarchy["labels"]}
    assert len(hierarchy["classes"]) == 1000
    assert len(labels) == len(hierarchy["labels"]), "label names are unique"
    assert {c["name"] for c in hierarchy["classes"]} <= set(labels), "every class is a label"
    for name, label in labels.items():
        assert name not in label["parents"]
        for parent in label["parents"]:
            assert set(label["classes"]) <= set(labels[parent]["classes"]), (name, parent)
    assert labels["Tabby Cat"]["parents"][:1] == ["Cat"]
    assert {"Cat", "Feline", "Mammal", "Animal"} <= set(labels["Tabby Cat"]["parents"])
    assert {"Dog", "Canine", "Mammal", "Animal"} <= set(labels["Golden Retriever"]["parents"])
    assert labels["Person"]["classes"] == sorted(
        i
        for i, c in enumerate(hierarchy["classes"])
        if c["name"] in ("Baseball Player", "Bridegroom", "Scuba Diver")
    )


def test_the_model_file_is_the_one_the_hierarchy_names(hierarchy):
    model = LocalModel.load()
    assert model.model_sha256 == hierarchy["model"]["sha256"]


def test_a_changed_model_file_is_refused_with_a_clear_error(tmp_path):
    for name in ("hierarchy.json",):
        (tmp_path / name).write_bytes((MODEL_DIR / name).read_bytes())
    (tmp_path / "efficientnet_lite0.onnx").write_text("version https://git-lfs.github.com/spec/v1\n")
    with pytest.raises(UserError, match="not the model"):
        LocalModel.load(tmp_path)


def test_a_cat_photo_is_a_cat_and_an_animal(backend):
    answer = backend.call(photo("chelsea-a.jpg"))
    labels = by_name(answer)
    assert answer["LabelModelVersion"] == "efficientnet-lite0-imagenet:1"
    cat = labels["Cat"]
    assert cat["Confidence"] > 80
    assert {"Feline", "Mammal", "Animal"} <= {parent["Name"] for parent in cat["Parents"]}
    assert cat["Instances"] == [] and cat["Aliases"] == [] and cat["Categories"] == []
    assert labels["Animal"]["Confidence"] >= cat["Confidence"]
    assert "Dog" not in labels or labels["Dog"]["Confidence"] < 5


@pytest.mark.parametrize(
    ("image", "expected", "parent"),
    [
        ("coffee-a.jpg", "Coffee", "Beverage"),
        ("dahlia-a.jpg", "Flower", "Plant"),
        ("rocket-a.jpg", "Rocket", "Vehicle"),
        ("cameraman-a.jpg", "Tripod", None),
        ("raccoon-a.jpg", "Mammal", "Animal"),
    ],
)
def test_the_bundled_photos_get_their_labels(backend, image, expected, parent):
    answer = backend.call(photo(image))
    labels = by_name(answer)
    assert labels[expected]["Confidence"] > 20
    if parent is not None:
        assert parent in {p["Name"] for p in labels[expected]["Parents"]}
        assert labels[parent]["Confidence"] >= labels[expected]["Confidence"]


def test_a_parent_is_the_sum_of_its_classes(backend, hierarchy):
    model = backend.model
    probabilities = model.probabilities(decode_image(photo("chelsea-a.jpg").data))
    assert probabilities.sum() == pytest.approx(1.0)
    confidences = dict(zip(model.label_names, model.confidences(probabilities), strict=True))
    cat_classes = next(label["classes"] for label in hierarchy["labels"] if label["name"] == "Cat")
    assert confidences["Cat"] == pytest.approx(100 * probabilities[cat_classes].sum())
    children = [
        name for name, parents in zip(model.label_names, model.label_parents, strict=True) if "Cat" in parents
    ]
    assert {"Tabby Cat", "Tiger Cat", "Egyptian Mau"} <= set(children)
    assert confidences["Cat"] >= sum(confidences[name] for name in ("Tabby Cat", "Tiger Cat", "Egyptian Mau"))
    assert confidences["Animal"] >= confidences["Mammal"] >= confidences["Feline"] >= confidences["Cat"]
    assert confidences["Animal"] <= 100.0


def test_min_confidence_and_max_labels_are_honoured(backend):
    data = photo("chelsea-a.jpg").data
    everything = backend.model.detect_labels(data, min_confidence=0, max_labels=1000)["Labels"]
    confidences = [label["Confidence"] for label in everything]
    assert confidences == sorted(confidences, reverse=True)
    assert min(confidences) >= REPORTED_FLOOR
    above = backend.model.detect_labels(data, min_confidence=30, max_labels=1000)["Labels"]
    assert above == [label for label in everything if label["Confidence"] >= 30]
    top = backend.model.detect_labels(data, min_confidence=0, max_labels=3)["Labels"]
    assert top == everything[:3]


def test_the_exif_orientation_is_applied(backend):
    stored = Image.open(SAMPLE / "chelsea-exif.jpg")
    assert stored.height > stored.width, "the sample stores this one turned, with EXIF Orientation 6"
    upright = decode_image((SAMPLE / "chelsea-exif.jpg").read_bytes())
    assert upright.width > upright.height
    turned = by_name(backend.call(photo("chelsea-exif.jpg")))["Cat"]["Confidence"]
    assert turned == pytest.approx(by_name(backend.call(photo("chelsea-a.jpg")))["Cat"]["Confidence"], abs=3)


def test_preprocessing_is_efficientnet_lites():
    model = LocalModel.load()
    grey = model.preprocess(Image.new("RGB", (300, 200), (127, 127, 127)))
    assert grey.shape == (1, 3, 224, 224) and grey.dtype == np.float32
    assert np.allclose(grey, 0.0)
    white = model.preprocess(Image.new("RGB", (200, 300), (255, 255, 255)))
    assert np.allclose(white, 1.0)
    # the centre crop keeps 224/256 of the shorter side: a 256-pixel border of 0 around a 224 square of 255
    framed = Image.new("RGB", (256, 256), (0, 0, 0))
    framed.paste((255, 255, 255), (16, 16, 240, 240))
    assert np.allclose(model.preprocess(framed), 1.0, atol=0.02)


@pytest.mark.parametrize(
    "data",
    [b"not an image at all", b"\xff\xd8\xff\xe0" + b"\x00" * 40],
    ids=["garbage", "truncated-jpeg"],
)
def test_undecodable_bytes_are_the_services_invalid_image_format(backend, data):
    image = LoadedImage(ref=ImageRef("/x.jpg"), image_id="sha256:x", data=data)
    with pytest.raises(ClientError) as raised:
        backend.call(image)
    assert raised.value.response["Error"]["Code"] == "InvalidImageFormatException"


def test_formats_the_service_refuses_are_refused():
    buffer = io.BytesIO()
    Image.new("RGB", (100, 100)).save(buffer, "GIF")
    with pytest.raises(ClientError, match="InvalidImageFormatException"):
        decode_image(buffer.getvalue())


def test_it_follows_the_backend_protocol_and_its_keys_never_collide(backend):
    assert isinstance(backend, Backend)
    assert (backend.name, backend.operation) == ("local", "DetectLabels")
    params = backend.request_params()
    assert params["Model"] == "efficientnet-lite0-imagenet:1"
    others = [
        RekognitionLabels(boto3.client("rekognition", region_name="us-east-1")).request_params(),
        ReplayLabels().request_params(),
    ]
    theirs = {cache_key("sha256:same", "DetectLabels", p) for p in others}
    assert cache_key("sha256:same", "DetectLabels", params) not in theirs
    described = backend.describe()
    assert described["backend"] == "local" and described["model"] == params["Model"]


def test_build_backend_makes_it():
    request = RunRequest(dataset="data.csv", backend="local", min_confidence=5, max_labels=50)
    assert isinstance(build_backend(request), LocalLabels)
    with pytest.raises(UserError, match="local"):
        RunRequest(dataset="data.csv", backend="nope")


def test_concurrent_calls_give_the_sequential_answers(backend):
    images = [photo(name) for name in ("chelsea-a.jpg", "coffee-a.jpg", "rocket-a.jpg", "dahlia-a.jpg")]
    sequential = [backend.call(image) for image in images]
    with ThreadPoolExecutor(max_workers=8) as pool:
        concurrent = list(pool.map(backend.call, images * 3))
    assert concurrent == sequential * 3


def test_s3_images_are_read_with_the_given_client(backend):
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="photos")
        s3.put_object(Bucket="photos", Key="cat.jpg", Body=(SAMPLE / "chelsea-a.jpg").read_bytes())
        remote = LoadedImage(ref=ImageRef("s3://photos/cat.jpg"), image_id="s3://photos/cat.jpg")
        answer = LocalLabels(s3_client=s3, model=backend.model).call(remote)
    assert answer == backend.call(photo("chelsea-a.jpg"))
    with pytest.raises(UserError, match="S3 client"):
        backend.call(remote)
