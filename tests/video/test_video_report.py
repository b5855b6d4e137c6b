"""report.html's video section: the time lines drawn equal a millisecond brute force on generated time
lines, exactly the videos wrong at the recommended thresholds are drawn (bounded, the rest counted), and
the billed minutes and cost appear in summary.json, report.md and report.html."""

from __future__ import annotations

import json
import random
import re
from html.parser import HTMLParser
from types import SimpleNamespace

import pandas as pd

from evaluation.operations.video import Detection, VideoAnswer, score_videos
from evaluation.reports.html import CONTENT_SECURITY_POLICY
from evaluation.reports.video_section import MAX_VIDEOS_DRAWN, html_section
from tests.video.conftest import LABELS, timeline
from tests.video.test_video_runs import run


class Figures(HTMLParser):
    """Every <figure data-video> of the section and its rects: {video: {(label, kind): [(start, end)]}}."""

    def __init__(self) -> None:
        super().__init__()
        self.figures: dict[str, dict[tuple[str, str], list[tuple[float, float]]]] = {}
        self.current: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "figure" and values.get("data-video"):
            self.current = str(values["data-video"])
            self.figures[self.current] = {}
        elif tag == "rect" and values.get("data-kind") and self.current is not None:
            key = (str(values["data-label"]), str(values["data-kind"]))
            span = (float(values["data-start-ms"] or 0), float(values["data-end-ms"] or 0))
            self.figures[self.current].setdefault(key, []).append(span)


def parse(page: str) -> dict[str, dict[tuple[str, str], list[tuple[float, float]]]]:
    parser = Figures()
    parser.feed(page)
    return parser.figures


def covered(spans: list[tuple[float, float]], duration: int) -> set[int]:
    return {ms for ms in range(duration) for s, e in spans if s <= ms + 0.5 < e}


def generated(seed: int, count: int):
    """`count` generated videos (the run tests' time lines), as answers and truths for score_videos."""
    rng = random.Random(seed)
    cases = [timeline(rng, f"v{i:02d}.mp4", rng.randrange(1000, 4000, 100), False) for i in range(count)]
    answers = [
        VideoAnswer(
            tuple(Detection(s.name, s.confidence, s.start_ms, s.end_ms) for s in case.spans),
            float(case.duration_ms),
            "3.0",
            "SEGMENTS",
        )
        for case in cases
    ]
    truths = [
        {
            "labels": sorted({name for name, _, _ in case.truth}),
            "segments": [{"label": n, "start_ms": s, "end_ms": e} for n, s, e in case.truth],
        }
        for case in cases
    ]
    return cases, answers, truths


def test_the_figures_equal_a_brute_force_time_line_and_only_wrong_videos_are_drawn():
    cases, answers, truths = generated(5, 24)
    labels = list(LABELS)
    score = score_videos(
        answers,
        truths,
        videos=[case.key for case in cases],
        labels=labels,
        claims=lambda d: [labels.index(d.name)] if d.name in labels else [],
        truth_claims=lambda name: {labels.index(name)} if name in labels else set(),
        floor=0.0,
        tolerance_ms=0.0,
    )
    thresholds = {"Dog": 55.0, "Cat": 70.0, "Car": None}  # Car: no threshold, never predicted
    tables, lines = score.timelines.at(thresholds)
    result = SimpleNamespace(extra_tables=tables, summary={})
    figures = parse(html_section(result, max_videos=100))

    wrong = []
    for case in cases:
        errors = set()
        for label in labels:
            present = any(name == label for name, _, _ in case.truth)
            t = thresholds[label]
            predicted = t is not None and any(s.name == label and s.confidence >= t for s in case.spans)
            if present != predicted:
                errors.add(label)
        if errors:
            wrong.append(case.key)
    assert wrong and len(wrong) < len(cases)  # the generated set has both
    assert list(figures) == wrong  # exactly the videos with errors, in dataset order

    for case in cases:
        if case.key not in figures:
            continue
        drawn = figures[case.key]
        for label in labels:
            t = thresholds[label]
            truth = covered([(s, e) for n, s, e in case.truth if n == label], case.duration_ms)
            at_threshold = [s for s in case.spans if s.name == label and t is not None and s.confidence >= t]
            detected = covered([(s.start_ms, s.end_ms) for s in at_threshold], case.duration_ms)
            shown = {
                kind: covered(drawn.get((label, kind), []), case.duration_ms)
                for kind in ("truth", "detection", "missed", "false")
            }
            assert shown["truth"] == truth, (case.key, label)
            assert shown["detection"] == detected, (case.key, label)
            assert shown["missed"] == truth - detected, (case.key, label)
            assert shown["false"] == detected - truth, (case.key, label)
    assert "Time lines of the videos behind the errors" in "\n".join(lines)


def test_the_section_is_bounded_and_says_how_many_were_left_out():
    cases, answers, truths = generated(5, 24)
    labels = list(LABELS)
    score = score_videos(
        answers,
        truths,
        videos=[case.key for case in cases],
        labels=labels,
        claims=lambda d: [labels.index(d.name)],
        truth_claims=lambda name: {labels.index(name)},
        floor=0.0,
        tolerance_ms=0.0,
    )
    tables, _ = score.timelines.at({"Dog": 55.0, "Cat": 70.0, "Car": None})
    wrong = list(dict.fromkeys(tables["timelines"]["video"]))
    page = html_section(SimpleNamespace(extra_tables=tables, summary={}), max_videos=3)
    assert list(parse(page)) == wrong[:3]
    assert f"{len(wrong) - 3} more video(s) behind errors are not drawn" in page
    assert "<script" not in page and "href=" not in page  # static SVG: the page's policy is unchanged
    assert "script-src {scripts}" in CONTENT_SECURITY_POLICY


def test_a_run_draws_the_videos_wrong_at_the_recommended_thresholds_and_states_the_billed_minutes(world):
    run(world)
    folder = world.tmp / "run"
    labels = pd.read_csv(folder / "labels.csv").set_index("label")
    wrong = []
    for case in world.cases:
        for label in LABELS:
            t = labels.loc[label, "threshold"]
            present = any(name == label for name, _, _ in case.truth)
            predicted = not pd.isna(t) and any(s.name == label and s.confidence >= t for s in case.spans)
            if present != predicted:
                wrong.append(f"s3://media/{case.key}")
                break
    timelines = pd.read_csv(folder / "timelines.csv")
    assert list(dict.fromkeys(timelines["video"])) == wrong
    page = (folder / "report.html").read_text(encoding="utf-8")
    section = page[page.index('<section id="videos">') :]
    assert list(parse(section)) == wrong[:MAX_VIDEOS_DRAWN]
    if len(wrong) > MAX_VIDEOS_DRAWN:
        assert f"{len(wrong) - MAX_VIDEOS_DRAWN} more video(s) behind errors are not drawn" in section
    # every clip is 1.0 to 3.4 s: one billed minute each under the packaged rule, 30 jobs of one API
    summary = json.loads((folder / "summary.json").read_text())
    cost = summary["cost"]
    assert cost["rounding"] == "per-video-next-minute"
    assert cost["billed_minutes"] == 30
    entry = cost["by_api"]["StartLabelDetection"]
    assert entry["videos"] == 30 and entry["billed_minutes"] == 30
    assert entry["estimated_usd"] is None  # the local endpoint bills nothing
    assert len(cost["videos"]) == 30 and all(v["billed_minutes"] == 1 for v in cost["videos"])
    assert "billed as 30 minute(s)" in section
    report = (folder / "report.md").read_text()
    assert "## Video cost" in report and "per-video-next-minute" in report
    assert re.search(r"Content-Security-Policy\" content=\"default-src 'none'", page)
