"""Where an image lives: a local file or an S3 object.

Everything else (reading bytes, hashing, checks against an operation's limits) takes an ImageRef, so a
dataset reader never needs to know how an image will be sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, order=True)
class ImageRef:
    """A local absolute path or an ``s3://bucket/key`` URI."""

    uri: str

    def __post_init__(self) -> None:
        if not self.uri:
            raise ValueError("ImageRef needs a non-empty uri")
        if self.uri.startswith("s3://"):
            bucket, _, key = self.uri[5:].partition("/")
            if not bucket or not key:
                raise ValueError(f"not an S3 object URI (s3://bucket/key): {self.uri!r}")

    @classmethod
    def from_text(cls, text: str, base_dir: Path | None = None) -> ImageRef:
        """Resolve a path as written in a dataset: s3:// URIs as they are, relative paths from base_dir."""
        text = text.strip()
        if text.startswith("s3://"):
            return cls(text)
        path = Path(text).expanduser()
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        return cls(str(path.resolve()))

    @property
    def is_s3(self) -> bool:
        return self.uri.startswith("s3://")

    @property
    def bucket(self) -> str:
        self._require_s3()
        return self.uri[5:].partition("/")[0]

    @property
    def key(self) -> str:
        self._require_s3()
        return self.uri[5:].partition("/")[2]

    @property
    def path(self) -> Path:
        if self.is_s3:
            raise ValueError(f"{self.uri} is an S3 object, not a local file")
        return Path(self.uri)

    @property
    def name(self) -> str:
        return self.uri.rsplit("/", 1)[-1]

    def _require_s3(self) -> None:
        if not self.is_s3:
            raise ValueError(f"{self.uri} is a local file, not an S3 object")

    def __str__(self) -> str:
        return self.uri
