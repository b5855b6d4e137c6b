"""Writing a run folder's large files in bounded memory: CSVs a chunk of rows at a time, the exact
curves as Parquet, a table given in blocks (scores.parquet's) as Parquet a row group at a time, the
answers judged as gzipped JSON lines a chunk of answers at a time. Each is written beside and renamed,
so a reader never sees half a file.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import shutil
import tempfile
import threading
import weakref
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd

from evaluation.memory import give_back_freed_memory

CURVES_FILE = "curves.parquet"
CURVES_CSV_FILE = "curves.csv"
# The raw answers the run judged, one {"key", "response"} per answered image: what `report` needs when the
# response cache is not there (a copied folder). Only this run's answers, gzipped: not the whole cache.
ANSWERS_FILE = "answers.jsonl.gz"


CSV_CHUNK_ROWS = 200_000


def write_csv(path: Path, table: Any) -> None:
    """A CSV written a bounded number of rows at a time, then renamed.

    `table` is a DataFrame (the same bytes as one `to_csv`), anything with `frames(rows)`, its frame a
    chunk of rows at a time (a CurveTable: the same bytes), or anything with `chunks()` of Arrow tables
    of one schema and `columns` (a ChunkedFrame: a per-pair table of millions of rows, written by Arrow)."""
    temporary = path.with_name(path.name + ".tmp")
    if isinstance(table, pd.DataFrame):
        chunks: Iterable[pd.DataFrame] = (
            table.iloc[start : start + CSV_CHUNK_ROWS]
            for start in range(0, max(len(table), 1), CSV_CHUNK_ROWS)
        )
    elif hasattr(table, "frames"):  # a CurveTable: its frame made a chunk at a time (the same bytes)
        chunks = table.frames(CSV_CHUNK_ROWS)
    else:
        _write_large_csv(temporary, table)
        os.replace(temporary, path)
        return
    with temporary.open("w", encoding="utf-8", newline="") as handle:
        header = True
        for chunk in chunks:
            chunk.to_csv(handle, index=False, header=header)
            header = False
        if header:  # no chunk at all: the header alone, as an empty table writes it
            pd.DataFrame(columns=table.columns).to_csv(handle, index=False)
    os.replace(temporary, path)


def _write_large_csv(path: Path, table: Any) -> None:
    """A table of millions of rows (`chunks()` of Arrow tables) through Arrow's CSV writer, several times
    faster than pandas'. Its dialect differs only in quoting every text value (still RFC 4180: any CSV
    reader reads the same values) and in writing an exponent without padding (1e-7, not 1e-07)."""
    import pyarrow.csv as pa_csv

    options = pa_csv.WriteOptions(quoting_style="needed")
    writer = None
    try:
        for batch in table.chunks():
            if writer is None:
                writer = pa_csv.CSVWriter(str(path), batch.schema, write_options=options)
            writer.write_table(batch)
        if writer is None:  # no chunk at all: the header alone
            pd.DataFrame(columns=table.columns).to_csv(path, index=False)
    finally:
        if writer is not None:
            writer.close()
        give_back_freed_memory()  # the chunks' Arrow tables (this thread's pages of the pool)


def write_curves(out_dir: Path, curves: Any, *, csv: bool = False) -> None:
    """curves.parquet: one row per distinct confidence per label, millions at scale, so a columnar file
    (a fraction of CSV's size and write time, read back exactly); curves.csv too when asked for, else a
    curves.csv left by an earlier write is removed so the folder never holds two different curves.
    `curves` is the frame, or a CurveTable, whose frame is made and written a row group at a time."""
    write_parquet(out_dir / CURVES_FILE, curves if isinstance(curves, pd.DataFrame) else _ArrowBlocks(curves))
    if csv:
        write_csv(out_dir / CURVES_CSV_FILE, curves)
    else:
        (out_dir / CURVES_CSV_FILE).unlink(missing_ok=True)


# pyarrow's row group (pq.write_table's default row_group_size): a table given in blocks is written a
# row group at a time, with the bytes of the whole table written at once
PARQUET_ROW_GROUP_ROWS = 1024 * 1024


def write_parquet(path: Path, table: Any) -> None:
    """A large table as Parquet (zstd), written beside and renamed: a fraction of CSV's size and time.

    `table` is a DataFrame, or anything with `blocks(rows)`: the Arrow tables of one DataFrame converted
    by `pa.Table.from_pandas(frame, preserve_index=False)` (its schema and metadata), `rows` rows each but
    the last, made one at a time (a table of tens of millions of rows never held whole). Either way the
    bytes of `pq.write_table` given the whole table: its row groups, schema and dictionaries."""
    import pyarrow as pa  # imported when a table is written: `import evaluation` stays light
    import pyarrow.parquet as pq

    temporary = path.with_name(path.name + ".tmp")
    if isinstance(table, pd.DataFrame):
        pq.write_table(pa.Table.from_pandas(table, preserve_index=False), temporary, compression="zstd")
        os.replace(temporary, path)
        return
    rows = PARQUET_ROW_GROUP_ROWS
    writer, written = None, 0
    try:
        for block in table.blocks(rows):
            if writer is None:
                writer = pq.ParquetWriter(temporary, block.schema, compression="zstd")
            elif written % rows:  # a row group cut short before this block: not the whole table's bytes
                raise ValueError(f"a block of {block.num_rows} rows after {written}, not a row group's end")
            writer.write_table(block, row_group_size=rows)
            written += block.num_rows
        if writer is None:
            raise ValueError("a table in blocks gave none (an empty table is one block of no rows)")
        writer.close()
    except BaseException:
        if writer is not None:
            writer.close()
        temporary.unlink(missing_ok=True)
        raise
    finally:
        give_back_freed_memory()  # the blocks' Arrow arrays (this thread's pages of the pool)
    os.replace(temporary, path)


class _ArrowBlocks:
    """A table that makes its frame a block of rows at a time (`frames(rows)`), as write_parquet takes
    it: each block converted as the whole frame is (the same schema, metadata and dictionary)."""

    def __init__(self, table: Any) -> None:
        self._table = table

    def blocks(self, rows: int) -> Iterable[Any]:
        import pyarrow as pa

        for frame in self._table.frames(rows):
            yield pa.Table.from_pandas(frame, preserve_index=False)


def read_curves(run_dir: str | Path) -> pd.DataFrame:
    """The exact curves of a run folder: curves.parquet, or curves.csv in folders written before it."""
    run_dir = Path(run_dir)
    if (run_dir / CURVES_FILE).is_file():
        return pd.read_parquet(run_dir / CURVES_FILE)
    return pd.read_csv(run_dir / CURVES_CSV_FILE, keep_default_na=False, na_values=[""])


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def write_answers(path: Path, responses: Mapping[str, Any]) -> None:
    """answers.jsonl.gz written a chunk of answers at a time (the bytes of `answers_bytes`), then renamed:
    a million answers are never all in memory (a lazy mapping gives their stored text: `raw_chunks`)."""
    if isinstance(responses, AnswersAhead) and responses.move_to(path):
        return
    source = getattr(responses, "source", None)  # a run folder's existing answers file, taken as it is
    if source is not None and Path(source).is_file():
        if not (path.exists() and os.path.samefile(source, path)):
            temporary = path.with_name(path.name + ".tmp")
            shutil.copyfile(source, temporary)
            os.replace(temporary, path)
        return
    temporary = path.with_name(path.name + ".tmp")
    with temporary.open("wb") as handle:
        write_answers_to(handle, responses)
    os.replace(temporary, path)


class AnswersOf(Mapping[str, Any]):
    """A run's answers as another mapping of them gives them, with something more to say about their
    file (a subclass says what)."""

    def __init__(self, answers: Mapping[str, Any]) -> None:
        self.answers = answers

    def __len__(self) -> int:
        return len(self.answers)

    def __iter__(self) -> Iterator[str]:
        return iter(self.answers)

    def __getitem__(self, key: str) -> Any:
        return self.answers[key]


class AnswersAhead(AnswersOf):
    """A run's answers (a mapping, lazy with `raw_chunks` as the stored ones are) whose answers.jsonl.gz
    a thread of its own writes as soon as they are all stored, into a hidden file in `directory`, while
    the analysis runs on the other core: at a million answers compressing them is about a minute that
    the run folder's write no longer waits for. `write_answers` moves the file into the run folder. A
    file never moved is removed by `discard`, when the mapping is let go, or at exit."""

    def __init__(self, answers: Mapping[str, Any], directory: Path) -> None:
        super().__init__(answers)
        handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 (the thread closes it)
            dir=directory, prefix=".answers-", suffix=".jsonl.gz.tmp", delete=False
        )
        self.path = Path(handle.name)
        self._stop = threading.Event()
        self._failed: list[BaseException] = []
        self._removal = weakref.finalize(self, _remove_ahead, self._stop, self.path)
        self._thread = threading.Thread(
            target=_write_ahead, args=(handle, answers, self._stop, self._failed), name="answers-ahead"
        )
        self._thread.daemon = True  # a run stopped at exit leaves nothing to wait for
        self._thread.start()

    def raw_chunks(self, keys: Sequence[str], **chunking: Any) -> Iterator[tuple[str, str]]:
        return self.answers.raw_chunks(keys, **chunking)  # type: ignore[attr-defined]

    def move_to(self, path: Path) -> bool:
        """The written file put at `path` (renamed, or copied beside and renamed across file systems):
        True; False when it was not written (moved already, discarded, or its writing failed)."""
        self._thread.join()
        if self._failed or not self._removal.alive:
            self.discard()
            return False
        self._removal.detach()
        try:
            os.replace(self.path, path)
        except OSError:  # another file system: never copied into `path` itself (it may be a hard link)
            temporary = path.with_name(path.name + ".tmp")
            shutil.copyfile(self.path, temporary)
            os.replace(temporary, path)
            self.path.unlink()
        return True

    def discard(self) -> None:
        """Stop the writing (at its next chunk) and remove the file; once."""
        self._removal()


def _write_ahead(
    handle: IO[bytes], answers: Mapping[str, Any], stop: Any, failed: list[BaseException]
) -> None:
    try:
        with handle:
            write_answers_to(handle, answers, stop=stop)
    except BaseException as error:  # the run folder's write writes them itself (and names any error)
        failed.append(error)
        with contextlib.suppress(OSError):
            os.unlink(handle.name)  # a full disk gets its space back at once


def _remove_ahead(stop: Any, path: Path) -> None:
    stop.set()
    with contextlib.suppress(OSError):
        path.unlink()


class _Stopped(Exception):
    """The answers written ahead are no longer wanted."""


def write_answers_to(handle: Any, responses: Mapping[str, Any], *, stop: Any = None) -> None:
    """One {"key", "response"} line per answer, sorted by key, each answer in canonical JSON (the text
    the response cache stores, so a lazy mapping with `raw_chunks(keys)` copies it without parsing).
    `stop` (a threading.Event) ends the writing between two chunks once set."""
    keys = sorted(responses)
    raw = getattr(responses, "raw_chunks", None)
    texts = raw(keys) if raw is not None else ((key, _canonical(responses[key])) for key in keys)
    start = handle.tell()
    # level 1: a million answers are ~5 GB of JSON; level 9 (gzip's default) is 7x slower for 30% less
    with gzip.GzipFile(fileobj=handle, mode="wb", mtime=0, filename="", compresslevel=1) as packed:
        lines: list[str] = []
        for key, text in texts:
            lines.append(f'{{"key":{json.dumps(key)},"response":{text}}}\n')
            if len(lines) >= 1000:  # 5 MB of text at a time: the write runs beside the analysis
                packed.write("".join(lines).encode("utf-8"))
                lines = []
                if stop is not None and stop.is_set():
                    raise _Stopped
        packed.write("".join(lines).encode("utf-8"))
    # the header's OS byte as gzip.compress writes it, so the file has the bytes of a one-shot compress
    end = handle.tell()
    handle.seek(start + 9)
    handle.write(gzip.compress(b"", mtime=0)[9:10])
    handle.seek(end)


_TEXT = ("string", "empty")  # what pandas infers of a column of str (and None) cells only


class PackedText:
    """A frame of object columns held with its text outside Python objects (Arrow strings) while what
    those strings were made among is let go, then made again side by side by `unpacked`.

    Python's allocator gives a 1 MiB arena back only once nothing in it lives. images.csv's strings are
    made among a dataset's items (about 1 KB of objects an image): kept as they are, a few of them
    scattered in every arena kept most of the items' memory resident through the analysis, 1.3 GB of a
    million-image replay's peak. A column that is not all str (or None) is kept as it is, so no value
    or type changes."""

    def __init__(self, frame: pd.DataFrame) -> None:
        import pyarrow as pa

        self.index = frame.index
        self.columns: dict[Any, Any] = {}
        for name in frame.columns:
            values = frame[name].to_numpy()
            if values.dtype == object and pd.api.types.infer_dtype(values, skipna=True) in _TEXT:
                try:
                    self.columns[name] = pa.array(values, type=pa.large_string(), from_pandas=False)
                    continue
                except (pa.ArrowException, ValueError, TypeError):  # a NaN, a lone surrogate
                    pass
            self.columns[name] = values

    def unpacked(self) -> pd.DataFrame:
        """The frame again: the same values, types and dtypes, its strings new (equal ones shared)."""
        columns = {
            name: values if isinstance(values, np.ndarray) else values.to_numpy(zero_copy_only=False)
            for name, values in self.columns.items()
        }
        self.columns = {}
        return shared_values(pd.DataFrame(columns, index=self.index, dtype=object))


def shared_values(frame: pd.DataFrame, *, sample: int = 1000) -> pd.DataFrame:
    """`frame` (of text cells and None, as read from a CSV) with equal cells as one object: a CSV reader
    makes a str per cell, so a million rows hold a million copies of "cached" and of the model version,
    and an image's id that is its URI twice. A column whose first cell is an earlier column's takes that
    column's objects where they are equal; one whose first `sample` cells repeat one is shared through a
    dict (a column of distinct values is never hashed). Values, types and dtypes are unchanged."""
    earlier: list[np.ndarray] = []
    for name in frame.columns:
        if frame[name].dtype != object:
            continue
        values = frame[name].to_numpy()
        head = values[:sample].tolist()
        if set(head) <= {None} and frame[name].isna().all():
            continue  # None is one object already
        for other in earlier:
            if values[0] == other[0]:
                values = np.where(values == other, other, values)
                break
        if len(set(head)) < len(head):
            seen: dict[Any, Any] = {}
            shared = seen.setdefault
            values = np.fromiter((shared(value, value) for value in values.tolist()), object, len(values))
        earlier.append(values)
        frame[name] = pd.Series(values, index=frame.index, name=name, dtype=object)
    return frame
