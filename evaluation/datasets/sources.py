"""Where a dataset file lives (a local path or an S3 object) and how paths written inside it resolve.

Kept apart from the format readers so each reader parses text and never touches boto3 or the disk.
"""

from __future__ import annotations

import os
import posixpath
import stat
from pathlib import Path, PurePosixPath
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from evaluation.errors import DatasetError
from evaluation.images import ImageRef

__all__ = [
    "dataset_name",
    "folder_of",
    "is_s3_uri",
    "read_text",
    "resolve_image",
    "split_lines",
    "split_s3_uri",
]

_NOT_FOUND_CODES = {"NoSuchKey", "NoSuchBucket", "404", "NotFound"}


def is_s3_uri(source: str) -> bool:
    return source[:5].lower() == "s3://"


def split_s3_uri(uri: str) -> tuple[str, str]:
    """("bucket", "key/or/prefix") from an s3:// URI; the key may be empty."""
    bucket, _, key = uri[5:].partition("/")
    if not bucket:
        raise DatasetError(f"not an S3 URI (s3://bucket/key): {uri!r}")
    return bucket, key


# File names that say nothing about the data: a run named after them is named after their folder too.
GENERIC_STEMS = frozenset(
    {
        "manifest",
        "output",
        "data",
        "dataset",
        "labels",
        "annotations",
        "ground_truth",
        "groundtruth",
        "test",
        "train",
        "validation",
        "val",
        "images",
        "instances",
    }
)


def dataset_name(source: str) -> str:
    """A short name for report folders: the file's stem (with its folder's name when the stem is as
    generic as `manifest` or `test`), or the folder's (or bucket's) name."""
    if is_s3_uri(source):
        bucket, key = split_s3_uri(source)
        key = key.rstrip("/")
        if not key:
            return bucket
        if source.endswith("/"):
            return PurePosixPath(key).name
        return _with_folder(PurePosixPath(key).stem, PurePosixPath(key).parent.name or bucket)
    path = Path(source)
    if path.is_dir():
        return path.resolve().name
    return _with_folder(path.stem, path.resolve().parent.name)


def _with_folder(stem: str, folder: str) -> str:
    return f"{folder}-{stem}" if stem.lower() in GENERIC_STEMS and folder else stem


def folder_of(source: str) -> str:
    """The folder that relative image paths in `source` resolve against: a local directory or an S3 prefix."""
    if is_s3_uri(source):
        bucket, key = split_s3_uri(source)
        prefix = key.rsplit("/", 1)[0] + "/" if "/" in key else ""
        return f"s3://{bucket}/{prefix}"
    return str(Path(source).expanduser().resolve().parent)


def resolve_image(text: str, folder: str) -> ImageRef:
    """An ImageRef for a path as written in a dataset; ValueError with a one-line problem if it cannot be.

    s3:// URIs stand as they are (the scheme in any case). Relative paths resolve against `folder`, a local
    directory or an S3 prefix, so a manifest stored next to its images in S3 works unchanged. Backslashes
    in relative paths are read as folder separators, because CSV files are often written on Windows.
    """
    text = text.strip()
    if not text:
        raise ValueError("empty image path")
    scheme, sep, rest = text.partition("://")
    if sep:
        if scheme.lower() != "s3":
            raise ValueError(f"{text!r}: only s3:// URIs and file paths are supported, not {scheme}://")
        return ImageRef("s3://" + rest)
    relative = not (text.startswith(("/", "~")) or Path(text).is_absolute())
    if relative:
        text = text.replace("\\", "/")
    if is_s3_uri(folder) and relative:
        bucket, prefix = split_s3_uri(folder)
        key = posixpath.normpath(posixpath.join(prefix, text))
        if key == ".." or key.startswith("../"):
            raise ValueError(f"{text!r} points above the root of bucket {bucket}")
        return ImageRef(f"s3://{bucket}/{key}")
    return ImageRef.from_text(text, None if is_s3_uri(folder) else Path(folder))


def split_lines(text: str) -> list[str]:
    """The lines of a dataset file, each with its "\n" (or "\r\n"): split at "\n" only.

    Not `str.splitlines()`, which also splits at U+2028, U+2029, U+0085, \x0b, \x0c and \x1c-\x1e:
    characters a label or a path may hold, so a row would be cut in two and every later line number
    shifted. Files with old Mac "\r"-only line ends are read as one line.
    """
    lines = text.split("\n")
    kept = [line + "\n" for line in lines[:-1]]
    if lines[-1]:
        kept.append(lines[-1])
    return kept


# A dataset file is read whole; more than this is not a dataset file (or is /dev/zero or a stream that
# never ends), and reading it would only exhaust memory. A million-image manifest is about 300 MB.
MAX_DATASET_BYTES = 4 * 1024**3


def read_text(source: str, s3_client: Any = None) -> str:
    """The whole text of a local file or an S3 object, as UTF-8 (a byte-order mark is dropped)."""
    if is_s3_uri(source):
        data = _read_s3(source, s3_client)
    else:
        path = Path(source).expanduser()
        if path.is_dir():
            raise DatasetError(
                f"{source} is a folder; pass --format folders (dataset_format='folders' in Python) "
                "to read it as one"
            )
        data = _read_local(path, source)
    return decode_text(data, source)


def _read_local(path: Path, source: str) -> bytes:
    """A local dataset file's bytes: a regular file, or a pipe (`--dataset <(...)`), read with a bound."""
    try:
        mode = os.stat(path).st_mode
        if not (stat.S_ISREG(mode) or stat.S_ISFIFO(mode)):
            raise DatasetError(f"{source} is not a regular file (a device or a socket): not read")
        with path.open("rb") as stream:
            data = stream.read(MAX_DATASET_BYTES + 1)
    except FileNotFoundError:
        raise DatasetError(f"dataset not found: {source}") from None
    except OSError as err:
        raise DatasetError(f"cannot read {source}: {err.strerror or err}") from err
    if len(data) > MAX_DATASET_BYTES:
        raise DatasetError(f"{source}: more than {MAX_DATASET_BYTES // 1024**3} GB: not a dataset file")
    return data


def decode_text(data: bytes, source: str) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise DatasetError(f"{source}: the file is UTF-16; save it as UTF-8")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise DatasetError(f"{source}:{line}: not UTF-8 text ({err.reason} at byte {err.start})") from err


def default_s3_client(s3_client: Any) -> Any:
    """The given client, or a default one made only when an S3 source is actually read."""
    if s3_client is not None:
        return s3_client
    import boto3

    return boto3.client("s3")


def describe_client_error(err: ClientError | BotoCoreError) -> str:
    if isinstance(err, ClientError):
        error = err.response.get("Error", {})
        return f"{error.get('Code', 'error')}: {error.get('Message', '') or err}"
    return str(err)


def is_not_found(err: ClientError) -> bool:
    return str(err.response.get("Error", {}).get("Code")) in _NOT_FOUND_CODES


def _read_s3(uri: str, s3_client: Any) -> bytes:
    bucket, key = split_s3_uri(uri)
    if not key:
        raise DatasetError(f"{uri} names a bucket, not an object")
    client = default_s3_client(s3_client)
    try:
        return client.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as err:
        if is_not_found(err):
            raise DatasetError(f"dataset not found: {uri} ({describe_client_error(err)})") from err
        raise DatasetError(f"cannot read {uri}: GetObject failed: {describe_client_error(err)}") from err
    except BotoCoreError as err:
        raise DatasetError(f"cannot read {uri}: {err}") from err
