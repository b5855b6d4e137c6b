"""Writing a run folder's large files in bounded memory: CSVs a chunk of rows at a time, the exact
curves as Parquet, the answers judged as gzipped JSON lines a chunk of answers at a time. Each is
written beside and renamed, so a reader never sees half a file.
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

CURVES_FILE = "curves.parquet"
CURVES_CSV_FILE = "curves.csv"
# The raw answers the run judged, one {"key", "response"} per answered image: what `report` needs when the
# response cache is not there (a copied folder). Only this run's answers, gzipped: not the whole cache.
ANSWERS_FILE = "answers.jsonl.gz"


CSV_CHUNK_ROWS = 200_000


def write_csv(path: Path, table: Any) -> None:
    """A CSV written a bounded number of rows at a time (the same bytes as one `to_csv`), then renamed.

    `table` is a DataFrame, or anything with `chunks()` of DataFrames and `columns` (a ChunkedFrame)."""
    temporary = path.with_name(path.name + ".tmp")
    if isinstance(table, pd.DataFrame):
        chunks: Iterable[pd.DataFrame] = (
            table.iloc[start : start + CSV_CHUNK_ROWS]
            for start in range(0, max(len(table), 1), CSV_CHUNK_ROWS)
        )
    else:
        chunks = table.chunks()
    with temporary.open("w", encoding="utf-8", newline="") as handle:
        header = True
        for chunk in chunks:
            chunk.to_csv(handle, index=False, header=header)
            header = False
        if header:  # no chunk at all: the header alone, as an empty table writes it
            pd.DataFrame(columns=table.columns).to_csv(handle, index=False)
    os.replace(temporary, path)


def write_curves(out_dir: Path, curves: pd.DataFrame, *, csv: bool = False) -> None:
    """curves.parquet: one row per distinct confidence per label, millions at scale, so a columnar file
    (a fraction of CSV's size and write time, read back exactly); curves.csv too when asked for, else a
    curves.csv left by an earlier write is removed so the folder never holds two different curves."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    temporary = out_dir / (CURVES_FILE + ".tmp")
    pq.write_table(pa.Table.from_pandas(curves, preserve_index=False), temporary, compression="zstd")
    os.replace(temporary, out_dir / CURVES_FILE)
    if csv:
        write_csv(out_dir / CURVES_CSV_FILE, curves)
    else:
        (out_dir / CURVES_CSV_FILE).unlink(missing_ok=True)


def read_curves(run_dir: str | Path) -> pd.DataFrame:
    """The exact curves of a run folder: curves.parquet, or curves.csv in folders written before it."""
    run_dir = Path(run_dir)
    if (run_dir / CURVES_FILE).is_file():
        return pd.read_parquet(run_dir / CURVES_FILE)
    return pd.read_csv(run_dir / CURVES_CSV_FILE, keep_default_na=False, na_values=[""])


def write_answers(path: Path, responses: Mapping[str, Any]) -> None:
    """answers.jsonl.gz written a chunk of answers at a time (the bytes of `answers_bytes`), then renamed:
    a million answers are never all in memory (a lazy mapping reads them in chunks: `chunks(keys)`)."""
    temporary = path.with_name(path.name + ".tmp")
    with temporary.open("wb") as handle:
        write_answers_to(handle, responses)
    os.replace(temporary, path)


def write_answers_to(handle: Any, responses: Mapping[str, Any]) -> None:
    keys = sorted(responses)
    chunks = getattr(responses, "chunks", None)
    items = chunks(keys) if chunks is not None else ((key, responses[key]) for key in keys)
    start = handle.tell()
    with gzip.GzipFile(fileobj=handle, mode="wb", mtime=0, filename="") as packed:
        lines: list[str] = []
        for key, response in items:
            record = {"key": key, "response": response}
            lines.append(json.dumps(record, sort_keys=True, ensure_ascii=False, default=str) + "\n")
            if len(lines) >= 5000:
                packed.write("".join(lines).encode("utf-8"))
                lines = []
        packed.write("".join(lines).encode("utf-8"))
    # the header's OS byte as gzip.compress writes it, so the file has the bytes of a one-shot compress
    end = handle.tell()
    handle.seek(start + 9)
    handle.write(gzip.compress(b"", mtime=0)[9:10])
    handle.seek(end)
