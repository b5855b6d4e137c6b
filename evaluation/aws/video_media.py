"""Videos as Rekognition Video reads them: S3 objects checked (HeadObject), their durations (for the
per-minute cost), and local videos uploaded to the stack's bucket.

Durations come from the S3 object's metadata (x-amz-meta-duration-ms, or x-amz-meta-duration in
seconds) when present, else from the file with PyAV: FFmpeg's demuxers for MP4, MOV and AVI (the three
formats the service takes) in a wheel, reading a file-like object, so an S3 video is read through ranged
GETs and only its container index is downloaded.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from evaluation.datasets import Dataset
from evaluation.errors import UserError
from evaluation.images import ImageRef

__all__ = [
    "VIDEO_EXTENSIONS",
    "VideoObject",
    "durations",
    "head_video",
    "minutes_of",
    "upload_local_videos",
    "video_duration_ms",
]

VIDEO_EXTENSIONS = (".mp4", ".mov", ".avi")  # the Video shape's documented formats
MAX_VIDEO_BYTES = 10 * 1024**3  # 10 GB (VideoTooLargeException)
DURATION_METADATA = ("duration-ms", "duration")  # x-amz-meta-duration-ms (ms), x-amz-meta-duration (s)


@dataclass(frozen=True)
class VideoObject:
    """A video in S3 as the service will read it."""

    uri: str
    bucket: str
    key: str
    etag: str
    size: int
    version: str | None
    metadata: dict[str, str]

    @property
    def video_id(self) -> str:
        """The identity of the content: URI, ETag (and version): a changed object is another video."""
        return f"{self.uri}#etag={self.etag}" + (f"&version={self.version}" if self.version else "")

    def s3_object(self) -> dict[str, str]:
        return {
            "Bucket": self.bucket,
            "Name": self.key,
            **({"Version": self.version} if self.version else {}),
        }


def head_video(uri: str, s3_client: Any) -> VideoObject:
    """HeadObject of an s3:// video; ValueError with the reason the service would refuse it."""
    bucket, _, key = uri[5:].partition("/")
    if not key.lower().endswith(VIDEO_EXTENSIONS):
        raise ValueError(f"not a video Rekognition reads (it takes {', '.join(VIDEO_EXTENSIONS)})")
    try:
        head = s3_client.head_object(Bucket=bucket, Key=key)
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        raise ValueError(f"cannot read the S3 object ({code or error})") from None
    size = int(head.get("ContentLength", 0))
    if size > MAX_VIDEO_BYTES:
        raise ValueError(f"{size / 1024**3:.1f} GB, over the service's 10 GB a video")
    if size == 0:
        raise ValueError("the S3 object is empty")
    return VideoObject(
        uri,
        bucket,
        key,
        str(head.get("ETag", "")).strip('"'),
        size,
        head.get("VersionId") or None,
        {str(k).lower(): str(v) for k, v in (head.get("Metadata") or {}).items()},
    )


# --------------------------------------------------------------------------------------- durations


def video_duration_ms(video: VideoObject | Path, s3_client: Any = None) -> tuple[float | None, str]:
    """The video's duration and where it came from: S3 metadata, else the container read by PyAV."""
    if isinstance(video, VideoObject):
        for name in DURATION_METADATA:
            value = video.metadata.get(name)
            try:
                if value is not None and float(value) > 0:
                    return float(value) * (1.0 if name == "duration-ms" else 1000.0), f"x-amz-meta-{name}"
            except ValueError:
                pass
        source: Any = _S3RangeReader(s3_client, video.bucket, video.key, video.size, video.version)
    else:
        source = str(video)
    try:
        import av
    except ImportError:
        return (
            None,
            "no duration in the S3 metadata and PyAV is not installed "
            "(pip install 'rekognition-eval[video]')",
        )
    try:
        with av.open(source, mode="r") as container:
            if container.duration:
                return container.duration / 1000.0, "container (PyAV)"
            streams = [s for s in container.streams if s.duration and s.time_base]
            if streams:
                return max(float(s.duration * s.time_base) for s in streams) * 1000.0, "streams (PyAV)"
    except (av.FFmpegError, OSError, ClientError) as error:
        return None, f"cannot read the duration: {error}"
    return None, "the container states no duration"


class _S3RangeReader(io.RawIOBase):
    """A seekable, read-only file over an S3 object by ranged GETs: a demuxer reads only what it needs
    (an MP4's moov box, an AVI's header), not the whole video."""

    def __init__(self, s3_client: Any, bucket: str, key: str, size: int, version: str | None) -> None:
        self.client, self.bucket, self.key, self.size, self.version = s3_client, bucket, key, size, version
        self.position = 0
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: self.size}[whence]
        self.position = max(0, base + offset)
        return self.position

    def readinto(self, buffer: Any) -> int:
        if self.position >= self.size or not len(buffer):
            return 0
        end = min(self.size, self.position + len(buffer)) - 1
        extra = {"VersionId": self.version} if self.version else {}
        body = self.client.get_object(
            Bucket=self.bucket, Key=self.key, Range=f"bytes={self.position}-{end}", **extra
        )["Body"].read()
        buffer[: len(body)] = body
        self.position += len(body)
        self.bytes_read += len(body)
        return len(body)


def minutes_of(durations_ms: Sequence[float | None]) -> float:
    """Minutes of video (how the service rounds a video's minutes is not documented: none here)."""
    return sum(d for d in durations_ms if d) / 60000.0


# ------------------------------------------------------------------------------------------- upload


def upload_local_videos(dataset: Dataset, s3_client: Any, prefix: str) -> tuple[Dataset, list[str]]:
    """Copy the dataset's local videos to `prefix` (s3://bucket/datasets/videos/), content-addressed:
    s3://.../<sha256 first 16>/<file name>, with the duration in x-amz-meta-duration-ms when PyAV reads
    it. An object already there with the same size is not sent again. Returns the dataset with S3 URIs."""
    bucket, _, base = prefix[5:].partition("/")
    base = base.rstrip("/") + "/" if base else ""
    items, sent = [], []
    for item in dataset.items:
        if item.image.is_s3:
            items.append(item)
            continue
        path = Path(item.image.uri)
        if path.suffix.lower() not in VIDEO_EXTENSIONS:
            raise UserError(f"{path}: not a video Rekognition reads ({', '.join(VIDEO_EXTENSIONS)})")
        digest = _sha256(path)
        key = f"{base}{digest[:16]}/{path.name}"
        try:
            head = s3_client.head_object(Bucket=bucket, Key=key)
            present = int(head.get("ContentLength", -1)) == path.stat().st_size
        except ClientError:
            present = False
        if not present:
            duration, _ = video_duration_ms(path)
            metadata = {"sha256": digest, **({"duration-ms": f"{duration:.0f}"} if duration else {})}
            try:
                with path.open("rb") as body:
                    s3_client.upload_fileobj(body, bucket, key, ExtraArgs={"Metadata": metadata})
            except (ClientError, BotoCoreError) as error:
                raise UserError(f"cannot upload {path} to s3://{bucket}/{key}: {error}") from None
            sent.append(f"s3://{bucket}/{key}")
        items.append(replace(item, image=ImageRef(f"s3://{bucket}/{key}")))
    return replace(dataset, items=items), sent


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def durations(
    videos: Sequence[VideoObject | None], s3_client: Any, wanted: Sequence[int]
) -> tuple[list[float | None], list[str]]:
    """The duration of each wanted video (the others: None), and where each came from."""
    found: list[float | None] = [None] * len(videos)
    sources = [""] * len(videos)
    for index in wanted:
        video = videos[index]
        if video is not None:
            found[index], sources[index] = video_duration_ms(video, s3_client)
    return found, sources
