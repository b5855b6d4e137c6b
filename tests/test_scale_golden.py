"""Golden check: on the same answers, every number of the run folder is what the code before the column
store, the Parquet curves and the chunked writers produced (hashes taken with that code, kept here).

3,000 generated images (tests/support/scale_answers.py: 30 labels each, 1-3 parents, aliases, instance
boxes), stored by `run --backend replay --answers`, then judged again by `report` with other options.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

VOLATILE = frozenset(
    {"created_at", "generated_at", "reanalysed_at", "wall_s", "cache", "source", "tool_version"}
)
# added after the golden digests were taken (issue 19's bootstrap: intervals.bootstrap names the method;
# its text, intervals.f1_min_confidence, is still compared and unchanged for the exact bootstrap)
NEWER = frozenset({"bootstrap"})
TABLES = ("images", "predictions", "metrics", "curves", "averages", "labels", "unjudged")


def _stable(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _stable(item) for key, item in value.items() if key not in VOLATILE | NEWER}
    if isinstance(value, list):
        return [_stable(item) for item in value]
    return value


def _digest(text: str | bytes) -> str:
    return hashlib.sha256(text.encode("utf-8") if isinstance(text, str) else text).hexdigest()[:16]


def read_table(run_dir: Path, name: str) -> str:
    """The table as CSV text (curves exported from curves.parquet when there is no curves.csv;
    predictions.csv, which Arrow writes with every text quoted, in pandas' dialect)."""
    path = run_dir / f"{name}.csv"
    if path.is_file() and name == "predictions":  # written by Arrow: its values, in pandas' dialect
        texts = {"image": str, "label": str, "parents": str}
        frame = pd.read_csv(path, dtype=texts, keep_default_na=False)
        return frame.to_csv(index=False)
    if path.is_file():
        return path.read_text(encoding="utf-8")
    return pd.read_parquet(run_dir / f"{name}.parquet").to_csv(index=False)


def folder_digests(run_dir: Path, folder: str) -> dict[str, str]:
    """Digests of every table and document; the dataset's folder (in paths and the dataset's name) is
    replaced, so runs in two temporary folders compare."""

    def text(name: str) -> str:
        return name.replace(folder, "<DIR>").replace(Path(folder).name + "-dataset", "<DIR>-dataset")

    digests = {name: _digest(text(read_table(run_dir, name))) for name in TABLES}
    summary = json.loads(text((run_dir / "summary.json").read_text(encoding="utf-8")))
    digests["summary"] = _digest(json.dumps(_stable(summary), sort_keys=True))
    thresholds = yaml.safe_load(text((run_dir / "thresholds.yaml").read_text(encoding="utf-8")))
    digests["thresholds"] = _digest(json.dumps(_stable(thresholds), sort_keys=True))
    report = [
        line
        for line in text((run_dir / "report.md").read_text(encoding="utf-8")).splitlines()
        if not line.startswith(("| Created |", "| Dataset |")) and "curves." not in line
    ]
    digests["report.md"] = _digest("\n".join(report))
    return digests


# Taken with main's code before this change (answers stored by ResponseCache.put, `run --backend replay`,
# curves.csv), on the same 3,000 images; report.md lines naming the curves file are left out.
GOLDEN = {
    "run": {
        "images": "c892e695538b0225",
        "predictions": "2f345b6e1817dcf2",
        "metrics": "933369750a54cfa0",
        "curves": "e40b678442d83e7b",
        "averages": "8e2d03498ee19cd4",
        "labels": "42bfa49a6970f102",
        "unjudged": "1257c9a158f4a093",
        "summary": "d0a94c4e93d69507",
        "thresholds": "e9305d4515a0722e",
        "report.md": "f4f94d1935798aca",
    },
    "report": {
        "images": "c892e695538b0225",
        "predictions": "2f345b6e1817dcf2",
        "metrics": "59e389f4bebd0e1a",
        "curves": "2198f6a09af32063",
        "averages": "ff256c5566286058",
        "labels": "0ce0f7bb23e57d0c",
        "unjudged": "a3a4ca663c86d679",
        "summary": "0508dd14a04e06d8",
        "thresholds": "8b5110e77ee4f736",
        "report.md": "ebff20a8e0afc781",
    },
}


def test_run_and_report_match_the_code_before_the_column_store(tmp_path: Path) -> None:
    from evaluation.cli import main
    from tests.support.scale_answers import vocabulary, write_files

    folder = tmp_path / "golden"
    answers, dataset = write_files(folder, 3000)
    cache = folder / "cache.sqlite"
    run = [
        "run", "--backend", "replay", "--answers", str(answers), "--dataset", str(dataset),
        "--cache", str(cache), "--out", str(folder / "run"), "--quiet",
    ]  # fmt: skip
    assert main(run) == 0
    assert folder_digests(folder / "run", str(folder)) == GOLDEN["run"]

    names = vocabulary()
    label_map = folder / "map.yaml"
    label_map.write_text(yaml.safe_dump({names[70]: [names[3], names[70]], names[71]: names[5]}))
    report = [
        "report", str(folder / "run"), "--out", str(folder / "run2"), "--no-parents", "--label-map",
        str(label_map), "--objective", "precision>=0.9", "--min-support", "5", "--curves-csv",
    ]  # fmt: skip
    main(report)
    assert (folder / "run2" / "curves.csv").is_file()
    assert folder_digests(folder / "run2", str(folder)) == GOLDEN["report"]
    # the exported CSV is the Parquet file's rows, byte for byte
    exported = pd.read_parquet(folder / "run2" / "curves.parquet").to_csv(index=False)
    assert (folder / "run2" / "curves.csv").read_text(encoding="utf-8") == exported
