"""report.md and compare.md through a real Markdown renderer, and the pages' Content-Security-Policy.

A label, a name or a path is data: rendered by a Markdown viewer (raw HTML on, as most are) it must come
out as the same text, never as an element or a link.
"""

from __future__ import annotations

import base64
import hashlib
import re
from html.parser import HTMLParser

import pandas as pd
import pytest
from markdown_it import MarkdownIt

from evaluation.operations.base import markdown_code, markdown_text
from evaluation.pipeline import write_run
from evaluation.reports.compare import write_compare
from tests.support.runs import synthetic_result

HOSTILE = [
    "<img src=x onerror=alert(1)>",
    "<script>alert(1)</script>",
    "[click](javascript:alert(1))",
    "**bold** _em_ ~~gone~~",
    "a|b",
    "`tick`s ``and`` more",
    "&lt;img src=x onerror=alert(2)&gt;",
    "back\\slash <b>bold</b>",
    "line\nbreak\u2028para",
    "![pic](x.png)",
]


class Page(HTMLParser):
    """The elements and attributes a rendered document holds, and its text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attributes: list[tuple[str, str | None]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attributes.extend(attrs)

    def handle_data(self, data):
        self.text.append(data)


def render(markdown: str) -> Page:
    html = MarkdownIt("commonmark", {"html": True}).enable("table").enable("strikethrough").render(markdown)
    page = Page()
    page.feed(html)
    return page


def assert_inert(page: Page, allowed: frozenset[str] = frozenset()) -> None:
    """No element a label could have made (the report's own **bold** is `allowed` where it is used)."""
    made = {"img", "script", "a", "b", "i", "strong", "em", "s", "del"} - allowed
    assert not made & set(page.tags), page.tags
    assert not [name for name, _ in page.attributes if name.startswith("on") or name in ("src", "href")]


@pytest.mark.parametrize("text", HOSTILE)
def test_markdown_text_renders_as_the_same_text(text):
    flat = re.sub(r"[\n\u2028]", " ", text)
    page = render(f"Before {markdown_text(text)} after\n")
    assert_inert(page)
    assert "".join(page.text).strip() == f"Before {flat} after"
    cell = render(f"| a | b |\n|---|---|\n| {markdown_text(text)} | x |\n")
    assert_inert(cell)
    assert cell.tags.count("td") == 2 and flat in "".join(cell.text)
    code = render(f"- {markdown_code(text)}\n")
    assert set(code.tags) == {"ul", "li", "code"}
    assert "".join(code.text).strip() == flat


@pytest.fixture
def hostile_run(tmp_path):
    folder = tmp_path / "<img src=x onerror=alert(9)>"
    folder.mkdir()
    result = synthetic_result(folder, labels=[*HOSTILE, "Plain"], n_images=60, min_support=1)
    result.summary["dataset"]["name"] = "<script>alert('name')</script>"
    result.summary["dataset"]["bad_lines"] = ["data.csv:9: `<img src=x onerror=alert(3)>`"]
    result.summary["model_versions"] = ["<b>3.0</b>"]
    result.summary["errors"] = [
        {
            "image": str(folder / "<img src=y onerror=alert(4)>.png"),
            "status": "rejected",
            "reason": "<i>x</i>",
        }
    ]
    result.unjudged = pd.DataFrame(
        {
            "name": ["<img src=z onerror=alert(5)>"],
            "images": [1],
            "max_confidence": [50.0],
            "mean_confidence": [50.0],
        }
    )
    return write_run(result, tmp_path / "run-a"), result


def test_report_md_renders_no_label_or_path_as_html(hostile_run):
    out, _ = hostile_run
    markdown = (out / "report.md").read_text()
    page = render(markdown)
    assert_inert(page, allowed=frozenset({"strong"}))  # "**MinConfidence 55**": the report's own
    text = "".join(page.text)
    for label in HOSTILE:
        assert re.sub(r"[\n\u2028]", " ", label) in text, label
    for shown in (
        "<script>alert('name')</script>",
        "<img src=y onerror=alert(4)>",
        "<img src=z onerror=alert(5)>",
    ):
        assert shown in text
    assert "`<img src=x onerror=alert(3)>`" in text


def test_compare_md_renders_no_label_or_path_as_html(hostile_run, tmp_path):
    out, _ = hostile_run
    other = synthetic_result(None, labels=[*HOSTILE, "Plain"], n_images=60, answer_seed=3, min_support=1)
    other.summary["model_versions"] = ["<img src=v onerror=alert(6)>"]
    b = write_run(other, tmp_path / "run-b")
    folder, _ = write_compare(out, b, tmp_path / "cmp")
    page = render((folder / "compare.md").read_text())
    assert_inert(page)
    assert "<img src=v onerror=alert(6)>" in "".join(page.text)


def policy_of(page: str) -> dict[str, list[str]]:
    content = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]*)">', page)
    assert content, "no Content-Security-Policy"
    directives = {}
    for part in content.group(1).split(";"):
        name, *values = part.split()
        directives[name] = values
    return directives


def inline_scripts(page: str) -> list[str]:
    """The bodies of the page's scripts that run (not its JSON data block)."""
    return [
        body
        for attributes, body in re.findall(r"<script([^>]*)>(.*?)</script>", page, flags=re.S)
        if "application/json" not in attributes
    ]


def check_policy(page: str) -> None:
    policy = policy_of(page)
    assert policy["default-src"] == ["'none'"]
    assert policy["base-uri"] == ["'none'"] and policy["form-action"] == ["'none'"]
    scripts = policy["script-src"]
    assert "'unsafe-inline'" not in scripts and "'unsafe-eval'" not in scripts
    assert all(re.fullmatch(r"'sha256-[A-Za-z0-9+/]+={0,2}'", source) for source in scripts), scripts
    bodies = inline_scripts(page)
    assert bodies
    digests = {
        "'sha256-" + base64.b64encode(hashlib.sha256(body.encode("utf-8")).digest()).decode() + "'"
        for body in bodies
    }
    assert digests == set(scripts)


def test_report_and_compare_pages_allow_only_their_own_scripts(hostile_run, tmp_path):
    out, _ = hostile_run
    check_policy((out / "report.html").read_text(encoding="utf-8"))
    other = synthetic_result(None, labels=[*HOSTILE, "Plain"], n_images=60, answer_seed=3, min_support=1)
    folder, _ = write_compare(out, write_run(other, tmp_path / "run-b"), tmp_path / "cmp")
    check_policy((folder / "compare.html").read_text(encoding="utf-8"))


def test_a_page_without_scripts_runs_none():
    """Each page's policy names every script it holds and nothing else (a page without scripts runs none)."""
    from evaluation.reports.html import content_security_policy

    assert "script-src 'none'" in content_security_policy(())
