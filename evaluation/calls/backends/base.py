"""The small interface every backend implements: what it asks, how it calls, how its answers are keyed."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from evaluation.images import ImageLimits, LoadedImage


class NotCached(Exception):
    """A backend that only replays stored answers was asked for one it does not have."""


@runtime_checkable
class Backend(Protocol):
    name: str
    operation: str
    limits: ImageLimits

    def request_params(self) -> dict[str, Any]:
        """Everything besides the image that changes the answer; part of the cache key."""
        ...

    def call(self, image: LoadedImage) -> dict[str, Any]:
        """One request; returns the raw response. Raises botocore's ClientError on a service error."""
        ...

    def describe(self) -> dict[str, Any]:
        """What a report should say about where answers came from (never credentials)."""
        ...
