"""The face operations' part of report.html: face-verification's DET plot and tables, face-search's and
liveness's tables at the recommended threshold.

Empty for every other operation. The numbers come from the operation's own tables (verification.csv,
verification_slices.csv, identification.csv, liveness.csv, liveness_by_attack.csv) and thresholds.yaml's
entry; this module only lays them out. The DET plot is a static inline SVG drawn here (no script, no
fetched file), so the page's Content-Security-Policy stays as it is.

DET (detection error tradeoff): FNMR against FMR, both on log axes, one point per operating point of
verification.csv's exact rows. verification.csv holds every distinct similarity plus every whole number;
a whole number between two similarities repeats the counts of the similarity above it, so the distinct
operating points are the highest threshold of each run of equal counts (`det_points`). A rate of 0 has
no place on a log axis: it is drawn on the axis's "0" line, one decade below the smallest rate the data
can measure (1 / impostor pairs, 1 / genuine pairs), and said so under the plot.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from evaluation.analysis import EvaluationResult

WIDTH, HEIGHT = 520, 380
LEFT, RIGHT, TOP, BOTTOM = 62, 16, 14, 46
CURVE, MARK, TARGET = "#1f6feb", "#6f42c1", "#d9480f"
NO_RECOMMENDATION = "no recommended threshold"


def html_section(result: EvaluationResult) -> str:
    """The face sections of report.html (those of the run's operation), or an empty string."""
    tables, thresholds = result.extra_tables, result.thresholds
    parts = []
    if "verification" in tables:
        parts.append(verification_html(tables, thresholds.get("face_verification") or {}))
    if "identification" in tables:
        parts.append(identification_html(tables, thresholds.get("face_search") or {}))
    if "liveness" in tables:
        parts.append(liveness_html(tables, thresholds.get("liveness") or {}))
    return "".join(parts)


# DET plot


def det_points(table: pd.DataFrame) -> pd.DataFrame:
    """The distinct operating points of an error-tradeoff table (threshold, fmr, fnmr), ascending by
    threshold: of each run of rows with the same counts, the last (the exact similarity; above the
    highest similarity, the highest threshold: nothing accepted)."""
    if table.empty:
        return pd.DataFrame(columns=["threshold", "fmr", "fnmr", "false_matches", "false_non_matches"])
    ordered = table.sort_values("threshold", kind="stable").reset_index(drop=True)
    counts = ordered[["false_matches", "false_non_matches"]].to_numpy()
    last_of_run = np.ones(len(ordered), dtype=bool)
    last_of_run[:-1] = (counts[1:] != counts[:-1]).any(axis=1)
    columns = ["threshold", "fmr", "fnmr", "false_matches", "false_non_matches"]
    return ordered.loc[last_of_run, columns].reset_index(drop=True)


def log_floor(count: int) -> float:
    """Where a rate of 0 is drawn: one decade below the decade of the smallest measurable rate, 1/count."""
    return 10.0 ** (math.floor(math.log10(1.0 / max(count, 1))) - 1)


class LogScale:
    """A log10 axis from `low` (where 0 is drawn) to 1, onto pixels `start`..`end`."""

    def __init__(self, low: float, start: float, end: float) -> None:
        self.low, self.start, self.end = low, start, end
        self.span = -math.log10(low)

    def __call__(self, rate: float) -> float:
        value = max(float(rate), self.low)
        return self.start + (math.log10(value) - math.log10(self.low)) / self.span * (self.end - self.start)

    def invert(self, pixel: float) -> float:
        """The rate at a pixel (the low end stands for 0)."""
        fraction = (pixel - self.start) / (self.end - self.start)
        rate = 10.0 ** (math.log10(self.low) + fraction * self.span)
        return 0.0 if rate <= self.low * (1 + 1e-9) else rate

    def decades(self) -> list[float]:
        return [10.0**power for power in range(round(math.log10(self.low)) + 1, 1)]


def det_scales(genuine: int, impostor: int) -> tuple[LogScale, LogScale]:
    """(x: FMR, y: FNMR) for a plot of `genuine` and `impostor` pairs."""
    x = LogScale(log_floor(impostor), LEFT, WIDTH - RIGHT)
    y = LogScale(log_floor(genuine), HEIGHT - BOTTOM, TOP)
    return x, y


def det_svg(
    table: pd.DataFrame,
    recommended: Mapping[str, Any],
    *,
    parameter: str = "SimilarityThreshold",
) -> str:
    """An inline SVG of the DET curve from verification.csv's rows, the target FMR as a dashed line and
    the recommended threshold's operating point marked."""
    points = det_points(table)
    if points.empty or not np.isfinite(points[["fmr", "fnmr"]].to_numpy(np.float64)).all():
        return ""
    genuine, impostor = int(table["genuine"].iloc[0]), int(table["impostor"].iloc[0])
    x, y = det_scales(genuine, impostor)
    esc = html.escape
    parts = [
        f'<svg class="chart det" role="img" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'xmlns="http://www.w3.org/2000/svg" aria-label="DET curve: FNMR against FMR, log scales">',
        "<title>DET curve: false non-match rate against false match rate (log scales)</title>",
    ]
    for rate in x.decades():  # vertical grid lines and FMR ticks
        px = x(rate)
        parts.append(
            f'<line x1="{px:.2f}" y1="{TOP}" x2="{px:.2f}" y2="{HEIGHT - BOTTOM}" stroke="#e3e7ee"/>'
            f'<text x="{px:.2f}" y="{HEIGHT - BOTTOM + 14}" text-anchor="middle">{_tick(rate)}</text>'
        )
    for rate in y.decades():
        py = y(rate)
        parts.append(
            f'<line x1="{LEFT}" y1="{py:.2f}" x2="{WIDTH - RIGHT}" y2="{py:.2f}" stroke="#e3e7ee"/>'
            f'<text x="{LEFT - 5}" y="{py + 3:.2f}" text-anchor="end">{_tick(rate)}</text>'
        )
    parts.append(
        f'<text x="{x.start:.2f}" y="{HEIGHT - BOTTOM + 14}" text-anchor="middle">0</text>'
        f'<text x="{LEFT - 5}" y="{y.start + 3:.2f}" text-anchor="end">0</text>'
        f'<rect x="{LEFT}" y="{TOP}" width="{WIDTH - LEFT - RIGHT}" height="{HEIGHT - TOP - BOTTOM}" '
        'fill="none" stroke="#9aa3b2"/>'
        f'<text x="{(LEFT + WIDTH - RIGHT) / 2:.2f}" y="{HEIGHT - 8}" text-anchor="middle">'
        "FMR: impostor pairs accepted (log)</text>"
        f'<text transform="translate(14 {(TOP + HEIGHT - BOTTOM) / 2:.2f}) rotate(-90)" text-anchor="middle">'
        "FNMR: genuine pairs rejected (log)</text>"
    )
    target = recommended.get("target")
    if isinstance(target, (int, float)) and 0 < target <= 1:
        px = x(float(target))
        parts.append(
            f'<line class="target" x1="{px:.2f}" y1="{TOP}" x2="{px:.2f}" y2="{HEIGHT - BOTTOM}" '
            f'stroke="{TARGET}" stroke-dasharray="4 3"><title>target FMR {target:g}</title></line>'
        )
    vertices = " ".join(
        f"{x(fmr):.2f},{y(fnmr):.2f}"
        for fmr, fnmr in zip(points["fmr"].tolist(), points["fnmr"].tolist(), strict=True)
    )
    parts.append(
        f'<polyline class="det" points="{vertices}" fill="none" stroke="{CURVE}" stroke-width="1.5"/>'
    )
    threshold = recommended.get("threshold")
    if isinstance(threshold, (int, float)) and recommended.get("fmr") is not None:
        fmr, fnmr = float(recommended["fmr"]), float(recommended.get("fnmr") or 0.0)
        label = f"recommended {parameter} {threshold:g}: FMR {fmr:.4g}, FNMR {fnmr:.4g}"
        parts.append(
            f'<circle class="recommended" cx="{x(fmr):.2f}" cy="{y(fnmr):.2f}" r="4.5" fill="{MARK}">'
            f"<title>{esc(label)}</title></circle>"
            f'<text x="{min(x(fmr) + 7, WIDTH - RIGHT - 4):.2f}" y="{max(y(fnmr) - 7, TOP + 10):.2f}" '
            f'text-anchor="{"end" if x(fmr) > WIDTH * 0.6 else "start"}" fill="{MARK}">'
            f"{esc(f'{parameter} {threshold:g}')}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _tick(rate: float) -> str:
    return "1" if rate >= 1 else f"{rate:.0e}".replace("e-0", "e-")


# Tables


def _number(value: Any, digits: int = 4) -> str:
    if value is None or value is pd.NA:
        return "–"
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return f"{int(value):,}"
    number = float(value)
    if math.isnan(number):
        return "–"
    return f"{number:.{digits}g}"


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]], *, text_columns: int = 1) -> str:
    esc = html.escape
    text = ' class="text"'

    def cells(tag: str, values: Sequence[Any]) -> str:
        return "".join(
            f"<{tag}{text if index < text_columns else ''}>{esc(str(value))}</{tag}>"
            for index, value in enumerate(values)
        )

    body = "".join(f"<tr>{cells('td', row)}</tr>" for row in rows)
    return (
        f'<div class="scroll"><table class="data faces"><thead><tr>{cells("th", header)}</tr></thead>'
        f"<tbody>{body}</tbody></table></div>\n"
    )


def row_at(table: pd.DataFrame, threshold: Any) -> dict[str, Any] | None:
    """The table's row in force at `threshold` (the last row at or below it), or None."""
    if threshold is None or table.empty:
        return None
    rows = table[table["threshold"] <= float(threshold) + 1e-12].sort_values("threshold", kind="stable")
    return None if rows.empty else rows.iloc[-1].to_dict()


def _recommendation_text(recommended: Mapping[str, Any], parameter: str, what: str) -> str:
    threshold = recommended.get("threshold")
    target = recommended.get("target")
    aim = f" for {what} <= {target:g}" if isinstance(target, (int, float)) else ""
    if threshold is None:
        return (
            f"{NO_RECOMMENDATION}{aim}: {recommended.get('note') or recommended.get('status') or ''}".rstrip(
                ": "
            )
        )
    note = f" {recommended['note']}" if recommended.get("note") else ""
    return f"Recommended {parameter}{aim}: {threshold:g} (status {recommended.get('status')}).{note}"


def _every_ten(table: pd.DataFrame) -> pd.DataFrame:
    return table[table["threshold"].isin(np.arange(0.0, 101.0, 10.0))]


def _slice_rows(
    slices: pd.DataFrame | None, counts: Sequence[str], rates: tuple[str, str]
) -> list[list[Any]]:
    if slices is None or slices.empty:
        return []
    accepted, rejected = rates
    return [
        [
            f"{row['column']} = {row['value']}",
            *(_number(_int_or_none(row.get(name))) for name in counts),
            _number(row.get("threshold")),
            _number(row.get(accepted)),
            _number(row.get(rejected)),
            _number(_int_or_none(row.get("needed"))),
            str(row.get("status") or "–"),
            _number(row.get(f"{accepted}_at_overall")),
            _number(row.get(f"{rejected}_at_overall")),
        ]
        for row in slices.to_dict("records")
    ]


def _int_or_none(value: Any) -> int | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return int(value)


def _overall_row(
    name: str,
    recommended: Mapping[str, Any],
    at: Mapping[str, Any] | None,
    counts: Sequence[str],
    rates: tuple[str, str],
) -> list[Any]:
    accepted, rejected = rates
    at = at or {}
    return [
        name,
        *(_number(_int_or_none(at.get(count, recommended.get(count)))) for count in counts),
        _number(recommended.get("threshold")),
        _number(at.get(accepted)),
        _number(at.get(rejected)),
        _number(_int_or_none(recommended.get("needed"))),
        str(recommended.get("status") or "–"),
        _number(at.get(accepted)),
        _number(at.get(rejected)),
    ]


def verification_html(tables: Mapping[str, pd.DataFrame], recommended: Mapping[str, Any]) -> str:
    table = tables["verification"]
    esc = html.escape
    parameter = str(recommended.get("parameter") or "SimilarityThreshold")
    at = row_at(table, recommended.get("threshold"))
    counts = ("genuine", "impostor")
    rates = ("fmr", "fnmr")
    header = [
        "Pairs",
        "Genuine",
        "Impostor",
        "Threshold",
        "FMR",
        "FNMR",
        "Impostor pairs needed",
        "Status",
        "FMR at overall threshold",
        "FNMR at overall threshold",
    ]
    rows = [_overall_row("all", recommended, at, counts, rates)]
    rows += _slice_rows(tables.get("verification_slices"), counts, rates)
    whole = [
        [
            _number(r["threshold"]),
            _number(r["false_matches"]),
            _number(r["false_non_matches"]),
            _number(r["fmr"]),
            _number(r["fnmr"]),
        ]
        for r in _every_ten(table).to_dict("records")
    ]
    svg = det_svg(table, recommended, parameter=parameter)
    zero_note = (
        "A rate of 0 is drawn on the axis's 0 line, one decade below the smallest rate this data can measure "
        "(1 / impostor pairs across, 1 / genuine pairs up)."
    )
    return (
        '<section id="face-verification" class="faces">\n<h2>Face verification</h2>\n'
        f'<p class="recommendation">{esc(_recommendation_text(recommended, parameter, "FMR"))}</p>\n'
        f"{svg}\n"
        '<p class="note">DET curve: each point is one threshold of verification.csv (every distinct '
        "similarity); lower left is better. The dashed line is the target FMR, the dot the recommended "
        "threshold. "
        f"{esc(zero_note)}</p>\n"
        "<h3>At the recommended threshold</h3>\n"
        + _table(header, rows)
        + '<p class="note">A group\'s own threshold is its recommendation on its pairs alone (pairs of two '
        "images of the group); the last two columns are its rates at the overall threshold: does one "
        "threshold serve every group? The impostor pairs needed to support the target FMR are about "
        "3 / FMR.</p>\n"
        "<details><summary>FMR and FNMR at whole thresholds (every 10)</summary>\n"
        + _table(["Threshold", "False matches", "False non-matches", "FMR", "FNMR"], whole, text_columns=0)
        + "</details>\n</section>\n"
    )


def identification_html(tables: Mapping[str, pd.DataFrame], recommended: Mapping[str, Any]) -> str:
    table = tables["identification"]
    esc = html.escape
    text = _recommendation_text(recommended, "FaceMatchThreshold", "FPIR")
    at = row_at(table, recommended.get("threshold"))
    counts = ("mated", "non_mated")
    rates = ("fpir", "fnir")
    header = [
        "Probes",
        "Enrolled",
        "Not enrolled",
        "FaceMatchThreshold",
        "FPIR",
        "FNIR",
        "Not-enrolled probes needed",
        "Status",
        "FPIR at overall threshold",
        "FNIR at overall threshold",
    ]
    rows = [_overall_row("all", recommended, at, counts, rates)]
    rows += _slice_rows(tables.get("identification_slices"), counts, rates)
    summary = []
    if at is not None:
        summary = [
            [
                _number(recommended.get("threshold")),
                _number(at["rank1_rate"]),
                _number(at["fpir"]),
                _number(at["fnir"]),
                _number(int(at["identified"])),
                _number(int(at["false_positives"])),
            ]
        ]
    whole = [
        [_number(r["threshold"]), _number(r["rank1_rate"]), _number(r["fpir"]), _number(r["fnir"])]
        for r in _every_ten(table).to_dict("records")
    ]
    return (
        '<section id="face-search" class="faces">\n<h2>Face search (1:N identification)</h2>\n'
        f'<p class="recommendation">{esc(text)}</p>\n'
        "<h3>identification.csv at the recommended FaceMatchThreshold</h3>\n"
        + _table(
            ["FaceMatchThreshold", "Rank-1 rate", "FPIR", "FNIR", "Identified", "False positives"],
            summary,
            text_columns=0,
        )
        + '<p class="note">Rank-1 rate: enrolled probes whose best match is the right person at or above the '
        "threshold; FPIR: probes of people not enrolled matched to someone; FNIR = 1 - rank-1 rate.</p>\n"
        + _table(header, rows)
        + "<details><summary>Identification at whole thresholds (every 10)</summary>\n"
        + _table(["FaceMatchThreshold", "Rank-1 rate", "FPIR", "FNIR"], whole, text_columns=0)
        + "</details>\n</section>\n"
    )


def liveness_html(tables: Mapping[str, pd.DataFrame], recommended: Mapping[str, Any]) -> str:
    table = tables["liveness"]
    by_attack = tables.get("liveness_by_attack")
    esc = html.escape
    text = _recommendation_text(recommended, "Confidence threshold", "APCER (worst attack type)")
    threshold = recommended.get("threshold")
    at = row_at(table, threshold)
    overall = []
    if at is not None:
        overall = [
            [
                _number(threshold),
                _number(int(at["bona_fide"])),
                _number(int(at["bona_fide_rejected"])),
                _number(at["bpcer"]),
                _number(int(at["attacks"])),
                _number(int(at["attacks_accepted"])),
                _number(at["apcer"]),
                _number(at["apcer_worst_type"]),
            ]
        ]
    attack_rows = []
    if at is not None and by_attack is not None and not by_attack.empty:
        for kind, rows in by_attack.groupby("attack_type", sort=True):
            row = row_at(rows, threshold)
            if row is not None:
                attack_rows.append(
                    [
                        str(kind),
                        _number(int(row["attacks"])),
                        _number(int(row["attacks_accepted"])),
                        _number(row["apcer"]),
                    ]
                )
    whole = [
        [_number(r["threshold"]), _number(r["apcer_worst_type"]), _number(r["apcer"]), _number(r["bpcer"])]
        for r in _every_ten(table).to_dict("records")
    ]
    return (
        '<section id="liveness" class="faces">\n<h2>Face Liveness</h2>\n'
        f'<p class="recommendation">{esc(text)}</p>\n'
        "<h3>At the recommended threshold</h3>\n"
        + _table(
            [
                "Threshold",
                "Live",
                "Live rejected",
                "BPCER",
                "Attacks",
                "Attacks accepted",
                "APCER",
                "APCER (worst type)",
            ],
            overall,
            text_columns=0,
        )
        + "<h3>By attack type</h3>\n"
        + _table(["Attack type", "Attacks", "Accepted", "APCER"], attack_rows)
        + '<p class="note">APCER: attacks accepted as live (Confidence at or above the threshold); '
        "BPCER: live people refused. The recommendation holds every attack type's APCER at the target.</p>\n"
        "<details><summary>APCER and BPCER at whole thresholds (every 10)</summary>\n"
        + _table(["Threshold", "APCER (worst type)", "APCER", "BPCER"], whole, text_columns=0)
        + "</details>\n</section>\n"
    )
