"""`rekognition-eval compare RUN_A RUN_B`: two runs on the same dataset, label by label.

Two backends (Rekognition and the local baseline) or two model versions answer the same images; what a
person wants to know is, per label, whether AP moved and how the recommended MinConfidence (and its
precision, recall and F1) changed. Runs are only comparable on the same images with the same ground
truth: anything else is refused with a UserError that says how many images differ. Images are matched
by content where both runs' images.csv record it (image_id: the sha256 of the bytes; else the cache key,
the same for the same bytes and request), so the same dataset copied to another folder is the same
dataset; by path otherwise. Differences that do not stop a comparison (other analysis options, other
request parameters or floors, images one run failed on, labels in one run only) are listed as warnings
on every output: compare.csv, compare.md and compare.html. A recommended MinConfidence is shown as the
runs' thresholds.yaml write it (see evaluation.reports.recommended).
"""

from __future__ import annotations

import html
import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from evaluation.errors import UserError
from evaluation.operations.base import markdown_code, markdown_text
from evaluation.reports.html import number, page_start, script_body, script_json
from evaluation.reports.paired import paired_tests, threshold_table
from evaluation.reports.recommended import confidence_text, min_confidence
from evaluation.runfolder import IDENTITY_PARAMETERS, NUMERIC, RunFolder, atomic_write

AP_TOLERANCE = 0.01  # without scores.parquet (older runs): an AP change smaller than this is "same"
SIGNIFICANCE = 0.05  # McNemar's exact p-value below this: the decisions really changed
THRESHOLD_TOLERANCE = 0.005  # MinConfidence changes smaller than this are not worth a line
MAX_MD_ROWS = 20
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
    "min_confidence_a",
    "min_confidence_b",
    "precision_a",
    "precision_b",
    "recall_a",
    "recall_b",
    "f1_a",
    "f1_b",
    "f1_change",
    "status_a",
    "status_b",
    "decided_at",
    "images_paired",
    "only_a_right",
    "only_b_right",
    "p_value",
    "effect",
    "verdict",
    "change",
)
OPTIONS_THAT_MATTER = ("objective", "min_support", "use_parents", "label_map")
MATCHED_BY = {
    "image_id": "by content (the sha256 of each image's bytes)",
    "cache_key": "by cache key (the same bytes asked with the same request)",
    None: "by path",
}


def _examples(names: set[str], count: int = 2) -> str:
    return ", ".join(sorted(names)[:count])


def _shared_folder(paths: pd.Series) -> str:
    """The folder every path of a run is under ("" when none is shared), written with a final "/"."""
    if paths.empty:
        return ""
    shared = str(paths.iloc[0]).split("/")[:-1]
    for path in paths.iloc[1:]:
        parts = str(path).split("/")[:-1]
        size = next(
            (i for i, (x, y) in enumerate(zip(shared, parts, strict=False)) if x != y),
            min(len(shared), len(parts)),
        )
        shared = shared[:size]
        if not shared:
            return ""
    return "/".join(shared) + "/"


def _relative(paths: pd.Series) -> pd.Series:
    """Paths relative to the folder they share."""
    paths = paths.astype(str)
    return paths.str[len(_shared_folder(paths)) :]


def _has(images: pd.DataFrame, column: str) -> bool:
    return column in images.columns and bool((images[column] != "").any())


def identities(images: pd.DataFrame, column: str | None) -> pd.Series:
    """Each images.csv row's identity for matching two runs.

    By `column` (image_id or cache_key): that value, and for a row without one (an image rejected before
    it was read) its path relative to the folder all the run's images share. By path (None): the path.
    The same content under several names gets one identity per copy, in the order of their names.
    """
    paths = images["image"].astype(str)
    if column is None:
        keys = paths
        names = paths
    else:
        names = _relative(paths)
        values = images[column].astype(str)
        if column == "image_id":  # a converted or shrunk image is still the same image
            values = values.map(lambda value: re.sub(r"\+.*$", "", value))
        keys = pd.Series(np.where(values != "", "id:" + values, "name:" + names), index=images.index)
    order = pd.DataFrame({"key": keys, "name": names}).sort_values(["key", "name"], kind="stable")
    copy = order.groupby("key", sort=False).cumcount().reindex(images.index)
    return keys.where(copy == 0, keys + "#" + copy.astype(str))


def match_images(a: RunFolder, b: RunFolder) -> tuple[str | None, pd.Series, pd.Series]:
    """(how, A's identities, B's identities): by content where both runs record it, else by path.

    The first way under which both runs have the same images wins; when none does, the differences are
    counted by content if both runs record it (other images), else by path.
    """
    ways: list[str | None] = [column for column in ("image_id", "cache_key") if _has(a.images, column)]
    ways = [column for column in ways if _has(b.images, column)] + [None]
    tried = []
    for way in ways:
        keys_a, keys_b = identities(a.images, way), identities(b.images, way)
        if set(keys_a) == set(keys_b):
            return way, keys_a, keys_b
        tried.append((way, keys_a, keys_b))
    return tried[0] if ways[0] == "image_id" else tried[-1]


def _decoded_truth(text: str) -> frozenset[str]:
    """An images.csv ground-truth cell, whether written as a JSON list or as names joined by ";"."""
    text = (text or "").strip()
    if text.startswith("["):
        try:
            value = json.loads(text)
        except ValueError:
            value = None
        if isinstance(value, list):
            return frozenset(str(name) for name in value)
    return frozenset(part for part in text.split(";") if part)


def _request_warnings(a: RunFolder, b: RunFolder) -> list[str]:
    """Other request parameters (MinConfidence, MaxLabels...) or another floor: the curves differ."""
    warnings = []
    request_a, request_b = a.request, b.request
    for key in sorted((set(request_a) & set(request_b)) - IDENTITY_PARAMETERS):
        if request_a[key] != request_b[key]:
            value_a, value_b = (
                f"{value:g}" if isinstance(value, float) else str(value)
                for value in (request_a[key], request_b[key])
            )
            warnings.append(f"the runs asked with different {key} ({value_a} in A, {value_b} in B)")
    floor_a, floor_b = a.evaluated_from, b.evaluated_from
    if floor_a is not None and floor_b is not None and floor_a != floor_b:
        high = max(floor_a, floor_b)
        low_run = "A" if floor_a < floor_b else "B"
        warnings.append(
            f"run A was evaluated from confidence {floor_a:g}, run B from {floor_b:g}: below {high:g} only "
            f"{low_run} has answers, so AP (which sums over every threshold evaluated) and any MinConfidence "
            f"below {high:g} are not comparable"
        )
    return warnings


def check_comparable(a: RunFolder, b: RunFolder) -> list[str]:
    """Refuse runs on different images or different ground truth; return the warnings for the rest."""
    if a.path.resolve() == b.path.resolve():
        raise UserError(f"RUN_A and RUN_B are the same folder ({a.path}): compare two different runs")
    way, keys_a, keys_b = match_images(a, b)
    path_a = dict(zip(keys_a, a.images["image"], strict=True))
    path_b = dict(zip(keys_b, b.images["image"], strict=True))
    only_a, only_b = set(keys_a) - set(keys_b), set(keys_b) - set(keys_a)
    if only_a or only_b:
        hint = ""
        if way is None and set(_relative(a.images["image"])) == set(_relative(b.images["image"])):
            hint = (
                "; they have the same file names in other folders: if these are copies of the same "
                "images, run both again with this version (answers come from the cache, no new calls) "
                "so that images.csv records each image's content"
            )
        raise UserError(
            f"{a.path} and {b.path} are not runs on the same dataset: {len(only_a) + len(only_b)} of "
            f"{len(only_a | only_b | (set(keys_a) & set(keys_b)))} images differ, matched "
            f"{MATCHED_BY[way]} ({len(only_a)} only in A"
            + (f", e.g. {_examples({path_a[key] for key in only_a})}" if only_a else "")
            + f"; {len(only_b)} only in B"
            + (f", e.g. {_examples({path_b[key] for key in only_b})}" if only_b else "")
            + ")"
            + hint
        )
    truth_a = pd.Series([_decoded_truth(t) for t in a.images["labels"]], index=keys_a.to_numpy())
    truth_b = pd.Series([_decoded_truth(t) for t in b.images["labels"]], index=keys_b.to_numpy())
    truth_b = truth_b.reindex(truth_a.index)
    differ = [key for key in truth_a.index if truth_a[key] != truth_b[key]]
    if differ:
        first = differ[0]

        def shown(truth: frozenset[str]) -> str:
            return ";".join(sorted(truth))

        raise UserError(
            f"{a.path} and {b.path} have the same images but different ground truth for {len(differ)} of "
            f"{len(truth_a)} (e.g. {path_a[first]}: {shown(truth_a[first])!r} in A, "
            f"{shown(truth_b[first])!r} in B)"
        )
    warnings = []
    if way is not None and set(a.images["image"]) != set(b.images["image"]):
        warnings.append(
            f"images matched {MATCHED_BY[way]}, not by path: A read them under "
            f"{_shared_folder(a.images['image']) or 'several folders'}, B under "
            f"{_shared_folder(b.images['image']) or 'several folders'}"
        )
    for option in OPTIONS_THAT_MATTER:
        value_a, value_b = a.summary.get(option), b.summary.get(option)
        if value_a != value_b:
            warnings.append(
                f"the runs were analysed with different {option} ({value_a} in A, {value_b} in B): "
                "recommended thresholds differ for that reason too; `rekognition-eval report` can "
                "recompute one with the other's options"
            )
    warnings += _request_warnings(a, b)
    answered_a = a.images["status"].isin(("called", "cached")).to_numpy()
    answered_b = b.images["status"].isin(("called", "cached")).to_numpy()
    evaluated_a, evaluated_b = set(keys_a[answered_a]), set(keys_b[answered_b])
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
    if row.get("p_value") is not None and not math.isnan(row["p_value"]):
        if row["p_value"] >= SIGNIFICANCE:
            return "same"
        return "better in B" if row["effect"] > 0 else "better in A"
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


def _signed(value: float) -> str:
    """A change of MinConfidence with the digits it needs (at most 4 decimals): +4.5, -0.0007."""
    text = f"{value:+.4f}".rstrip("0").rstrip(".")
    return "0" if text in ("+0", "-0") else text


def _change(row: dict[str, Any]) -> str:
    """What changed, in words: the AP, the recommended MinConfidence, the status."""
    if row["_in"] != "both":
        return row["verdict"]
    parts = []
    tested = row.get("p_value") is not None and not math.isnan(row["p_value"])
    if tested and (row["only_a_right"] or row["only_b_right"]):
        parts.append(
            f"decisions at the {row['decided_at']} threshold: {row['only_b_right']} image(s) right only "
            "in B, "
            f"{row['only_a_right']} only in A (McNemar p {row['p_value']:.3g})"
        )
    if not math.isnan(row["ap_change"]) and abs(row["ap_change"]) >= 0.0005:
        parts.append(f"AP {row['ap_change']:+.3f}")
    before, after = row["threshold_a"], row["threshold_b"]
    if math.isnan(before) != math.isnan(after) or (
        not math.isnan(before) and abs(after - before) >= THRESHOLD_TOLERANCE
    ):
        use_a, use_b = row["min_confidence_a"], row["min_confidence_b"]
        moved = "" if use_a is None or use_b is None else f" ({_signed(use_b - use_a)})"
        parts.append(f"MinConfidence {confidence_text(use_a)} → {confidence_text(use_b)}{moved}")
    if row["status_a"] != row["status_b"]:
        parts.append(f"status {row['status_a']} → {row['status_b']}")
    return "; ".join(parts) or "no change"


def compare_labels(a: RunFolder, b: RunFolder, deployed: dict[str, Any] | None = None) -> pd.DataFrame:
    """One row per label of either run (A's order, then B's own): both sides, the changes, a verdict.

    The verdict is McNemar's exact test on the images whose decision changed (see `paired_tests`): better
    in B or A when p < SIGNIFICANCE, else same; by AP change only for runs without scores.parquet."""
    keep = ["label", *NUMERIC, "threshold_low", "status"]

    def side(run: RunFolder) -> pd.DataFrame:
        labels = run.labels
        if "threshold_low" not in labels.columns:
            labels = labels.assign(threshold_low=np.nan)
        return labels[keep]

    merged = side(a).merge(
        side(b), on="label", how="outer", suffixes=("_a", "_b"), indicator="_in", sort=False
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
        for name in ("a", "b"):  # what each run's thresholds.yaml says to use
            threshold, low = row[f"threshold_{name}"], row[f"threshold_low_{name}"]
            row[f"min_confidence_{name}"] = min_confidence(threshold, low)
    _, keys_a, keys_b = match_images(a, b)
    tests = paired_tests(a, b, pd.DataFrame(rows), (keys_a, keys_b), deployed)
    for row in rows:
        test = tests.get(row["label"]) if row["_in"] == "both" else None
        row.update(
            decided_at=test["decided_at"] if test else None,
            images_paired=test["images"] if test else None,
            only_a_right=test["only_a_right"] if test else None,
            only_b_right=test["only_b_right"] if test else None,
            p_value=test["p_value"] if test else math.nan,
            effect=test["effect"] if test else math.nan,
        )
        row["verdict"] = _verdict(row)
        row["change"] = _change(row)
    table = pd.DataFrame(rows, columns=[*COMPARE_COLUMNS, "_in"]).drop(columns="_in")
    for name in ("support_a", "support_b", "images_paired", "only_a_right", "only_b_right"):
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
        f"{counts['compared']} label(s) in both runs: better in B for {counts['better_in_b']}, "
        f"better in A for {counts['better_in_a']}, "
        f"no significant change for {counts['same']} (McNemar's exact test on the images whose decision "
        f"changed, p < {SIGNIFICANCE:g}; by AP within {AP_TOLERANCE:g} for runs without scores.parquet)"
        + (f"; median AP change {median:+.3f}" if median is not None else "")
        + f". Recommended MinConfidence raised for {counts['thresholds_raised']}, lowered for "
        f"{counts['thresholds_lowered']}; status changed for {counts['status_changed']}."
    )


def render_compare_markdown(a: RunFolder, b: RunFolder, table: pd.DataFrame, warnings: list[str]) -> str:
    counts = summarise(table)
    lines = [
        f"# Comparison: {markdown_text(a.title)} (A) vs {markdown_text(b.title)} (B)",
        "",
        *[
            f"- {name}: {markdown_code(run.path)} "
            f"({markdown_text(run.summary.get('dataset', {}).get('name', '?'))}, "
            f"{markdown_text(run.summary.get('created_at') or '–')})"
            for name, run in (("A", a), ("B", b))
        ],
        "",
        _summary_sentence(counts),
        "",
    ]
    if warnings:
        lines += ["## Warnings", "", *[f"- {markdown_text(text)}" for text in warnings], ""]
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
                confidence_text(row["min_confidence_a"]),
                confidence_text(row["min_confidence_b"]),
                _text(row["f1_a"], 3),
                _text(row["f1_b"], 3),
                row["change"],
            ]
            lines.append("| " + " | ".join(markdown_text(cell) for cell in cells) + " |")
        lines.append("")
    lines += ["Files: `compare.csv` (every label, both runs), `compare.html` (sortable, filterable).", ""]
    return "\n".join(lines)


def compare_data(a: RunFolder, b: RunFolder, table: pd.DataFrame, warnings: list[str]) -> dict[str, Any]:
    """What compare.html embeds: the table, the summary counts and the warnings."""
    text = ("label", "status_a", "status_b", "verdict", "change", "decided_at")
    exact = ("min_confidence_a", "min_confidence_b")  # every digit: rounding could move them out of range
    rows = [
        {
            name: value
            if name in text
            else (None if value is None else float(value))
            if name in exact
            else number(value)
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
    script = script_body("table.js", "compare.js")
    return f"""{page_start(title, scripts=[script])}
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
<p class="note">Δ is B minus A. "Better" means McNemar's exact test on the images whose decision changed
at the threshold gives p &lt; {SIGNIFICANCE:g} (runs without scores.parquet: AP moved by at least
{AP_TOLERANCE:g}). MinConf is the value
to use, as each run's thresholds.yaml has it (rounded down, never up: it keeps every image at the recommended
confidence). A dash is an undefined value, never a zero.</p>
</section>
</main>
<script type="application/json" id="compare-data">{script_json(data)}</script>
<script>{script}</script>
</body>
</html>
"""


def default_compare_dir(a: Path, b: Path, reports_dir: str | Path = "reports") -> Path:
    return Path(reports_dir) / f"compare-{a.resolve().name}-vs-{b.resolve().name}"


def write_compare(
    run_a: str | Path,
    run_b: str | Path,
    out_dir: str | Path | None = None,
    *,
    deployed: dict[str, Any] | None = None,
) -> tuple[Path, dict]:
    """Compare two run folders; writes compare.csv, compare_thresholds.csv, compare.md and compare.html.
    Returns the folder and the summary counts. `deployed` (a thresholds.yaml) fixes the thresholds the
    paired test judges both runs at."""
    a, b = RunFolder.load(run_a), RunFolder.load(run_b)
    warnings = check_comparable(a, b)
    if a.scores() is None or b.scores() is None:
        warnings.append(
            "a run has no scores.parquet (written by an older version): verdicts use the AP change, "
            "without a paired test; run `rekognition-eval report RUN` to add it"
        )
    table = compare_labels(a, b, deployed)
    out = Path(out_dir) if out_dir else default_compare_dir(a.path, b.path)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write(out / "compare.csv", table.to_csv(index=False))
    thresholds = threshold_table(a, b)
    if thresholds is not None:
        atomic_write(out / "compare_thresholds.csv", thresholds.to_csv(index=False))
    atomic_write(out / "compare.md", render_compare_markdown(a, b, table, warnings))
    atomic_write(out / "compare.html", render_compare_html(a, b, table, warnings))
    return out, {**summarise(table), "warnings": warnings}
