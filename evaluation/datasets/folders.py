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

import dataclasses
import hashlib
import logging
import os
import stat
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from evaluation.datasets.entries import Entry, Ignored, Notice, ReaderOutput
from evaluation.datasets.sources import default_s3_client, describe_client_error, is_not_found, split_s3_uri
from evaluation.datasets.types import BadLine, DatasetItem
from evaluation.errors import DatasetError
from evaluation.images import ImageRef, local_file_problem

log = logging.getLogger(__name__)

__all__ = ["IMAGE_EXTENSIONS", "read_local_folders", "read_s3_folders"]

IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff", ".heic", ".heif"}
)
_JUNK_FILES = frozenset({"thumbs.db", "desktop.ini"})
_JUNK_FOLDERS = frozenset({"__macosx"})


def read_local_folders(root: Path) -> Iterator[ReaderOutput]:
    """Walk `root` (symlinked folders followed once); items come in the order of their relative paths,
    as S3 lists keys, so the order is reproducible and the same for a local copy of an S3 dataset.

    The same image in two label folders (the same file through links, or copies with the same bytes)
    is one item with both labels, in the place of its first path."""
    root = root.expanduser()
    if not root.is_dir():
        raise DatasetError(f"{root} is not a folder")
    found: list[tuple[tuple[str, ...], Path]] = []
    top_folders: list[str] = []
    seen: set[str] = set()
    for folder, dirnames, filenames in os.walk(root, followlinks=True, onerror=_raise_walk_error):
        real = os.path.realpath(folder)
        if real in seen:  # a symlink loop, or two links to the same folder
            dirnames[:] = []
            continue
        seen.add(real)
        dirnames[:] = [name for name in dirnames if not _skipped_folder(name)]
        relative = Path(folder).relative_to(root).parts
        if not relative:
            top_folders = list(dirnames)
        for filename in filenames:
            found.append(((*relative, filename), Path(folder, filename)))
    found.sort(key=lambda pair: "/".join(pair[0]))
    outputs = [(parts, output) for parts, path in found if (output := _entry(parts, path)) is not None]
    yield from _merged([output for _, output in outputs], _local_content_keys)
    yield from _layout_notices(
        str(root), [parts for parts, output in outputs if isinstance(output, Entry)], top_folders
    )


def read_s3_folders(uri: str, *, s3_client: Any = None) -> Iterator[ReaderOutput]:
    """List the objects under an s3:// prefix and read their keys as `<label>/<...>/<image>`.

    Objects with the same ETag and size (the same bytes) in two label folders are one item with both
    labels."""
    bucket, prefix = split_s3_uri(uri)
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    client = default_s3_client(s3_client)
    try:
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        objects = sorted(
            (
                (obj["Key"], (obj.get("ETag"), obj.get("Size")))
                for page in pages
                for obj in page.get("Contents", [])
            ),
            key=lambda pair: pair[0],
        )
    except ClientError as err:
        if is_not_found(err):
            raise DatasetError(f"dataset not found: {uri} ({describe_client_error(err)})") from err
        raise DatasetError(f"cannot list {uri}: ListObjectsV2 failed: {describe_client_error(err)}") from err
    except BotoCoreError as err:
        raise DatasetError(f"cannot list {uri}: {err}") from err
    content: dict[str, str] = {}
    outputs: list[tuple[list[str], ReaderOutput]] = []
    top_folders: set[str] = set()
    for key, (etag, size) in objects:
        relative = key[len(prefix) :]
        parts = relative.split("/")
        if len(parts) > 1 and not _skipped_folder(parts[0]):
            top_folders.add(parts[0])
        if not relative or relative.endswith("/"):  # the console's "folder" marker objects
            continue
        if any(_skipped_folder(part) for part in parts[:-1]):
            continue
        location = f"s3://{bucket}/{key}"
        output = _entry(parts, location)
        if output is not None:
            outputs.append((parts, output))
            if etag and size:  # empty objects are no image (the image checks say so), not copies
                content[location] = f"etag:{etag}:{size}"
    yield from _merged([output for _, output in outputs], lambda entries: content)
    yield from _layout_notices(
        uri, [tuple(parts) for parts, output in outputs if isinstance(output, Entry)], sorted(top_folders)
    )


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
    if isinstance(location, str):
        return Entry(DatasetItem(ImageRef(display), labels, display))
    problem = local_file_problem(location)
    if problem is not None:  # a FIFO named x.jpg, a device, a symlink loop: never opened
        return BadLine(display, 0, problem)
    return Entry(DatasetItem(ImageRef.from_text(str(location)), labels, display))


def _merged(
    outputs: list[ReaderOutput], content_keys: Callable[[list[Entry]], dict[str, str]]
) -> Iterator[ReaderOutput]:
    """One item per image: entries with the same image (the same URI, or the same content key) become
    the first one with the union of their labels. Everything else passes through in order."""
    entries = [output for output in outputs if isinstance(output, Entry)]
    keys = content_keys(entries)
    first: dict[str, int] = {}
    merged: list[ReaderOutput] = []
    for output in outputs:
        if not isinstance(output, Entry):
            merged.append(output)
            continue
        key = keys.get(output.item.image.uri, output.item.image.uri)
        if key not in first:
            first[key] = len(merged)
            merged.append(output)
            continue
        earlier = merged[first[key]]
        assert isinstance(earlier, Entry)
        labels = earlier.item.labels | output.item.labels
        merged[first[key]] = dataclasses.replace(
            earlier, item=dataclasses.replace(earlier.item, labels=labels)
        )
        log.info(
            "%s is the same image as %s: one image, labels %s",
            output.item.source,
            earlier.item.source,
            ";".join(sorted(labels)),
        )
    return iter(merged)


def _local_content_keys(entries: list[Entry]) -> dict[str, str]:
    """URI -> a digest of the bytes, for the files whose size another file shares (only those can be
    copies of each other, so a folder of distinct images is never read here)."""
    by_size: dict[int, list[str]] = {}
    for entry in entries:
        uri = entry.item.image.uri
        try:
            size = os.stat(uri).st_size
        except OSError:
            continue
        if size:  # empty files are no image (the image checks say so), not copies of each other
            by_size.setdefault(size, []).append(uri)
    keys: dict[str, str] = {}
    for uris in by_size.values():
        if len(set(uris)) < 2:
            continue
        for uri in set(uris):
            digest = _digest(uri)
            if digest is not None:
                keys[uri] = digest
    return keys


def _digest(path: str) -> str | None:
    """sha256 of a regular file's bytes (opened without blocking, read in chunks), or None."""
    try:
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            return None
        digest = hashlib.sha256()
        while chunk := os.read(descriptor, 1024 * 1024):
            digest.update(chunk)
        return "sha256:" + digest.hexdigest()
    except OSError:
        return None
    finally:
        os.close(descriptor)


def _layout_notices(
    root: str, image_parts: list[tuple[str, ...]], top_folders: list[str]
) -> Iterator[Notice]:
    """What a folder one level too high looks like, said instead of evaluated in silence: label folders
    with no image of their own (all in sub-folders, whose names are not labels), and folders with none."""
    label_folders = sorted({parts[0] for parts in image_parts if len(parts) > 1})
    empty = sorted(set(top_folders) - set(label_folders))
    if empty:
        yield Notice(f"{root}: {_some(empty)} hold no images, so they are no label and are ignored")
    if label_folders and not any(len(parts) == 2 for parts in image_parts):
        sub_folders = sorted({parts[1] for parts in image_parts if len(parts) > 2})
        examples = sorted({f"{parts[0]}/{parts[1]}" for parts in image_parts if len(parts) > 2})
        yield Notice(
            f"{root}: no image is directly in a label folder, all are in sub-folders ({_some(examples)}): "
            f"the labels are the top folders' names ({_some(label_folders)}) and the sub-folders' names "
            f"({_some(sub_folders)}) are ignored. If the sub-folders are the labels, the dataset folder is "
            f"one level lower, e.g. {root.rstrip('/')}/{label_folders[0]}"
        )


def _some(names: list[str], limit: int = 5) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _skipped_folder(name: str) -> bool:
    return name.startswith(".") or name.lower() in _JUNK_FOLDERS


def _raise_walk_error(err: OSError) -> None:
    raise DatasetError(f"cannot read folder {err.filename}: {err.strerror or err}") from err
