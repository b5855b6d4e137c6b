"""`rekognition-eval serve` answered through boto3 with endpoint_url, errors included."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from evaluation.calls.backends.local import LocalModel
from evaluation.server.protocol import RekognitionProtocolServer
from evaluation.server.serve import build_server

REPO = Path(__file__).resolve().parents[2]
CAT = (REPO / "datasets" / "sample" / "images" / "chelsea-a.jpg").read_bytes()


@pytest.fixture(scope="module")
def server() -> Iterator[RekognitionProtocolServer]:
    with build_server(port=0, model=LocalModel.load()) as running:
        yield running


def client_for(url: str, *, validate: bool = True):
    """A client as an application makes one; `validate=False` lets malformed requests reach the server."""
    return boto3.client(
        "rekognition",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(parameter_validation=validate, retries={"max_attempts": 1}),
    )


@pytest.fixture(scope="module")
def rekognition(server):
    return client_for(server.url)


@pytest.fixture(scope="module")
def unchecked(server):
    return client_for(server.url, validate=False)


def error_code(call, **kwargs) -> str:
    with pytest.raises(ClientError) as raised:
        call(**kwargs)
    return raised.value.response["Error"]["Code"]


def test_detect_labels_answers_in_the_services_shape(rekognition):
    answer = rekognition.detect_labels(Image={"Bytes": CAT}, MinConfidence=50, MaxLabels=10)
    assert answer["LabelModelVersion"] == "efficientnet-lite0-imagenet:1"
    labels = {label["Name"]: label for label in answer["Labels"]}
    assert {"Name": "Animal"} in labels["Cat"]["Parents"]
    assert all(label["Confidence"] >= 50 for label in answer["Labels"])
    assert len(answer["Labels"]) <= 10
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_defaults_are_the_services(rekognition):
    answer = rekognition.detect_labels(Image={"Bytes": CAT})
    assert answer["Labels"] and min(label["Confidence"] for label in answer["Labels"]) >= 55
    assert len(rekognition.detect_labels(Image={"Bytes": CAT}, MaxLabels=2)["Labels"]) == 2


def test_label_name_filters(rekognition):
    only_cats = rekognition.detect_labels(
        Image={"Bytes": CAT}, MinConfidence=0, Settings={"GeneralLabels": {"LabelInclusionFilters": ["Cat"]}}
    )
    assert [label["Name"] for label in only_cats["Labels"]] == ["Cat"]
    no_animals = rekognition.detect_labels(
        Image={"Bytes": CAT}, Settings={"GeneralLabels": {"LabelExclusionFilters": ["Animal"]}}
    )
    assert "Animal" not in {label["Name"] for label in no_animals["Labels"]}


@pytest.mark.parametrize(
    ("request_", "code"),
    [
        ({"Image": {"Bytes": b"these are not image bytes"}}, "InvalidImageFormatException"),
        ({"Image": {"Bytes": b"GIF89a" + b"\x00" * 100}}, "InvalidImageFormatException"),
        ({"Image": {"Bytes": b"\xff" * (5 * 1024 * 1024 + 1)}}, "ImageTooLargeException"),
        ({"Image": {"Bytes": CAT}, "MinConfidence": 101}, "InvalidParameterException"),
        ({"Image": {"S3Object": {"Bucket": "photos", "Name": "cat.jpg"}}}, "InvalidS3ObjectException"),
        ({"Image": {"Bytes": CAT}, "Features": ["IMAGE_PROPERTIES"]}, "InvalidParameterException"),
        (
            {
                "Image": {"Bytes": CAT},
                "Settings": {"GeneralLabels": {"LabelCategoryInclusionFilters": ["x"]}},
            },
            "InvalidParameterException",
        ),
    ],
    ids=["garbage", "gif", "over-5-MB", "min-confidence-101", "s3-object", "image-properties", "categories"],
)
def test_malformed_requests_get_the_services_errors(rekognition, request_, code):
    assert error_code(rekognition.detect_labels, **request_) == code


@pytest.mark.parametrize(
    "request_",
    [
        {},
        {"Image": {}},
        {"Image": {"Bytes": CAT}, "MinConfidence": -1},
        {"Image": {"Bytes": CAT}, "MaxLabels": -1},
        {"Image": {"Bytes": CAT}, "MaxLabels": 2.5},
    ],
    ids=["no-image", "empty-image", "min-confidence-below-0", "max-labels-below-0", "max-labels-float"],
)
def test_what_boto3_would_refuse_is_refused_by_the_server_too(unchecked, request_):
    assert error_code(unchecked.detect_labels, **request_) == "InvalidParameterException"


def test_other_operations_are_unknown_here(rekognition):
    assert error_code(rekognition.detect_faces, Image={"Bytes": CAT}) == "UnknownOperationException"


def test_the_cli_serves_until_ctrl_c(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(
        [sys.executable, "-m", "evaluation", "serve", "--port", "0"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first = process.stdout.readline()
        assert first.startswith("Serving DetectLabels (efficientnet-lite0-imagenet:1) at http://127.0.0.1:")
        url = first.rsplit(" ", 1)[1].strip()
        answer = client_for(url).detect_labels(Image={"Bytes": CAT}, MaxLabels=3)
        assert len(answer["Labels"]) == 3
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=90) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_the_cli_refuses_a_bad_port(capsys):
    from evaluation.cli import main

    assert main(["serve", "--port", "70000"]) == 2
    assert "--port" in capsys.readouterr().err


def _raw(url: str, data: bytes, *, wait_s: float = 10.0) -> bytes:
    """Send raw bytes to the server and read until it closes (or `wait_s` passes)."""
    import socket
    from urllib.parse import urlparse

    parsed = urlparse(url)
    with socket.create_connection((parsed.hostname, parsed.port), timeout=wait_s) as connection:
        connection.sendall(data)
        received = b""
        try:
            while chunk := connection.recv(65536):
                received += chunk
        except TimeoutError:
            received += b"<still open>"
        return received


def _headers(length: int) -> bytes:
    return (
        "POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: RekognitionService.DetectLabels\r\n"
        f"Content-Type: application/x-amz-json-1.1\r\nContent-Length: {length}\r\n\r\n"
    ).encode()


def test_a_body_over_the_apis_limit_is_refused_unread(server):
    from evaluation.server.protocol import MAX_BODY_BYTES

    assert MAX_BODY_BYTES > 2 * 4 * (5 * 1024 * 1024) // 3  # two 5 MB images as base64 fit
    reply = _raw(server.url, _headers(MAX_BODY_BYTES + 1), wait_s=5.0)  # the body is never sent
    assert reply.startswith(b"HTTP/1.1 413") and b"ImageTooLargeException" in reply
    assert not reply.endswith(b"<still open>")
    bad = _raw(server.url, _headers(-5), wait_s=5.0)
    assert bad.startswith(b"HTTP/1.1 400") and b"SerializationException" in bad

    client = client_for(server.url, validate=False)
    with pytest.raises(ClientError) as caught:
        client.detect_labels(Image={"Bytes": b"\xff" * (11 * 1024 * 1024)})
    assert caught.value.response["Error"]["Code"] == "ImageTooLargeException"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413
    assert client.detect_labels(Image={"Bytes": CAT})["Labels"]  # the server serves on


def test_idle_and_stalled_connections_are_closed():
    import time

    with RekognitionProtocolServer(lambda operation, request: {"Labels": []}, idle_timeout_s=0.5) as running:
        for data in (b"", b"POST / HTTP/1.1\r\nHost: x\r\n", _headers(100) + b'{"Image":'):
            started = time.monotonic()
            reply = _raw(running.url, data, wait_s=10.0)
            assert not reply.endswith(b"<still open>")
            assert time.monotonic() - started < 5.0
        answered = client_for(running.url).detect_labels(Image={"Bytes": CAT})
        assert answered["Labels"] == []
