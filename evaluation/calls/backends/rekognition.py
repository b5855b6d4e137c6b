"""DetectLabels through boto3, exactly as an application in AWS would call it."""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlsplit

import boto3
from botocore import xform_name
from botocore.config import Config

from evaluation.calls.redact import redact_url
from evaluation.errors import UserError
from evaluation.images import DETECT_LABELS_LIMITS, ImageLimits, LoadedImage

DEFAULT_MAX_ATTEMPTS = 8


def client_config(
    *, max_pool_connections: int = 10, max_attempts: int | None = None, read_timeout: float = 60.0
) -> Config:
    """The one place that sets retries and the connection pool for every Rekognition client.

    botocore's standard retry mode retries throttling, 5xx and connection errors with jittered
    exponential backoff, and never retries InvalidParameter, ImageTooLarge, AccessDenied and the like.
    `max_attempts` counts every attempt, the first included (1: never retried), as AWS_MAX_ATTEMPTS does
    in the AWS SDKs; AWS_MAX_ATTEMPTS in the environment is honoured when no explicit value is given. It
    is passed as botocore's `total_max_attempts`: botocore's own `retries["max_attempts"]` counts the
    retries after the first attempt, so passing the same number there would make one attempt more.
    """
    if max_attempts is None:
        max_attempts = attempts_from_environment()
    if isinstance(max_attempts, bool) or not isinstance(max_attempts, int) or max_attempts < 1:
        raise ValueError(f"max_attempts must be a whole number >= 1 (1: no retry); got {max_attempts!r}")
    return Config(
        retries={"mode": os.environ.get("AWS_RETRY_MODE", "standard"), "total_max_attempts": max_attempts},
        max_pool_connections=max_pool_connections,
        read_timeout=read_timeout,
        user_agent_extra="rekognition-eval",
    )


def attempts_from_environment() -> int:
    """AWS_MAX_ATTEMPTS (every attempt, the first included), else DEFAULT_MAX_ATTEMPTS."""
    text = os.environ.get("AWS_MAX_ATTEMPTS", "").strip()
    if not text:
        return DEFAULT_MAX_ATTEMPTS
    try:
        attempts = int(text)
    except ValueError:
        attempts = 0
    if attempts < 1:
        raise UserError(
            f"AWS_MAX_ATTEMPTS must be a whole number of attempts >= 1 (1: no retry); got {text!r}"
        )
    return attempts


def make_client(
    *,
    session: boto3.Session | None = None,
    region: str | None = None,
    profile: str | None = None,
    endpoint_url: str | None = None,
    max_pool_connections: int = 10,
    max_attempts: int | None = None,
    read_timeout: float = 60.0,
) -> Any:
    """A Rekognition client from the usual AWS settings (profile, region, environment)."""
    if session is None:
        session = boto3.Session(profile_name=profile, region_name=region)
    return session.client(
        "rekognition",
        region_name=region or session.region_name,
        endpoint_url=endpoint_url,
        config=client_config(
            max_pool_connections=max_pool_connections, max_attempts=max_attempts, read_timeout=read_timeout
        ),
    )


class ThroughClient:
    """A backend that calls through a boto3 client (`self.client`)."""

    client: Any

    @property
    def endpoint_url(self) -> str:
        """The endpoint as written anywhere: without credentials (evaluation.calls.redact)."""
        return redact_url(str(self.client.meta.endpoint_url))


class RekognitionLabels(ThroughClient):
    """DetectLabels with a low MinConfidence and MaxLabels 1000: one call answers every threshold above."""

    name = "rekognition"
    operation = "DetectLabels"

    def __init__(
        self,
        client: Any,
        *,
        min_confidence: float = 0.0,
        max_labels: int = 1000,
        limits: ImageLimits = DETECT_LABELS_LIMITS,
        extra: dict[str, Any] | None = None,
    ) -> None:
        if not 0.0 <= min_confidence <= 100.0:
            raise ValueError(f"min_confidence must be within 0-100, got {min_confidence}")
        if not 1 <= max_labels <= 1000:
            raise ValueError(f"max_labels must be within 1-1000, got {max_labels}")
        self.client = client
        self.min_confidence = float(min_confidence)
        self.max_labels = int(max_labels)
        self.limits = limits
        self.extra = dict(extra or {})  # the production request's Features and Settings, sent as given

    def request_params(self) -> dict[str, Any]:
        return detect_labels_params(
            min_confidence=self.min_confidence,
            max_labels=self.max_labels,
            endpoint=custom_endpoint(self.endpoint_url),  # a local server's answers never pass for AWS's
            extra=self.extra,
        )

    def call(self, image: LoadedImage) -> dict[str, Any]:
        return self.client.detect_labels(
            Image=image_argument(image),
            MinConfidence=self.min_confidence,
            MaxLabels=self.max_labels,
            **self.extra,
        )

    def describe(self) -> dict[str, Any]:
        return {
            "backend": self.name,
            "operation": self.operation,
            "region": self.client.meta.region_name,
            "endpoint_url": self.endpoint_url,
            "min_confidence": self.min_confidence,
            "max_labels": self.max_labels,
            **({"request": self.extra} if self.extra else {}),
        }


def detect_labels_params(
    *, min_confidence: float, max_labels: int, endpoint: str | None, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The cache-key parameters of a DetectLabels call; shared with replay so both find the same answers.

    `extra` (the production request's Features and Settings) joins the key only when given, so the keys
    of runs without a request file stay what they always were.
    """
    params: dict[str, Any] = {"MinConfidence": float(min_confidence), "MaxLabels": int(max_labels)}
    params.update(extra or {})
    if endpoint:
        params["Endpoint"] = endpoint
    return params


class RekognitionCall(ThroughClient):
    """Any other image operation (DetectModerationLabels, DetectText, DetectFaces) through the same client.

    What it asks is the operation's business (evaluation.operations): `params` is every request parameter
    besides the image, sent as given and part of the cache key with the API's name, so each operation's
    answers, and each choice of parameters, are cached apart.
    """

    name = "rekognition"

    def __init__(self, client: Any, *, operation: str, params: dict[str, Any], limits: ImageLimits) -> None:
        self.client = client
        self.operation = operation
        self.params = dict(params)
        self.limits = limits

    def request_params(self) -> dict[str, Any]:
        return operation_params(self.params, endpoint=custom_endpoint(self.endpoint_url))

    def call(self, image: LoadedImage) -> dict[str, Any]:
        method = getattr(self.client, xform_name(self.operation))
        return method(Image=image_argument(image), **self.params)

    def describe(self) -> dict[str, Any]:
        return {
            "backend": self.name,
            "operation": self.operation,
            "region": self.client.meta.region_name,
            "endpoint_url": self.endpoint_url,
            "request": self.params,
        }


def image_argument(image: LoadedImage) -> dict[str, Any]:
    """Local images go as bytes, S3 images by reference (the service reads them; never downloaded)."""
    if image.ref.is_s3:
        return {"S3Object": {"Bucket": image.ref.bucket, "Name": image.ref.key}}
    return {"Bytes": image.data}


AWS_HOST_SUFFIXES = (".amazonaws.com", ".amazonaws.com.cn", ".api.aws")


def is_aws_endpoint(url: str) -> bool:
    """AWS's own endpoint (billed, quota-limited) by its host name, not by text anywhere in the URL."""
    host = (urlsplit(url).hostname or "").lower()
    return host.endswith(AWS_HOST_SUFFIXES)


def custom_endpoint(url: str | None) -> str | None:
    """A non-AWS endpoint's URL as the cache key holds it (no credentials), None for AWS's own.

    `rekognition` and `replay` both key through here, so replay given the same --endpoint-url finds
    what a run through it stored, whatever the spelling of its credentials.
    """
    if not url or is_aws_endpoint(url):
        return None
    return redact_url(url)


def operation_params(params: dict[str, Any], *, endpoint: str | None) -> dict[str, Any]:
    """The cache-key parameters of any operation's call; shared with replay so both find the same answers."""
    return {**params, "Endpoint": endpoint} if endpoint else dict(params)
