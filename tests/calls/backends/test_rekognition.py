"""The rekognition backend through a real boto3 client.

Stubber for each error code; the local endpoint for what goes over the wire.
"""

import hashlib

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import ANY, Stubber

from evaluation.calls.backends import RekognitionLabels, ReplayLabels, make_client
from evaluation.calls.backends.base import NotCached
from evaluation.calls.backends.rekognition import DEFAULT_MAX_ATTEMPTS, client_config
from evaluation.errors import UserError
from evaluation.images import ImageRef, LoadedImage
from evaluation.server.protocol import ServiceError
from tests.support.fake_rekognition import label
from tests.support.images import png_bytes

LOCAL = LoadedImage(ref=ImageRef("/data/cat.png"), image_id="sha256:abc", data=b"\x89PNG...")
REMOTE = LoadedImage(
    ref=ImageRef("s3://my-bucket/datasets/cat.jpg"), image_id="s3://my-bucket/datasets/cat.jpg"
)


@pytest.fixture
def stubbed():
    client = boto3.client("rekognition", region_name="eu-west-1")
    with Stubber(client) as stubber:
        yield RekognitionLabels(client, min_confidence=0.0, max_labels=1000), stubber
        stubber.assert_no_pending_responses()


def test_local_images_are_sent_as_bytes_with_the_low_floor(stubbed):
    backend, stubber = stubbed
    stubber.add_response(
        "detect_labels",
        {"Labels": [{"Name": "Cat", "Confidence": 98.0}], "LabelModelVersion": "3.0"},
        {"Image": {"Bytes": LOCAL.data}, "MinConfidence": 0.0, "MaxLabels": 1000},
    )
    assert backend.call(LOCAL)["Labels"][0]["Name"] == "Cat"


def test_s3_images_are_sent_as_s3_objects_never_downloaded(stubbed):
    backend, stubber = stubbed
    stubber.add_response(
        "detect_labels",
        {"Labels": []},
        {
            "Image": {"S3Object": {"Bucket": "my-bucket", "Name": "datasets/cat.jpg"}},
            "MinConfidence": ANY,
            "MaxLabels": ANY,
        },
    )
    backend.call(REMOTE)


@pytest.mark.parametrize(
    "code",
    [
        "InvalidParameterException",
        "InvalidImageFormatException",
        "ImageTooLargeException",
        "AccessDeniedException",
        "InvalidS3ObjectException",
        "ThrottlingException",
        "ProvisionedThroughputExceededException",
        "InternalServerError",
    ],
)
def test_service_errors_surface_as_client_errors_with_their_code(stubbed, code):
    backend, stubber = stubbed
    stubber.add_client_error(
        "detect_labels", service_error_code=code, service_message="no", http_status_code=400
    )
    with pytest.raises(ClientError) as caught:
        backend.call(LOCAL)
    assert caught.value.response["Error"]["Code"] == code


def test_cache_params_name_a_custom_endpoint_but_not_aws(endpoint):
    aws = RekognitionLabels(boto3.client("rekognition", region_name="us-east-1"))
    assert aws.request_params() == {"MinConfidence": 0.0, "MaxLabels": 1000}
    local = RekognitionLabels(make_client(endpoint_url=endpoint.url, region="us-east-1"))
    assert local.request_params()["Endpoint"] == endpoint.url
    replay = ReplayLabels(endpoint_url=endpoint.url)
    assert replay.request_params() == local.request_params()
    with pytest.raises(NotCached, match="--backend rekognition"):
        replay.call(LOCAL)


def test_over_the_wire_to_a_local_endpoint(endpoint, fake_rekognition):
    data = png_bytes(100, 100, seed=1)
    fake_rekognition.answer_for_bytes(data, [label("Cat", 97.5, ("Animal",)), label("Dog", 3.0)])
    backend = RekognitionLabels(
        make_client(endpoint_url=endpoint.url, region="us-east-1"), min_confidence=2.5
    )
    answer = backend.call(LoadedImage(ref=ImageRef("/x.png"), image_id="sha256:x", data=data))
    assert [entry["Name"] for entry in answer["Labels"]] == ["Cat", "Dog"]
    assert fake_rekognition.requests[-1] == {"MinConfidence": 2.5, "MaxLabels": 1000}


def test_invalid_request_values_are_refused_before_any_call():
    client = boto3.client("rekognition", region_name="us-east-1")
    with pytest.raises(ValueError, match="min_confidence"):
        RekognitionLabels(client, min_confidence=101)
    with pytest.raises(ValueError, match="max_labels"):
        RekognitionLabels(client, max_labels=0)


def test_retry_settings_honour_the_environment(monkeypatch):
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "3")
    config = client_config(max_pool_connections=32)
    assert config.retries == {"mode": "standard", "total_max_attempts": 3}
    assert config.max_pool_connections == 32


@pytest.fixture
def no_backoff(monkeypatch):
    """botocore's standard-mode backoff without its sleeps: the attempts are what is counted."""
    from botocore.retries.standard import ExponentialBackoff

    monkeypatch.setattr(ExponentialBackoff, "delay_amount", lambda self, context: 0.0)


def attempts_until_failure(endpoint, fake_rekognition, **client_options) -> tuple[int, int]:
    """(attempts the endpoint saw, RetryAttempts botocore reported) for one DetectLabels that always
    gets a 500."""
    fake_rekognition.fault = lambda identity, attempt: ServiceError("InternalServerError", "down", status=500)
    client = make_client(endpoint_url=endpoint.url, region="us-east-1", **client_options)
    data = png_bytes(90, 90, seed=7)
    with pytest.raises(ClientError) as raised:
        client.detect_labels(Image={"Bytes": data})
    assert raised.value.response["Error"]["Code"] == "InternalServerError"
    return (
        fake_rekognition.calls[hashlib.sha256(data).hexdigest()],
        raised.value.response["ResponseMetadata"]["RetryAttempts"],
    )


@pytest.mark.parametrize("attempts", [1, 2, 3, 5])
def test_max_attempts_is_every_attempt_the_first_included(endpoint, fake_rekognition, no_backoff, attempts):
    """What the AWS SDKs document for AWS_MAX_ATTEMPTS: 1 is a single try, N is N requests in all (passing N
    as botocore's retries["max_attempts"] made N + 1)."""
    assert attempts_until_failure(endpoint, fake_rekognition, max_attempts=attempts) == (
        attempts,
        attempts - 1,
    )


@pytest.mark.parametrize(("environment", "attempts"), [("4", 4), ("1", 1), (None, DEFAULT_MAX_ATTEMPTS)])
def test_aws_max_attempts_from_the_environment_counts_every_attempt(
    endpoint, fake_rekognition, no_backoff, monkeypatch, environment, attempts
):
    if environment is not None:
        monkeypatch.setenv("AWS_MAX_ATTEMPTS", environment)
    assert attempts_until_failure(endpoint, fake_rekognition)[0] == attempts


@pytest.mark.parametrize("value", ["0", "-2", "eight", "2.5"])
def test_an_unusable_aws_max_attempts_is_the_users_mistake(monkeypatch, value):
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", value)
    with pytest.raises(UserError, match="AWS_MAX_ATTEMPTS must be a whole number"):
        client_config()
    with pytest.raises(ValueError, match="max_attempts must be a whole number"):
        client_config(max_attempts=0)


def test_aws_endpoints_are_known_by_their_host_name():
    from evaluation.calls.backends.rekognition import custom_endpoint, is_aws_endpoint

    assert is_aws_endpoint("https://rekognition.us-east-1.amazonaws.com")
    assert is_aws_endpoint("https://rekognition.cn-north-1.amazonaws.com.cn")
    assert is_aws_endpoint("https://rekognition.us-east-1.api.aws")
    assert not is_aws_endpoint("http://127.0.0.1:8765/.amazonaws.com")  # a local server, whatever its path
    assert custom_endpoint("http://127.0.0.1:8765") == "http://127.0.0.1:8765"
    assert custom_endpoint("https://rekognition.eu-west-1.amazonaws.com") is None
