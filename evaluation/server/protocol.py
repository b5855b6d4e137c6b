"""A small HTTP server that speaks Rekognition's JSON 1.1 protocol on localhost.

boto3 pointed at it with `endpoint_url` cannot tell it from the service: `POST /` with the header
`X-Amz-Target: RekognitionService.<Operation>`, a JSON body (image bytes base64-encoded), JSON answers,
and errors as `{"__type": "<Code>", "message": ...}` with the service's status codes. What it answers
is up to a handler, so the same server backs test doubles, benchmarks and offline development.
It never listens beyond the loopback address unless told to, never reads a body larger than the
largest request the API takes (413, as a web front answers), and closes a connection that stays idle.
"""

from __future__ import annotations

import base64
import json
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from evaluation.calls.ratelimit import TokenBucket

TARGET_PREFIX = "RekognitionService."
CONTENT_TYPE = "application/x-amz-json-1.1"
# The largest request Rekognition takes carries two images of 5 MB as base64 (CompareFaces: source and
# target), plus the JSON around them: a bigger body is refused before a byte of it is read.
IMAGE_BYTES_LIMIT = 5 * 1024 * 1024
MAX_BODY_BYTES = 2 * 4 * math.ceil(IMAGE_BYTES_LIMIT / 3) + 64 * 1024
IDLE_TIMEOUT_S = 60.0  # a connection that sends nothing for this long is closed


class ServiceError(Exception):
    """An error answered the way Rekognition answers it."""

    def __init__(self, code: str, message: str = "", status: int = 400) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status


class RawAnswer(bytes):
    """A handler's answer sent verbatim with status 200: a misbehaving service's body (not JSON, say)."""


class DropConnection(Exception):
    """Raised by a handler to close the connection without an answer, as a network failure would."""


Handler = Callable[[str, dict[str, Any]], dict[str, Any]]


def decode_image_bytes(request: dict[str, Any]) -> bytes | None:
    """The image of a request as bytes (None for an S3Object reference); errors as the service has them."""
    image = request.get("Image")
    if not isinstance(image, dict):
        raise ServiceError("InvalidParameterException", "Request has invalid parameters: Image is required")
    if "Bytes" in image:
        try:
            data = base64.b64decode(image["Bytes"], validate=True)
        except (ValueError, TypeError):
            raise ServiceError("InvalidParameterException", "Image.Bytes is not valid base64") from None
        if not data:
            raise ServiceError("InvalidParameterException", "Image.Bytes is empty")
        return data
    if "S3Object" in image:
        return None
    raise ServiceError("InvalidParameterException", "Image must have Bytes or S3Object")


@dataclass
class ServerStats:
    requests: int = 0
    answered: int = 0
    throttled: int = 0
    errors: int = 0
    by_operation: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count(self, attribute: str, operation: str | None = None) -> None:
        with self.lock:
            setattr(self, attribute, getattr(self, attribute) + 1)
            if operation is not None:
                self.by_operation[operation] = self.by_operation.get(operation, 0) + 1


class RekognitionProtocolServer:
    """Serve `handler(operation, request) -> response` over Rekognition's protocol on a local port."""

    def __init__(
        self,
        handler: Handler,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        tps_limit: float | None = None,
        burst: float | None = None,
        latency_s: float = 0.0,
        max_body_bytes: int = MAX_BODY_BYTES,
        idle_timeout_s: float | None = IDLE_TIMEOUT_S,
    ) -> None:
        self.handler = handler
        self.max_body_bytes = max_body_bytes
        self.stats = ServerStats()
        self.latency_s = latency_s
        self.bucket = TokenBucket(tps_limit, burst=burst) if tps_limit else None
        server = self

        class _RequestHandler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = idle_timeout_s  # every read of the socket: an idle or stalled client is let go

            def log_message(self, format: str, *args: Any) -> None:  # quiet by default
                return

            def do_POST(self) -> None:
                server._serve(self)

        self._httpd = ThreadingHTTPServer((host, port), _RequestHandler)
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> RekognitionProtocolServer:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="rekognition-protocol", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> RekognitionProtocolServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def serve_forever(self) -> None:
        self._httpd.serve_forever()

    def _serve(self, request: BaseHTTPRequestHandler) -> None:
        self.stats.count("requests")
        try:
            length = int(request.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > self.max_body_bytes:
            self.stats.count("errors")
            request.close_connection = True  # the body is never read, so the connection cannot go on
            status, code = (413, "ImageTooLargeException") if length > 0 else (400, "SerializationException")
            message = (
                f"Request body of {length} bytes is over the limit of {self.max_body_bytes} bytes"
                if length > 0
                else "Content-Length is not a byte count"
            )
            self._reply(request, status, {"__type": code, "message": message}, code)
            return
        try:
            body = request.rfile.read(length) if length else b""
        except (TimeoutError, OSError):  # a client that stops sending mid-body
            self.stats.count("errors")
            request.close_connection = True
            return
        if len(body) < length:  # the client closed before the whole body came
            self.stats.count("errors")
            request.close_connection = True
            return
        target = request.headers.get("X-Amz-Target", "")
        try:
            if not target.startswith(TARGET_PREFIX):
                raise ServiceError("UnknownOperationException", f"unknown target {target!r}")
            operation = target[len(TARGET_PREFIX) :]
            if self.bucket is not None and not self.bucket.try_take():
                self.stats.count("throttled")
                raise ServiceError("ThrottlingException", "Rate exceeded")
            try:
                payload = json.loads(body or b"{}")
            except ValueError:
                raise ServiceError("SerializationException", "request body is not JSON") from None
            if not isinstance(payload, dict):
                raise ServiceError("SerializationException", "request body must be a JSON object")
            if self.latency_s:
                time.sleep(self.latency_s)
            answer = self.handler(operation, payload)
        except DropConnection:
            self.stats.count("errors")
            request.close_connection = True
            return
        except ServiceError as error:
            if error.code != "ThrottlingException":
                self.stats.count("errors")
            self._reply(request, error.status, {"__type": error.code, "message": error.message}, error.code)
            return
        except Exception as exc:  # a bug in a handler is the server's 500, as the service's would be
            self.stats.count("errors")
            self._reply(
                request, 500, {"__type": "InternalServerError", "message": str(exc)}, "InternalServerError"
            )
            return
        self.stats.count("answered", operation)
        self._reply(request, 200, answer, None)

    @staticmethod
    def _reply(
        request: BaseHTTPRequestHandler, status: int, payload: dict[str, Any] | RawAnswer, error: str | None
    ) -> None:
        data = bytes(payload) if isinstance(payload, RawAnswer) else json.dumps(payload).encode("utf-8")
        request.send_response(status)
        request.send_header("Content-Type", CONTENT_TYPE)
        request.send_header("Content-Length", str(len(data)))
        request.send_header("x-amzn-RequestId", "00000000-0000-0000-0000-000000000000")
        if error:
            request.send_header("x-amzn-ErrorType", error)
        request.end_headers()
        request.wfile.write(data)
