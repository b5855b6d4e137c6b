"""Credentials in an endpoint URL (user:password@, a token in the query) never leave the process.

`redact_url` is the one spelling of an endpoint anything writes (run.json, summary.json, reports, cache
rows and keys, messages): no user information at all, and every query value masked, so the same
endpoint with another password or token finds the same stored answers. `scrub` does the same to every
URL inside a free text (an error message from botocore or urllib3 quotes the URL it tried).
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlsplit, urlunsplit

MASK = "***"

_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s\"'<>]+")


def redact_url(url: str) -> str:
    """The URL without user information, with every query value masked and no fragment."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:  # not a URL we can take apart: keep nothing that could be a secret
        return MASK
    if ":" in host:  # an IPv6 literal
        host = f"[{host}]"
    netloc = f"{host}:{port}" if port is not None else host
    query = "&".join(
        f"{name}={MASK}" if value else name for name, value in parse_qsl(parts.query, keep_blank_values=True)
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def scrub(text: str) -> str:
    """`text` with every URL in it redacted (user information and query values)."""
    return _URL.sub(lambda match: _scrub_one(match.group(0)), text)


def _scrub_one(url: str) -> str:
    parts = urlsplit(url) if "://" in url else None
    if parts is None or ("@" not in parts.netloc and not parts.query and not parts.fragment):
        return url
    return redact_url(url)
