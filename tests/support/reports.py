"""Run folders made through the command line against the local endpoint, and what the report tests
read back from a page."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from tests.support.cli import run_cli

# Label names that would break a page that pasted them into its HTML or its script.
NASTY = [
    '<script>alert("x")</script>',
    "A & B",
    'it\'s "quoted"',
    "</script><!--",
    "<img src=x onerror=alert(1)>",
]


def make_run(csv: Path, endpoint_url: str, out: Path, cache: Path, *extra: str) -> Path:
    code = run_cli(
        "run",
        "--dataset",
        str(csv),
        "--endpoint-url",
        endpoint_url,
        "--cache",
        str(cache),
        "--out",
        str(out),
        "--min-support",
        "5",
        *extra,
    )
    assert code == 0
    return out


def embedded(page: str, element_id: str = "report-data") -> Any:
    """The JSON a page embeds in <script type="application/json" id=...>."""
    found = re.search(rf'<script type="application/json" id="{element_id}">(.*?)</script>', page, re.S)
    assert found, f"no {element_id} in the page"
    return json.loads(found.group(1))
