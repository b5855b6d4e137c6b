"""Copy a finished run folder to the evaluation bucket's reports/ prefix, where the team reads it."""

from __future__ import annotations

import mimetypes
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from evaluation.errors import UserError


def upload_run(out_dir: Path, s3_client: Any, *, bucket: str, prefix: str) -> str:
    """Put every file of the run under s3://bucket/prefix<run name>/; returns that URI.

    Only PutObject is needed, which is what the evaluation role may do under reports/.
    """
    base = f"{prefix.rstrip('/')}/{out_dir.name}/"
    for path in sorted(p for p in out_dir.rglob("*") if p.is_file()):
        key = base + path.relative_to(out_dir).as_posix()
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        try:
            s3_client.put_object(Bucket=bucket, Key=key, Body=path.read_bytes(), ContentType=content_type)
        except (ClientError, BotoCoreError) as error:
            raise UserError(
                f"the report is written in {out_dir}, but uploading {key} failed: {error}"
            ) from None
    return f"s3://{bucket}/{base}"
