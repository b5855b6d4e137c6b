"""The stored-video part of report.md and report.html: what the video jobs are billed, and one time line
per video behind an error (ground-truth segments against detections at the recommended threshold, with
the time missed and the time falsely detected).

Empty for other operations. The numbers come from the analysis (timelines.csv, the `timelines` table of
evaluation.operations.video, and summary.json's `cost`); this module only lays them out: the figures are
static inline SVG (no script, nothing fetched), so the page's Content-Security-Policy stays as it is.
Each drawn interval carries its exact milliseconds (data-start-ms, data-end-ms) and a tooltip.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from evaluation.analysis import EvaluationResult

TABLE = "timelines"
MAX_VIDEOS_DRAWN = 12  # report.html draws at most this many videos; timelines.csv has them all
KINDS = ("truth", "detection", "missed", "false")  # what a lane draws, in the order drawn
COLOURS = {
    "truth": "#2b6cb0",  # blue: the ground truth
    "detection": "#2f855a",  # green: detected at or above the threshold
    "missed": "#c53030",  # red: truth time no detection covers
    "false": "#dd6b20",  # orange: detected time outside the truth
}
WIDTH, LEFT, RIGHT, ROW, GAP, TOP = 760, 170, 12, 12, 6, 18


@dataclass
class Lane:
    """One label in one video: its threshold, its video-level error ("" when right) and its intervals."""

    label: str
    threshold: float | None
    error: str
    intervals: dict[str, list[tuple[float, float, float | None]]] = field(default_factory=dict)


@dataclass
class VideoFigure:
    video: str
    duration_ms: float
    lanes: list[Lane]

    @property
    def errors(self) -> list[str]:
        return [f"{lane.label} {lane.error}" for lane in self.lanes if lane.error]


def _float(value: Any) -> float | None:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return None
    return float(value)


def timeline_figures(table: pd.DataFrame | None) -> list[VideoFigure]:
    """Every video of timelines.csv, in the table's order, its lanes (labels) in theirs."""
    if table is None or table.empty:
        return []
    figures: dict[str, VideoFigure] = {}
    lanes: dict[tuple[str, str], Lane] = {}
    for row in table.to_dict("records"):
        video, label, kind = str(row["video"]), str(row["label"]), str(row["kind"])
        figure = figures.get(video)
        if figure is None:
            figure = figures[video] = VideoFigure(video, float(row.get("duration_ms") or 0.0), [])
        lane = lanes.get((video, label))
        if lane is None:
            error = row.get("error")
            lane = lanes[(video, label)] = Lane(
                label, _float(row.get("threshold")), "" if not isinstance(error, str) else error
            )
            figure.lanes.append(lane)
        if kind in KINDS:
            lane.intervals.setdefault(kind, []).append(
                (float(row["start_ms"]), float(row["end_ms"]), _float(row.get("confidence")))
            )
    return list(figures.values())


def _seconds(ms: float) -> str:
    return f"{ms / 1000:.2f} s"


def _tooltip(kind: str, lane: Lane, start: float, end: float, confidence: float | None) -> str:
    what = {
        "truth": "ground truth",
        "detection": "detected" + (f" at confidence {confidence:.2f}" if confidence is not None else ""),
        "missed": "missed: in the truth, not detected",
        "false": "false: detected, not in the truth",
    }[kind]
    return f"{lane.label}: {what}, {_seconds(start)} to {_seconds(end)}"


def figure_svg(figure: VideoFigure) -> str:
    """One video's time line: per label, a truth row (missed time over it in red) and a detection row at
    the label's threshold (false time over it in orange); a seconds axis below."""
    escape = html.escape
    duration = max(figure.duration_ms, 1.0)
    span = WIDTH - LEFT - RIGHT
    lane_height = 2 * ROW + GAP
    height = TOP + lane_height * len(figure.lanes) + 22

    def x(ms: float) -> float:
        return LEFT + span * min(max(ms, 0.0), duration) / duration

    parts = [
        f'<svg class="video-timeline" xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" role="img" aria-label="{escape(figure.video)} time line">'
    ]
    for index, lane in enumerate(figure.lanes):
        y = TOP + index * lane_height
        at = "never (no threshold)" if lane.threshold is None else f"\u2265 {lane.threshold:.2f}"
        mark = f" ({lane.error})" if lane.error else ""
        weight = "bold" if lane.error else "normal"
        parts.append(
            f'<text x="4" y="{y + ROW - 2}" font-size="11" font-weight="{weight}">'
            f"{escape(lane.label[:24] + mark)}</text>"
            f'<text x="4" y="{y + 2 * ROW - 2}" font-size="10" fill="#555">detected {escape(at)}</text>'
            f'<rect x="{LEFT}" y="{y}" width="{span}" height="{2 * ROW}" fill="#f4f4f4"/>'
        )
        for kind in KINDS:
            row_y = y if kind in ("truth", "missed") else y + ROW
            inset = 0 if kind in ("truth", "detection") else 3  # errors drawn as a band over their row
            for start, end, confidence in lane.intervals.get(kind, []):
                left, right = x(start), x(end)
                width = max(right - left, 1.5)  # a sampled (TIMESTAMPS) detection has no length
                parts.append(
                    f'<rect class="{kind}" data-kind="{kind}" data-label="{escape(lane.label)}" '
                    f'data-start-ms="{start:g}" data-end-ms="{end:g}" x="{left:.2f}" y="{row_y + inset}" '
                    f'width="{width:.2f}" height="{ROW - 1 - 2 * inset}" fill="{COLOURS[kind]}">'
                    f"<title>{escape(_tooltip(kind, lane, start, end, confidence))}</title></rect>"
                )
    axis_y = TOP + lane_height * len(figure.lanes) + 2
    parts.append(f'<line x1="{LEFT}" y1="{axis_y}" x2="{LEFT + span}" y2="{axis_y}" stroke="#888"/>')
    step = _tick_step(duration)
    tick = 0.0
    while tick <= duration + 1e-6:
        parts.append(
            f'<text x="{x(tick):.1f}" y="{axis_y + 13}" font-size="10" text-anchor="middle">'
            f"{tick / 1000:g} s</text>"
        )
        tick += step
    parts.append("</svg>")
    return "".join(parts)


def _legend() -> str:
    names = {"truth": "ground truth", "detection": "detected", "missed": "missed", "false": "false"}
    parts = [
        '<svg class="video-legend" xmlns="http://www.w3.org/2000/svg" width="420" height="16" role="img" '
        'aria-label="legend">'
    ]
    for index, kind in enumerate(KINDS):
        x = index * 105
        parts.append(
            f'<rect x="{x}" y="3" width="14" height="10" fill="{COLOURS[kind]}"/>'
            f'<text x="{x + 18}" y="12" font-size="11">{names[kind]}</text>'
        )
    return "".join(parts) + "</svg>\n"


def _tick_step(duration_ms: float) -> float:
    for step in (100, 200, 500, 1000, 2000, 5000, 10000, 15000, 30000, 60000, 120000, 300000, 600000):
        if duration_ms / step <= 10:
            return float(step)
    return 3600000.0


def cost_text(summary: dict[str, Any]) -> str | None:
    """What this run's video jobs are billed, in words; None when the run is not a video run."""
    cost = summary.get("cost")
    if not isinstance(cost, dict) or "billed_minutes" not in cost:
        return None
    parts = []
    for api, entry in (cost.get("by_api") or {}).items():
        usd = entry.get("estimated_usd")
        if usd is not None:
            money = f"USD {usd:,.4f} at USD {entry['usd_per_minute']:g} a minute"
        elif entry.get("unknown_cost_videos"):
            money = f"unknown cost ({len(entry['unknown_cost_videos'])} video(s) of unknown duration)"
        elif entry.get("usd_per_minute") is None and "not an AWS endpoint" in " ".join(
            cost.get("notes") or []
        ):
            money = "not billed (not AWS's endpoint)"
        else:
            money = "unknown cost (no per-minute price)"
        parts.append(
            f"{api}: {entry['videos']} video(s), {entry['video_minutes']:,.2f} minutes of video billed as "
            f"{entry['billed_minutes']:,.4g} minute(s), {money}"
        )
    if not parts:
        parts.append("no job was run (every answer came from the cache): nothing billed")
    rule = next(
        (entry.get("rounding_rule") for entry in (cost.get("by_api") or {}).values()),
        cost.get("rounding"),
    )
    return (
        "Video jobs billed by this run: "
        + "; ".join(parts)
        + f". Billed minutes: {rule} ({cost.get('rounding')}; an assumption, AWS does not document how it "
        "rounds; see prices.yaml). A video analysed by both video APIs is billed once per API. "
        "Per video: summary.json's cost.videos."
    )


def markdown_lines(result: EvaluationResult) -> list[str]:
    """report.md's lines about what the video jobs cost (the time lines are the operation's section)."""
    text = cost_text(result.summary)
    return [] if text is None else ["## Video cost", "", text, ""]


def html_section(result: EvaluationResult, *, max_videos: int = MAX_VIDEOS_DRAWN) -> str:
    """report.html's video section: the cost, and a time line for each video behind an error (at most
    `max_videos`, the number left out said); an empty string for other operations."""
    table = result.extra_tables.get(TABLE)
    cost = cost_text(result.summary)
    if table is None and cost is None:
        return ""
    escape = html.escape
    figures = timeline_figures(table)
    parts = ['<section id="videos">\n<h2>Videos</h2>\n']
    if cost:
        parts.append(f'<p class="note" id="video-cost">{escape(cost)}</p>\n')
    if table is not None:
        parts.append(
            "<h3>Time lines of the videos behind the errors</h3>\n"
            '<p class="note">Each video with a label wrong at its recommended MinConfidence (labels.csv: '
            "missed, or a false alarm): per label, the ground-truth segments (blue) with the time no "
            "detection covers (red), and the detections at or above the threshold (green) with the time "
            "outside the truth (orange). Labels present or detected in the video and right are drawn too. "
            "Hover for the exact times; every row is in timelines.csv.</p>\n"
        )
        parts.append(_legend())
        if not figures:
            parts.append('<p class="note">No video is wrong at the recommended thresholds.</p>\n')
        for figure in figures[:max_videos]:
            parts.append(
                f'<figure class="video-figure" data-video="{escape(figure.video)}">'
                f"<figcaption>{escape(figure.video)} ({_seconds(figure.duration_ms)}): "
                f"{escape(', '.join(figure.errors))}</figcaption>"
                f'<div class="scroll">{figure_svg(figure)}</div></figure>\n'
            )
        left_out = len(figures) - min(len(figures), max_videos)
        if left_out:
            parts.append(
                f'<p class="note" id="videos-left-out">{left_out} more video(s) behind errors are not drawn '
                f"(at most {max_videos} are); timelines.csv has all {len(figures)}.</p>\n"
            )
    parts.append("</section>\n")
    return "".join(parts)
