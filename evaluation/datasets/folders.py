"""Folder datasets: `root/<label>/<images>`, locally or under an S3 prefix.

The name of a folder directly under the root is the label of every image below it, at any depth (so a
label folder may keep its own sub-folders). Images directly in the root have no labels: negatives.
Hidden files and folders (a leading "."), `__MACOSX` folders and `Thumbs.db` / `desktop.ini` are skipped.

Files with an image extension are all kept, including formats Rekognition refuses (webp, gif, bmp, tiff,
heic...): the image checks reject them later with a reason, so none vanish without one. Files with other
extensions are not images: they are listed in `Dataset.ignored_files`, and never stop a load, since a
README or a notes file beside the images is normal.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from evaluation.datasets.entries import Entry, Ignored, ReaderOutput
from evaluation.datasets.sources import default_s3_client, describe_client_error, is_not_found, split_s3_uri
from evaluation.datasets.types import DatasetItem
from evaluation.errors import DatasetError
from evaluation.images import ImageRef

__all__ = ["IMAGE_EXTENSIONS", "read_local_folders", "read_s3_folders"]

IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff", ".heic", ".heif"}
)
_JUNK_FILES = frozenset({"thumbs.db", "desktop.ini"})
_JUNK_FOLDERS = frozenset({"__macosx"})


def read_local_folders(root: Path) -> Iterator[ReaderOutput]:
    """Walk `root` (symlinked folders followed once); items come in the order of their relative paths,
    as S3 lists keys, so the order is reproducible and the same for a local copy of an S3 dataset."""
    root = root.expanduser()
    if not root.is_dir():
        raise DatasetError(f"{root} is not a folder")
    found: list[tuple[str, ReaderOutput]] = []
    seen: set[str] = set()
    for folder, dirnames, filenames in os.walk(root, followlinks=True, onerror=_raise_walk_error):
        real = os.path.realpath(folder)
        if real in seen:  # a symlink loop, or two links to the same folder
            dirnames[:] = []
            continue
        seen.add(real)
        dirnames[:] = [name for name in dirnames if not _skipped_folder(name)]
        relative = Path(folder).relative_to(root).parts
        for filename in filenames:
            output = _entry([*relative, filename], Path(folder, filename))
            if output is not None:
                found.append(("/".join([*relative, filename]), output))
    found.sort(key=lambda pair: pair[0])
    for _, output in found:
        yield output


def read_s3_folders(uri: str, *, s3_client: Any = None) -> Iterator[ReaderOutput]:
    """List the objects under an s3:// prefix and read their keys as `<label>/<...>/<image>`."""
    bucket, prefix = split_s3_uri(uri)
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    client = default_s3_client(s3_client)
    try:
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        keys = sorted(obj["Key"] for page in pages for obj in page.get("Contents", []))
    except ClientError as err:
        if is_not_found(err):
            raise DatasetError(f"dataset not found: {uri} ({describe_client_error(err)})") from err
        raise DatasetError(f"cannot list {uri}: ListObjectsV2 failed: {describe_client_error(err)}") from err
    except BotoCoreError as err:
        raise DatasetError(f"cannot list {uri}: {err}") from err
    for key in keys:
        relative = key[len(prefix) :]
        if not relative or relative.endswith("/"):  # the console's "folder" marker objects
            continue
        parts = relative.split("/")
        if any(_skipped_folder(part) for part in parts[:-1]):
            continue
        output = _entry(parts, f"s3://{bucket}/{key}")
        if output is not None:
            yield output


def _entry(parts: Sequence[str], location: Path | str) -> ReaderOutput | None:
    """The item for one file, given its path parts below the root; None for files to skip silently."""
    filename = parts[-1]
    if filename.startswith(".") or filename.lower() in _JUNK_FILES:
        return None
    display = str(location)
    extension = os.path.splitext(filename)[1].lower()
    if extension not in IMAGE_EXTENSIONS:
        return Ignored(display)
    labels = frozenset(parts[:1]) if len(parts) > 1 else frozenset()
    image = ImageRef(display) if isinstance(location, str) else ImageRef(str(location.resolve()))
    return Entry(DatasetItem(image, labels, display))


def _skipped_folder(name: str) -> bool:
    return name.startswith(".") or name.lower() in _JUNK_FOLDERS


def _raise_walk_error(err: OSError) -> None:
    raise DatasetError(f"cannot read folder {err.filename}: {err.strerror or err}") from err
