"""What a run watches besides its answers: botocore's own retries (every throttle counted, no retries
for a connection never made), the leases of its claims on a shared cache, and the errors no image can fix.
"""

from __future__ import annotations

import contextlib
import threading
import uuid
from typing import Any

from botocore.exceptions import ClientError

from evaluation.calls.backends.base import Backend
from evaluation.calls.cache import CacheError, ResponseCache
from evaluation.errors import UserError

RETRYABLE_CODES = frozenset(
    {
        "ThrottlingException",
        "ProvisionedThroughputExceededException",
        "InternalServerError",
        "ServiceUnavailableException",
        "RequestTimeout",
        "RequestTimeoutException",
    }
)


def is_retryable(exc: BaseException) -> bool:
    """Throttling, 5xx and dropped or timed-out connections are worth another try; nothing else is."""
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return code in RETRYABLE_CODES or int(status or 0) >= 500
    from botocore.exceptions import ConnectionError as BotoConnectionError
    from botocore.exceptions import HTTPClientError

    return isinstance(exc, (BotoConnectionError, HTTPClientError))


THROTTLING_CODES = frozenset({"ThrottlingException", "ProvisionedThroughputExceededException"})


class Heartbeat:
    """Renews this run's claims while it lives, so only a dead run's claims expire."""

    def __init__(self, cache: ResponseCache, owner: str, lease_s: float) -> None:
        self._stop = threading.Event()

        def beat() -> None:
            while not self._stop.wait(lease_s / 3):
                with contextlib.suppress(CacheError):  # an unwritable cache stops the run elsewhere
                    cache.renew(owner, lease_s=lease_s)

        self._thread = threading.Thread(target=beat, name="rekognition-eval-lease", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


class ClientWatch:
    """botocore's own retries, seen through the client's event hooks.

    Every throttled attempt is counted (botocore retries most of them inside one call, where the
    runner never sees them), and before any answer has come a connection that cannot be made is not
    retried by botocore: the run stops at once with one line instead of after a minute of backoff.
    """

    def __init__(self, backend: Backend, *, count: Any, got_answer: threading.Event) -> None:
        client = getattr(backend, "client", None)
        self._events = getattr(getattr(client, "meta", None), "events", None)
        self.counts_throttles = self._events is not None
        self._id = f"rekognition-eval-watch-{uuid.uuid4().hex}"
        self._count = count
        self._got_answer = got_answer
        if self._events is not None:
            self._events.register_first("needs-retry.rekognition", self._needs_retry, unique_id=self._id)

    def _needs_retry(self, response: Any = None, caught_exception: Any = None, **_: Any) -> None:
        if response is not None:
            parsed = response[1] if isinstance(response, tuple) and len(response) > 1 else {}
            code = (parsed or {}).get("Error", {}).get("Code", "")
            if code in THROTTLING_CODES:
                self._count(throttled=1)
        if caught_exception is not None and stops_the_run(caught_exception, self._got_answer):
            raise caught_exception

    def close(self) -> None:
        if self._events is not None:
            self._events.unregister("needs-retry.rekognition", unique_id=self._id)
            self._events = None


def stops_the_run(exc: BaseException, got_answer: threading.Event) -> bool:
    """No credentials at all, or no connection before any answer: no image can fix it, stop at once."""
    from botocore.exceptions import EndpointConnectionError, NoCredentialsError, PartialCredentialsError

    if isinstance(exc, (NoCredentialsError, PartialCredentialsError)):
        return True
    return isinstance(exc, EndpointConnectionError) and not got_answer.is_set()


# Errors that say the endpoint, the credentials or the operation are wrong, not the image: when the first
# calls all fail with them, every other call would too, so the run stops instead of failing each image.
SETUP_ERROR_CODES = frozenset(
    {
        "EndpointConnectionError",
        "ConnectTimeoutError",
        "ConnectionClosedError",
        "UnknownOperationException",
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "ExpiredTokenException",
        "AccessDeniedException",
        "NoCredentialsError",
    }
)
SETUP_FAILURES_TO_STOP = 8


class SetupFailure(UserError):
    """The first calls all failed in a way no image can fix; nothing more is called."""

    def __init__(self, count: int, first_reason: str, *, at_once: bool = False) -> None:
        if at_once:
            message = (
                f"stopped at the first call: {first_reason}; this is not about the images: check "
                "--endpoint-url, the region and the credentials (answers already stored are kept)"
            )
        else:
            message = (
                f"the first {count} calls all failed, e.g. {first_reason}; this is not about the images: "
                "check --endpoint-url, the region, the credentials and the operation (answers already "
                "stored are kept)"
            )
        super().__init__(message)
