"""Copy a finished run folder to the evaluation bucket's reports/ prefix, where the team reads it."""

from __future__ import annotations

import mimetypes
import os
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from evaluation.errors import UserError


def upload_run(out_dir: Path, s3_client: Any, *, bucket: str, prefix: str, files: Iterable[str]) -> str:
    """Put the files the run wrote (`files`, relative to `out_dir`: EvaluationResult.files) under
    s3://bucket/prefix<run name>/; returns that URI.

    Nothing else under `out_dir` is sent: not the user's own files, not dotfiles or .git/, and never a
    symlink's target (each file is opened without following links and must be a regular file inside
    the folder). Only PutObject is needed, which is what the evaluation role may do under reports/.
    """
    base = f"{prefix.rstrip('/')}/{out_dir.name}/"
    for name in sorted(set(files)):
        parts = Path(name).parts
        if not parts or Path(name).is_absolute() or any(part.startswith(".") for part in parts):
            continue  # never a dotfile, a dot-folder or a path out of the folder
        key = base + Path(name).as_posix()
        content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
        try:
            body = _read_regular_file(out_dir, parts)
            if body is None:
                continue
            s3_client.put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type)
        except (ClientError, BotoCoreError) as error:
            raise UserError(
                f"the report is written in {out_dir}, but uploading {key} failed: {error}"
            ) from None
    return f"s3://{bucket}/{base}"


def _read_regular_file(out_dir: Path, parts: tuple[str, ...]) -> bytes | None:
    """The bytes of out_dir/parts, walking each folder and the file without following a symlink; None
    when any of them is a symlink or the file is not a regular file."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)
    directory = os.open(out_dir, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        for part in parts[:-1]:
            try:
                inner = os.open(part, flags | getattr(os, "O_DIRECTORY", 0), dir_fd=directory)
            except OSError:
                return None
            os.close(directory)
            directory = inner
        try:
            handle = os.open(parts[-1], flags, dir_fd=directory)
        except OSError:
            return None
        with os.fdopen(handle, "rb") as file:
            if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
                return None
            return file.read()
    finally:
        os.close(directory)
