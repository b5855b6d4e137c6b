"""The custom-labels backend and its adapter: what is sent, how answers are keyed and read, which images pass.

Stubber for the request and each error code; the local endpoint for what goes over the wire.
"""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from evaluation.calls.backends import BACKENDS, CustomLabels, make_client
from evaluation.calls.cache import cache_key
from evaluation.errors import UserError
from evaluation.images import (
    CUSTOM_LABELS_LIMITS,
    DETECT_LABELS_LIMITS,
    ImageProblem,
    ImageRef,
    LoadedImage,
    load_image,
)
from evaluation.operations.answers import ResponseShapeError, adapter_for
from evaluation.options import RunRequest
from evaluation.pipeline import build_backend
from evaluation.server.protocol import RekognitionProtocolServer
from tests.support.fake_custom_labels import FakeCustomLabels, custom_label
from tests.support.images import jpeg_header_bytes, png_bytes

ARN = "arn:aws:rekognition:eu-west-1:123456789012:project/shop/version/shop.2024-05-01/1714550000000"
OTHER_VERSION = ARN.replace("shop.2024-05-01/1714550000000", "shop.2024-06-01/1717200000000")
LOCAL = LoadedImage(ref=ImageRef("/data/part.png"), image_id="sha256:abc", data=b"\x89PNG...")
REMOTE = LoadedImage(ref=ImageRef("s3://bucket/datasets/part.jpg"), image_id="s3://bucket/datasets/part.jpg")


@pytest.fixture
def stubbed():
    client = boto3.client("rekognition", region_name="eu-west-1")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def test_sends_the_version_and_min_confidence_zero_and_records_the_version(stubbed):
    client, stubber = stubbed
    stubber.add_response(
        "detect_custom_labels",
        {"CustomLabels": [{"Name": "dent", "Confidence": 91.5}]},
        {"ProjectVersionArn": ARN, "Image": {"Bytes": LOCAL.data}, "MinConfidence": 0.0},
    )
    answer = CustomLabels(client, project_version_arn=ARN).call(LOCAL)
    assert answer["CustomLabels"][0]["Name"] == "dent" and answer["ProjectVersionArn"] == ARN
    assert adapter_for("DetectCustomLabels")(answer).model_version == ARN


def test_s3_images_go_as_s3_objects_and_max_results_only_when_asked(stubbed):
    client, stubber = stubbed
    stubber.add_response(
        "detect_custom_labels",
        {"CustomLabels": []},
        {
            "ProjectVersionArn": ARN,
            "Image": {"S3Object": {"Bucket": "bucket", "Name": "datasets/part.jpg"}},
            "MinConfidence": 0.0,
            "MaxResults": 5,
        },
    )
    CustomLabels(client, project_version_arn=ARN, max_results=5).call(REMOTE)


@pytest.mark.parametrize(
    "code",
    [
        "ResourceNotReadyException",
        "ResourceNotFoundException",
        "ImageTooLargeException",
        "InvalidImageFormatException",
        "AccessDeniedException",
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
    ],
)
def test_service_errors_surface_with_their_code(stubbed, code):
    client, stubber = stubbed
    stubber.add_client_error("detect_custom_labels", service_error_code=code, service_message="no")
    with pytest.raises(ClientError) as caught:
        CustomLabels(client, project_version_arn=ARN).call(LOCAL)
    assert caught.value.response["Error"]["Code"] == code


def test_the_version_is_part_of_the_cache_key_and_an_aws_endpoint_is_not():
    client = boto3.client("rekognition", region_name="eu-west-1")
    first = CustomLabels(client, project_version_arn=ARN)
    second = CustomLabels(client, project_version_arn=OTHER_VERSION)
    assert first.request_params() == {"ProjectVersionArn": ARN, "MinConfidence": 0.0}
    keys = {cache_key("sha256:abc", b.operation, b.request_params()) for b in (first, second)}
    assert len(keys) == 2
    assert CustomLabels(client, project_version_arn=ARN, max_results=3).request_params()["MaxResults"] == 3


def test_build_backend_wires_the_backend_and_refuses_what_is_missing_or_malformed():
    assert "custom-labels" in BACKENDS
    backend = build_backend(RunRequest(dataset="d.csv", backend="custom-labels", project_version_arn=ARN))
    assert isinstance(backend, CustomLabels) and backend.describe()["region"] == "eu-west-1"
    assert backend.limits == CUSTOM_LABELS_LIMITS
    with pytest.raises(UserError, match="--project-version-arn"):
        build_backend(RunRequest(dataset="d.csv", backend="custom-labels"))
    with pytest.raises(UserError, match="not a Custom Labels model version ARN"):
        build_backend(
            RunRequest(
                dataset="d.csv",
                backend="custom-labels",
                project_version_arn="arn:aws:rekognition:eu-west-1:1:project/x/1",
            )
        )


def test_over_the_wire_to_a_local_endpoint():
    fake = FakeCustomLabels()
    arn = fake.add_model("shop", "v1", status="RUNNING")
    data = png_bytes(70, 70, seed=2)
    fake.answer_for_bytes(data, [custom_label("dent", 97.0), custom_label("scratch", 0.5)])
    with RekognitionProtocolServer(fake) as server:
        backend = CustomLabels(
            make_client(endpoint_url=server.url, region="us-east-1"), project_version_arn=arn
        )
        answer = backend.call(LoadedImage(ref=ImageRef("/x.png"), image_id="sha256:x", data=data))
        assert backend.request_params()["Endpoint"] == server.url
    assert [entry["Name"] for entry in answer["CustomLabels"]] == ["dent", "scratch"]
    assert fake.requests[-1] == ("DetectCustomLabels", {"ProjectVersionArn": arn, "MinConfidence": 0.0})


def test_adapter_keeps_one_label_per_name_at_its_best_object_with_every_box():
    answer = adapter_for("DetectCustomLabels")(
        {
            "CustomLabels": [
                custom_label("dent", 40.0, (0.1, 0.1, 0.2, 0.2)),
                custom_label("dent", 90.0, (0.5, 0.1, 0.2, 0.3)),
                custom_label("scratch", 12.5),
            ]
        }
    )
    dent, scratch = answer.labels
    assert (dent.name, dent.confidence, scratch.name, scratch.confidence) == ("dent", 90.0, "scratch", 12.5)
    assert [(box.left, box.height, box.confidence) for box in dent.instances] == [
        (0.1, 0.2, 40.0),
        (0.5, 0.3, 90.0),
    ]
    assert scratch.instances == () and answer.model_version is None
    with pytest.raises(ResponseShapeError, match="without a Name"):
        adapter_for("DetectCustomLabels")({"CustomLabels": [{"Confidence": 3.0}]})
    with pytest.raises(ResponseShapeError, match="CustomLabels list"):
        adapter_for("DetectCustomLabels")({"CustomLabels": "dent"})


def test_images_are_checked_with_the_custom_labels_limits(tmp_path):
    def path(name, data):
        (tmp_path / name).write_bytes(data)
        return ImageRef(str(tmp_path / name))

    small = path("small.png", png_bytes(70, 70))  # under DetectLabels' 80 px, over Custom Labels' 64
    with pytest.raises(ImageProblem, match="at least 80"):
        load_image(small, DETECT_LABELS_LIMITS)
    assert load_image(small, CUSTOM_LABELS_LIMITS).width == 70
    with pytest.raises(ImageProblem, match="at least 64"):
        load_image(path("tiny.png", png_bytes(60, 100)), CUSTOM_LABELS_LIMITS)
    with pytest.raises(ImageProblem, match="at most 4096 px"):
        load_image(path("wide.jpg", jpeg_header_bytes(5000, 3000)), CUSTOM_LABELS_LIMITS)
    with pytest.raises(ImageProblem, match="aspect ratio may be at most 20:1"):
        load_image(path("strip.png", png_bytes(1400, 65)), CUSTOM_LABELS_LIMITS)
    big = path("big.jpg", jpeg_header_bytes(3000, 2000) + b"\0" * (4 * 1024 * 1024))
    with pytest.raises(ImageProblem, match=r"limit is 4\.0 MB"):
        load_image(big, CUSTOM_LABELS_LIMITS)
