"""`rekognition-eval compare RUN_A RUN_B`: two runs on the same dataset, label by label.

Two backends (Rekognition and the local baseline) or two model versions answer the same images; what a
person wants to know is, per label, whether AP moved and how the recommended MinConfidence (and its
precision, recall and F1) changed. Runs are only comparable on the same images with the same ground
truth: anything else is refused with a UserError that says how many images differ. Differences that
do not stop a comparison (other analysis options, images one run failed on, labels in one run only) are
listed as warnings on every output: compare.csv, compare.md and compare.html.
"""

from __future__ import annotations

import html
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from evaluation.errors import UserError
from evaluation.reports.html import CONTENT_SECURITY_POLICY, asset, number, script_json

AP_TOLERANCE = 0.01  # an AP change smaller than this is "same": noise, not a better model
THRESHOLD_TOLERANCE = 0.005  # MinConfidence changes smaller than this are not worth a line
MAX_MD_ROWS = 20
NUMERIC = ("support", "ap", "threshold", "precision", "recall", "f1")
COMPARE_COLUMNS = (
    "label",
    "support_a",
    "support_b",
    "ap_a",
    "ap_b",
    "ap_change",
    "threshold_a",
    "threshold_b",
    "threshold_change",
    "precision_a",
    "precision_b",
    "recall_a",
    "recall_b",
    "f1_a",
    "f1_b",
    "f1_change",
    "status_a",
    "status_b",
    "verdict",
    "change",
)
OPTIONS_THAT_MATTER = ("objective", "min_support", "use_parents", "label_map")


@dataclass(frozen=True)
class RunFolder:
    """What compare reads from a run folder: its summary, its recommendations and its images."""

    path: Path
    summary: dict[str, Any]
    labels: pd.DataFrame
    images: pd.DataFrame = field(repr=False)

    @classmethod
    def load(cls, path: str | Path) -> RunFolder:
        path = Path(path)
        missing = [
            name for name in ("summary.json", "labels.csv", "images.csv") if not (path / name).is_file()
        ]
        if missing:
            raise UserError(f"{path} is not a run folder (no {', '.join(missing)} in it)")
        try:
            summary = json.loads((path / "summary.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise UserError(f"{path / 'summary.json'}: cannot read it: {exc}") from None
        labels = pd.read_csv(path / "labels.csv", dtype=str, keep_default_na=False)  # a label "NA" stays
        for name in NUMERIC:
            if name not in labels.columns:
                raise UserError(f"{path / 'labels.csv'} has no column {name!r}: was it written by this tool?")
            labels[name] = pd.to_numeric(labels[name].replace("", np.nan), errors="coerce")
        images = pd.read_csv(path / "images.csv", dtype=str, keep_default_na=False)
        for name in ("image", "labels", "status"):
            if name not in images.columns:
                raise UserError(f"{path / 'images.csv'} has no column {name!r}: was it written by this tool?")
        return cls(path=path, summary=summary, labels=labels, images=images)

    @property
    def title(self) -> str:
        """Backend and model version(s), the usual reason to compare two runs."""
        versions = ", ".join(self.summary.get("model_versions") or []) or "no model version"
        return f"{self.summary.get('backend') or '?'} {versions}"

    def facts(self) -> list[tuple[str, str]]:
        summary = self.summary
        images = summary.get("images", {})
        return [
            ("Folder", str(self.path)),
            ("Backend", f"{summary.get('backend') or '–'} · {summary.get('operation') or '–'}"),
            ("Model version(s)", ", ".join(summary.get("model_versions") or []) or "–"),
            ("Images", f"{images.get('evaluated', '?')} evaluated of {images.get('total', '?')}"),
            ("Objective", f"{summary.get('objective')}, minimum support {summary.get('min_support')}"),
            ("Date", str(summary.get("created_at") or "–")),
        ]


def _examples(names: set[str], count: int = 2) -> str:
    return ", ".join(sorted(names)[:count])


def check_comparable(a: RunFolder, b: RunFolder) -> list[str]:
    """Refuse runs on different images or different ground truth; return the warnings for the rest."""
    if a.path.resolve() == b.path.resolve():
        raise UserError(f"RUN_A and RUN_B are the same folder ({a.path}): compare two different runs")
    images_a, images_b = set(a.images["image"]), set(b.images["image"])
    only_a, only_b = images_a - images_b, images_b - images_a
    if only_a or only_b:
        raise UserError(
            f"{a.path} and {b.path} are not runs on the same dataset: {len(only_a) + len(only_b)} of "
            f"{len(images_a | images_b)} images differ ({len(only_a)} only in A"
            + (f", e.g. {_examples(only_a)}" if only_a else "")
            + f"; {len(only_b)} only in B"
            + (f", e.g. {_examples(only_b)}" if only_b else "")
            + ")"
        )
    truth_a = a.images.drop_duplicates("image").set_index("image")["labels"]
    truth_b = b.images.drop_duplicates("image").set_index("image")["labels"].reindex(truth_a.index)
    differ = truth_a.index[truth_a != truth_b]
    if len(differ):
        first = differ[0]
        raise UserError(
            f"{a.path} and {b.path} have the same images but different ground truth for {len(differ)} of "
            f"{len(truth_a)} (e.g. {first}: {truth_a[first]!r} in A, {truth_b[first]!r} in B)"
        )
    warnings = []
    for option in OPTIONS_THAT_MATTER:
        value_a, value_b = a.summary.get(option), b.summary.get(option)
        if value_a != value_b:
            warnings.append(
                f"the runs were analysed with different {option} ({value_a} in A, {value_b} in B): "
                "recommended thresholds differ for that reason too; `rekognition-eval report` can "
                "recompute one with the other's options"
            )
    evaluated_a = set(a.images.loc[a.images["status"].isin(("called", "cached")), "image"])
    evaluated_b = set(b.images.loc[b.images["status"].isin(("called", "cached")), "image"])
    if evaluated_a != evaluated_b:
        warnings.append(
            f"{len(evaluated_a - evaluated_b)} image(s) were evaluated only in A and "
            f"{len(evaluated_b - evaluated_a)} only in B (the others failed or were skipped): "
            "the numbers are not over exactly the same images"
        )
    labels_a, labels_b = set(a.labels["label"]), set(b.labels["label"])
    for name, only in (("A", labels_a - labels_b), ("B", labels_b - labels_a)):
        if only:
            warnings.append(f"{len(only)} label(s) only in {name}: {_examples(only, 5)}")
    if a.summary.get("backend") == b.summary.get("backend") and a.summary.get(
        "model_versions"
    ) == b.summary.get("model_versions"):
        warnings.append("both runs used the same backend and model version(s)")
    return warnings


def _delta(after: pd.Series, before: pd.Series) -> pd.Series:
    return after - before


def _verdict(row: dict[str, Any]) -> str:
    if row["_in"] != "both":
        return "only in A" if row["_in"] == "left_only" else "only in B"
    change = row["ap_change"]
    if change is None or (isinstance(change, float) and math.isnan(change)):
        return "undefined"
    if change >= AP_TOLERANCE:
        return "better in B"
    if change <= -AP_TOLERANCE:
        return "better in A"
    return "same"


def _text(value: Any, digits: int) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def _change(row: dict[str, Any]) -> str:
    """What changed, in words: the AP, the recommended MinConfidence, the status."""
    if row["_in"] != "both":
        return row["verdict"]
    parts = []
    if not math.isnan(row["ap_change"]) and abs(row["ap_change"]) >= 0.0005:
        parts.append(f"AP {row['ap_change']:+.3f}")
    before, after = row["threshold_a"], row["threshold_b"]
    if math.isnan(before) != math.isnan(after) or (
        not math.isnan(before) and abs(after - before) >= THRESHOLD_TOLERANCE
    ):
        moved = "" if math.isnan(before) or math.isnan(after) else f" ({after - before:+.2f})"
        parts.append(f"MinConfidence {_text(before, 2)} → {_text(after, 2)}{moved}")
    if row["status_a"] != row["status_b"]:
        parts.append(f"status {row['status_a']} → {row['status_b']}")
    return "; ".join(parts) or "no change"


def compare_labels(a: RunFolder, b: RunFolder) -> pd.DataFrame:
    """One row per label of either run (A's order, then B's own): both sides, the changes, a verdict."""
    keep = ["label", *NUMERIC, "status"]
    merged = a.labels[keep].merge(
        b.labels[keep], on="label", how="outer", suffixes=("_a", "_b"), indicator="_in", sort=False
    )
    order: dict[str, int] = {}
    for label in [*a.labels["label"], *b.labels["label"]]:
        order.setdefault(label, len(order))
    merged = merged.assign(_order=merged["label"].map(order)).sort_values("_order", kind="stable")
    merged["ap_change"] = _delta(merged["ap_b"], merged["ap_a"])
    merged["threshold_change"] = _delta(merged["threshold_b"], merged["threshold_a"])
    merged["f1_change"] = _delta(merged["f1_b"], merged["f1_a"])
    merged["_in"] = merged["_in"].astype(str)
    merged[["status_a", "status_b"]] = merged[["status_a", "status_b"]].fillna("")
    rows = merged.to_dict("records")
    for row in rows:
        row["verdict"] = _verdict(row)
        row["change"] = _change(row)
    table = pd.DataFrame(rows, columns=[*COMPARE_COLUMNS, "_in"]).drop(columns="_in")
    for name in ("support_a", "support_b"):
        table[name] = table[name].astype("Int64")
    return table.reset_index(drop=True)


def summarise(table: pd.DataFrame) -> dict[str, Any]:
    """Counts a person reads first: how many labels got better or worse, and how thresholds moved."""
    both = table[~table["verdict"].isin(("only in A", "only in B"))]
    moved = both["threshold_change"].dropna()
    return {
        "labels": len(table),
        "compared": len(both),
        "better_in_b": int((both["verdict"] == "better in B").sum()),
        "better_in_a": int((both["verdict"] == "better in A").sum()),
        "same": int((both["verdict"] == "same").sum()),
        "median_ap_change": number(both["ap_change"].median()) if len(both) else None,
        "thresholds_raised": int((moved >= THRESHOLD_TOLERANCE).sum()),
        "thresholds_lowered": int((moved <= -THRESHOLD_TOLERANCE).sum()),
        "status_changed": int((both["status_a"] != both["status_b"]).sum()),
    }


def _summary_sentence(counts: dict[str, Any]) -> str:
    median = counts["median_ap_change"]
    return (
        f"{counts['compared']} label(s) in both runs: AP better in B for {counts['better_in_b']}, "
        f"better in A for {counts['better_in_a']}, "
        f"about the same (within {AP_TOLERANCE:g}) for {counts['same']}"
        + (f"; median AP change {median:+.3f}" if median is not None else "")
        + f". Recommended MinConfidence raised for {counts['thresholds_raised']}, lowered for "
        f"{counts['thresholds_lowered']}; status changed for {counts['status_changed']}."
    )


def render_compare_markdown(a: RunFolder, b: RunFolder, table: pd.DataFrame, warnings: list[str]) -> str:
    counts = summarise(table)
    lines = [
        f"# Comparison: {a.title} (A) vs {b.title} (B)",
        "",
        *[
            f"- {name}: `{run.path}` ({run.summary.get('dataset', {}).get('name', '?')}, "
            f"{run.summary.get('created_at') or '–'})"
            for name, run in (("A", a), ("B", b))
        ],
        "",
        _summary_sentence(counts),
        "",
    ]
    if warnings:
        lines += ["## Warnings", "", *[f"- {text}" for text in warnings], ""]
    changed = table[table["change"] != "no change"].copy()
    changed["_size"] = changed["ap_change"].abs().fillna(np.inf)
    top = changed.sort_values("_size", ascending=False, kind="stable").head(MAX_MD_ROWS)
    lines += [f"## Largest changes (by AP; {len(changed)} label(s) changed, all in compare.csv)", ""]
    if top.empty:
        lines += ["No label changed.", ""]
    else:
        lines += [
            "| Label | AP A | AP B | MinConfidence A | MinConfidence B | F1 A | F1 B | What changed |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for row in top.to_dict("records"):
            cells = [
                str(row["label"]),
                _text(row["ap_a"], 3),
                _text(row["ap_b"], 3),
                _text(row["threshold_a"], 2),
                _text(row["threshold_b"], 2),
                _text(row["f1_a"], 3),
                _text(row["f1_b"], 3),
                row["change"],
            ]
            lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
        lines.append("")
    lines += ["Files: `compare.csv` (every label, both runs), `compare.html` (sortable, filterable).", ""]
    return "\n".join(lines)


def compare_data(a: RunFolder, b: RunFolder, table: pd.DataFrame, warnings: list[str]) -> dict[str, Any]:
    """What compare.html embeds: the table, the summary counts and the warnings."""
    rows = [
        {
            name: (
                number(value) if name not in ("label", "status_a", "status_b", "verdict", "change") else value
            )
            for name, value in row.items()
        }
        for row in table.astype(object).where(table.notna(), None).to_dict("records")
    ]
    return {"rows": rows, "summary": summarise(table), "warnings": warnings, "a": a.title, "b": b.title}


def render_compare_html(a: RunFolder, b: RunFolder, table: pd.DataFrame, warnings: list[str]) -> str:
    escape = html.escape
    data = compare_data(a, b, table, warnings)
    title = f"Comparison: {a.title} (A) vs {b.title} (B)"

    def facts(run: RunFolder, name: str) -> str:
        items = "".join(f"<div><dt>{escape(k)}</dt><dd>{escape(v)}</dd></div>" for k, v in run.facts())
        return f'<h2>{name}: {escape(run.title)}</h2><dl class="facts">{items}</dl>'

    warning_items = "".join(f"<li>{escape(text)}</li>" for text in warnings)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{CONTENT_SECURITY_POLICY}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}</title>
<link rel="icon" href="data:,">
<style>{asset("report.css")}</style>
</head>
<body>
<header class="page">
<h1>{escape(title)}</h1>
{facts(a, "A")}
{facts(b, "B")}
</header>
<main>
<section id="summary">
<p>{escape(_summary_sentence(data["summary"]))}</p>
{f'<h2>Warnings</h2><ul class="warnings">{warning_items}</ul>' if warnings else ""}
</section>
<section id="labels">
<h2>Labels</h2>
<div class="controls">
<input type="search" id="label-filter" placeholder="filter labels" aria-label="filter labels">
<select id="verdict-filter" aria-label="filter by verdict">
<option value="">every label</option><option value="changed">changed</option>
<option value="better in B">better in B</option><option value="better in A">better in A</option>
<option value="status">status changed</option>
</select>
<span id="labels-count" class="note"></span>
</div>
<div class="scroll"><table id="compare-table" class="data"></table></div>
<p class="note">Δ is B minus A. "Better" means AP moved by at least {AP_TOLERANCE:g}. A dash is an undefined
value, never a zero.</p>
</section>
</main>
<script type="application/json" id="compare-data">{script_json(data)}</script>
<script>
{asset("table.js")}
{asset("compare.js")}
</script>
</body>
</html>
"""


def default_compare_dir(a: Path, b: Path, reports_dir: str | Path = "reports") -> Path:
    return Path(reports_dir) / f"compare-{a.resolve().name}-vs-{b.resolve().name}"


def _write(path: Path, text: str) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def write_compare(
    run_a: str | Path, run_b: str | Path, out_dir: str | Path | None = None
) -> tuple[Path, dict]:
    """Compare two run folders; writes compare.csv, compare.md and compare.html. Returns the folder and
    the summary counts."""
    a, b = RunFolder.load(run_a), RunFolder.load(run_b)
    warnings = check_comparable(a, b)
    table = compare_labels(a, b)
    out = Path(out_dir) if out_dir else default_compare_dir(a.path, b.path)
    out.mkdir(parents=True, exist_ok=True)
    _write(out / "compare.csv", table.to_csv(index=False))
    _write(out / "compare.md", render_compare_markdown(a, b, table, warnings))
    _write(out / "compare.html", render_compare_html(a, b, table, warnings))
    return out, {**summarise(table), "warnings": warnings}
