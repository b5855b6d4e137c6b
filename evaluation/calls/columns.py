"""What the analysis reads of the stored answers, as compact columns beside the raw answers.

The response store (evaluation.calls.cache) keeps, beside the raw answers (the record), what the
analysis reads of them as compact columns (`ColumnCodec`): one row per answer in a table of its own,
each field a packed array (names as interned integer codes, from the `names` table), written in the
same transaction as the raw answer, so the two never disagree. Each row carries the codec's version: a
row of another version, or a missing one (an answer stored by an older harness, or by code that knows
no codec), is rebuilt from the raw answer the first time it is read. Triggers drop a row's columns when
its raw answer is changed or deleted by any writer (an older version, a hand edit), so columns never
outlive the answer they were read from.

SQLite rather than Parquet files: an answer arrives one at a time and is committed at once, from
several threads and processes; appending to a columnar file needs batches and a writer of its own,
whereas reading a million rows of packed arrays from SQLite costs about what reading the same columns
from Parquet would (see benchmarks/bench_scale.py).
"""

from __future__ import annotations

import itertools
import json
import sqlite3
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence, Sized
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from evaluation.calls.answers import answer_problem
from evaluation.memory import give_back_freed_memory

# a lookup of a quarter of the store's answers or more reads the whole table instead
SCAN_FRACTION = 4
FETCH_ROWS = 20_000  # stored columns read a batch of rows at a time

NAMES_SCHEMA = """
CREATE TABLE IF NOT EXISTS names (
    code INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
);
"""


class ColumnCodec(Protocol):
    """What the analysis reads of one kind of answer, as fields of packed arrays (see the module doc).

    `fields` are (name, numpy dtype, interned): an interned field is given as strings by `encode` and
    stored as int32 codes of the `names` table. Every field is a variable-length array per answer.
    Raising an exception from `encode` leaves the answer without columns (it is rebuilt, and raises
    again, when read: the analysis reports it as it reports any unreadable answer).
    """

    kind: str  # the table's name: columns_<kind>
    version: int  # bump when encode changes: stored rows of another version are rebuilt
    fields: tuple[tuple[str, str, bool], ...]

    def handles(self, operation: str) -> bool: ...

    def encode(self, operation: str, response: Mapping[str, Any]) -> Mapping[str, Any]: ...


class NotStored(KeyError):
    """Some answers asked for have no valid stored answer (never stored, or rejected when read)."""


@dataclass(frozen=True)
class Columns:
    """Columns of many answers, concatenated in the order asked: `counts[field][i]` values belong to
    answer i; interned fields hold codes into `names`."""

    fields: dict[str, np.ndarray]
    counts: dict[str, np.ndarray]
    names: tuple[str, ...]


class ColumnStore:
    """The columns' part of ResponseCache, which provides the connection, its lock, `_read` and `_write`."""

    codecs: tuple[ColumnCodec, ...]
    _name_codes: dict[str, int]
    _conn: sqlite3.Connection
    _lock: threading.Lock

    def _read(self, sql: str, args: Iterable[Any]) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def _write(self, action: Callable[[], object]) -> None:
        raise NotImplementedError

    def newest_versions(self, keys: Iterable[str]) -> dict[str, tuple[str | None, str]]:
        """key -> (model_version, params as stored JSON) for the stored keys; no answer read or parsed."""
        wanted = dict.fromkeys(keys)
        found: dict[str, tuple[str | None, str]] = {}
        with self._lock:
            if len(wanted) * SCAN_FRACTION >= self._rows_at_most():
                # most of the store: one pass over the table reads its pages in order, about twice as
                # fast as a lookup per key (each one reading the pages of an answer's text to reach
                # model_version, the column after it)
                rows = self._conn.execute("SELECT key, model_version, params FROM responses")
                found.update((row[0], (row[1], row[2])) for row in rows if row[0] in wanted)
                return found
            for part in chunks(list(wanted), 900):
                marks = ",".join("?" * len(part))
                rows = self._conn.execute(
                    f"SELECT key, model_version, params FROM responses WHERE key IN ({marks})", part
                )
                found.update((row[0], (row[1], row[2])) for row in rows)
        return found

    def _rows_at_most(self) -> int:
        """At least the number of stored answers (rowids only grow), without counting them."""
        return int(self._conn.execute("SELECT COALESCE(MAX(rowid), 0) FROM responses").fetchone()[0])

    # ------------------------------------------------------------------ what is stored, without parsing

    def stored_keys(self, keys: Iterable[str]) -> set[str]:
        """Which of `keys` have a valid answer, by indexed lookups: an answer with current columns was
        checked when it was stored, so it is not read; only a row without them (stored by an older
        harness, or of an operation without columns) is parsed and checked, as `get` would."""
        found: set[str] = set()
        with self._lock:
            for part in chunks(list(dict.fromkeys(keys)), 900):
                marks = ",".join("?" * len(part))
                present = {
                    row[0] for row in self._read(f"SELECT key FROM responses WHERE key IN ({marks})", part)
                }
                for codec in self.codecs:
                    checked = self._read(
                        f"SELECT key FROM columns_{codec.kind} WHERE version = ? AND key IN ({marks})",
                        [codec.version, *part],
                    )
                    found.update(row[0] for row in checked)
                unchecked = list(present - found)
                if unchecked:
                    marks = ",".join("?" * len(unchecked))
                    rows = self._read(
                        f"SELECT key, operation, response FROM responses WHERE key IN ({marks})", unchecked
                    )
                    found.update(key for key, operation, response in rows if _valid(operation, response))
        return found

    def raw_answers(self, keys: Sequence[str]) -> dict[str, str]:
        """The stored text of the valid answers among `keys`, unparsed, for copying them as they are: an
        answer with current columns was checked when stored; any other is checked here (`stored_keys`)."""
        valid = self.stored_keys(keys)
        found: dict[str, str] = {}
        with self._lock:
            for part in chunks(list(dict.fromkeys(keys)), 900):
                marks = ",".join("?" * len(part))
                rows = self._read(f"SELECT key, response FROM responses WHERE key IN ({marks})", part)
                found.update((key, text) for key, text in rows if key in valid)
        return found

    def _column_tables(self) -> list[str]:
        """The columns_* tables in the file, whichever codecs wrote them."""
        found = self._conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'columns^_%' ESCAPE '^'"
        ).fetchall()
        return [row[0] for row in found]

    # ------------------------------------------------------------------------------------- columns

    def _interned(self, names: Sequence[str]) -> list[int]:
        """Codes of `names` in the names table, adding the new ones (inside the caller's transaction)."""
        missing = [name for name in dict.fromkeys(names) if name not in self._name_codes]
        if missing:
            self._conn.executemany("INSERT OR IGNORE INTO names (name) VALUES (?)", [(n,) for n in missing])
            for part in chunks(missing, 900):
                marks = ",".join("?" * len(part))
                rows = self._conn.execute(f"SELECT name, code FROM names WHERE name IN ({marks})", part)
                self._name_codes.update(rows)
        codes = self._name_codes
        return [codes[name] for name in names]

    def _write_columns(self, codec: ColumnCodec, values: Sequence[tuple[str, Any]]) -> None:
        """One row per answer, each field a blob of its packed values; an answer's columns are a mapping
        (`encode`'s) or already packed (`pack_columns`', by a process reading recorded answers). Names are
        interned field by field over the whole batch, in the order they first appear."""
        if not values:
            return
        field_names = [name for name, _, _ in codec.fields]
        unpacked = [index for index, (_, columns) in enumerate(values) if type(columns) is not tuple]
        packed: list[Any] = [columns for _, columns in values]
        if unpacked:
            for index, columns in zip(
                unpacked, pack_columns(codec, [packed[i] for i in unpacked]), strict=True
            ):
                packed[index] = columns
        blobs_by_field = []
        for position, (_, _, interned) in enumerate(codec.fields):
            parts = [columns[position] for columns in packed]
            if interned:
                parts = self._name_blobs(parts)
            blobs_by_field.append(parts)
        rows = [
            (key, codec.version, *blobs) for (key, _), *blobs in zip(values, *blobs_by_field, strict=True)
        ]
        marks = ",".join("?" * (len(field_names) + 2))
        self._conn.executemany(
            f"INSERT OR REPLACE INTO columns_{codec.kind} (key, version, {', '.join(field_names)}) "
            f"VALUES ({marks})",
            rows,
        )

    def _name_blobs(self, parts: list[Any]) -> list[bytes]:
        """Each answer's names as the bytes of their codes, new names interned in the order they first
        appear. An answer's names are a list, or (the bytes of their codes in `table`, table) as
        `pack_columns` gives them with `local_names`: answers of one table are mapped at once."""
        if not all(type(part) is tuple for part in parts):  # names as text (a mixed batch: rare)
            parts = [_local_names(part) if type(part) is tuple else part for part in parts]
            return _cut(
                np.asarray(self._interned(list(itertools.chain.from_iterable(parts))), np.int32), parts
            )
        blobs: list[bytes] = []
        start = 0
        while start < len(parts):
            table = parts[start][1]
            end = start + 1
            while end < len(parts) and parts[end][1] is table:
                end += 1
            local = [blob for blob, _ in parts[start:end]]
            positions = np.frombuffer(b"".join(local), np.int32)
            codes = self._table_codes(table)[positions]
            if (codes < 0).any():  # names new to the store, interned in the order they first appear
                self._interned([table[position] for position in positions[codes < 0].tolist()])
                codes = self._table_codes(table)[positions]
            ends = np.cumsum(np.fromiter(map(len, local), np.int64, count=len(local)))
            packed = codes.astype(np.int32).tobytes()  # each answer's bytes are as many as it sent
            blobs += [packed[a:b] for a, b in zip([0, *ends[:-1].tolist()], ends.tolist(), strict=True)]
            start = end
        return blobs

    def _table_codes(self, table: Sequence[Any]) -> np.ndarray:
        """The store's code of each name of `table` (-1: not interned yet)."""
        codes = self._name_codes
        return np.fromiter((codes.get(name, -1) for name in table), np.int64, count=len(table))

    def read_columns(self, codec: ColumnCodec, keys: Sequence[str]) -> Columns:
        """The columns of the answers under `keys` (a key may repeat), concatenated in that order.

        Rows missing or of another codec version are rebuilt from the raw answers first (and stored);
        a key with no valid answer is `NotStored` (a KeyError): asking is how to learn that every answer is
        stored, without a pass of its own over the keys.
        """
        if codec not in self.codecs:
            raise ValueError(f"this cache was opened without the {codec.kind!r} codec")
        field_names = [name for name, _, _ in codec.fields]
        self._write(lambda: self._conn.executescript(columns_schema(codec)))  # takes the lock itself
        # one row per key asked, in order, with its columns' version (NULL: none stored)
        select = (
            f"SELECT c.version, {', '.join('c.' + name for name in field_names)} FROM wanted w "
            f"LEFT JOIN columns_{codec.kind} c ON c.key = w.key ORDER BY w.position"
        )
        with self._lock:
            self._conn.execute(
                "CREATE TEMP TABLE IF NOT EXISTS wanted (position INTEGER PRIMARY KEY, key TEXT)"
            )
            # one transaction of the temporary table's own (autocommit would make each row one)
            self._conn.execute("BEGIN")
            try:
                self._conn.execute("DELETE FROM wanted")
                self._conn.executemany("INSERT INTO wanted VALUES (?, ?)", enumerate(keys))
            finally:
                self._conn.execute("COMMIT")
        stale, read = self._fetch_columns(codec, select, keys)
        if stale:  # rebuilt from the raw answers, then read again (stored by an older harness: rare)
            for part in chunks(list(dict.fromkeys(stale)), 2000):
                self._rebuild(codec, part)
            stale, read = self._fetch_columns(codec, select, keys)
        with self._lock:
            self._conn.execute("DELETE FROM wanted")
            names = self._all_names()
        if stale:  # no valid answer to rebuild from
            raise NotStored(f"{len(stale)} of the {len(keys)} answers asked for are not stored")
        fields: dict[str, np.ndarray] = {}
        counts: dict[str, np.ndarray] = {}
        for (name, dtype, interned), (pieces, lengths) in zip(codec.fields, read, strict=True):
            kind = np.dtype(np.int32 if interned else dtype)
            fields[name] = np.frombuffer(b"".join(pieces), dtype=kind)
            pieces.clear()
            give_back_freed_memory()  # the pieces' pages, before the next field's join is mapped
            counts[name] = np.concatenate([np.zeros(0, np.int64), *lengths]) // kind.itemsize
        return Columns(fields=fields, counts=counts, names=names)

    def _fetch_columns(
        self, codec: ColumnCodec, select: str, keys: Sequence[str]
    ) -> tuple[list[str], list[tuple[list[bytes], list[np.ndarray]]]]:
        """(the keys of the rows without columns of the codec's version, one per row; per field the bytes
        of a batch of rows at a time and each row's length in bytes), read a batch of rows at a time: a
        million rows' blobs (an object each) are never all held beside their joined bytes."""
        version = codec.version
        stale: list[str] = []
        read: list[tuple[list[bytes], list[np.ndarray]]] = [([], []) for _ in codec.fields]
        with self._lock:
            cursor = self._conn.execute(select)
            position = 0
            while batch := cursor.fetchmany(FETCH_ROWS):
                stale += [keys[position + at] for at, row in enumerate(batch) if row[0] != version]
                position += len(batch)
                if stale:  # the read is done again (or fails): only the stale keys are wanted now
                    continue
                # one tuple of blobs per field (a transpose in C, not an append per row and field)
                for (pieces, lengths), parts in zip(read, list(zip(*batch, strict=True))[1:], strict=True):
                    pieces.append(b"".join(parts))
                    lengths.append(np.fromiter(map(len, parts), dtype=np.int64, count=len(parts)))
                del batch
        return stale, read

    def _all_names(self) -> tuple[str, ...]:
        """Every interned name by code (codes are dense from 1; index 0 is unused)."""
        rows = self._conn.execute("SELECT code, name FROM names").fetchall()
        names = [""] * (max((code for code, _ in rows), default=0) + 1)
        for code, name in rows:
            names[code] = name
            self._name_codes[name] = code
        return tuple(names)

    def _rebuild(self, codec: ColumnCodec, keys: Sequence[str]) -> None:
        """Columns of these answers again from their raw answers (missing, or of an older version)."""
        with self._lock:
            marks = ",".join("?" * len(keys))
            raw = self._conn.execute(
                f"SELECT key, operation, response FROM responses WHERE key IN ({marks})", list(keys)
            ).fetchall()
        values = [
            (key, codec.encode(operation, _parsed(response)))
            for key, operation, response in raw
            if _valid(operation, response)  # a bad row reads as absent, as `get` has it
        ]

        def write() -> None:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._write_columns(codec, values)
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

        self._write(write)


def columns_schema(codec: ColumnCodec) -> str:
    blobs = "".join(f", {name} BLOB NOT NULL" for name, _, _ in codec.fields)
    table = f"columns_{codec.kind}"
    return (
        f"CREATE TABLE IF NOT EXISTS {table} (key TEXT PRIMARY KEY, version INTEGER NOT NULL{blobs});\n"
        # a raw answer changed or deleted by any writer takes its columns with it (a REPLACE by the
        # store fires neither: it writes fresh columns in the same transaction)
        f"CREATE TRIGGER IF NOT EXISTS {table}_changed AFTER UPDATE OF response ON responses "
        f"BEGIN DELETE FROM {table} WHERE key = NEW.key; END;\n"
        f"CREATE TRIGGER IF NOT EXISTS {table}_deleted AFTER DELETE ON responses "
        f"BEGIN DELETE FROM {table} WHERE key = OLD.key; END;"
    )


def encode_columns(
    codec: ColumnCodec, operation: str, response: Mapping[str, Any]
) -> Mapping[str, Any] | None:
    """The answer's columns, or None when the codec does not read this operation or cannot read it."""
    if not codec.handles(operation):
        return None
    try:
        return codec.encode(operation, _without_metadata(response))
    except Exception:  # the record is kept; reading its columns later rebuilds them and raises then
        return None


def pack_columns(
    codec: ColumnCodec, answers: Sequence[Mapping[str, Any]], *, local_names: bool = False
) -> list[tuple[Any, ...]]:
    """Each answer's columns, field by field in `codec.fields`' order: a number field as its blob (one
    array per field over all the answers, cut into each answer's bytes: an array per answer and field
    costs more than reading the answer), an interned one as its names, or with `local_names` (a process
    reading recorded answers, which cannot know the store's codes) as (the blob of their int32 positions
    in one table of these answers' names, that table): sending codes, not text, is a tenth of the cost."""
    table: dict[Any, int] = {}
    names: list[Any] = []  # the table, in order, shared by every answer
    fields: list[list[Any]] = []
    for name, dtype, interned in codec.fields:
        parts = [columns[name] for columns in answers]
        flat = list(itertools.chain.from_iterable(parts))
        if not interned:
            parts = _cut(np.asarray(flat, dtype), parts)
        elif local_names:
            for new in dict.fromkeys(flat):
                table.setdefault(new, len(table))
            blobs = _cut(np.fromiter(map(table.__getitem__, flat), np.int32, count=len(flat)), parts)
            parts = [(blob, names) for blob in blobs]
        fields.append(parts)
    names.extend(table)
    return list(zip(*fields, strict=True)) if fields else [() for _ in answers]


def _local_names(part: tuple[bytes, Sequence[Any]]) -> list[Any]:
    blob, table = part
    return [table[position] for position in np.frombuffer(blob, np.int32).tolist()]


def _cut(data: np.ndarray, parts: Sequence[Sized]) -> list[bytes]:
    """`data` (the parts' values, concatenated) as each part's bytes."""
    packed, size = data.tobytes(), data.itemsize
    ends = np.cumsum(np.fromiter(map(len, parts), np.int64, count=len(parts))) * size
    starts = np.concatenate(([0], ends[:-1]))
    return [packed[start:end] for start, end in zip(starts.tolist(), ends.tolist(), strict=True)]


def chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _parsed(text: Any) -> Any:
    try:
        return json.loads(text)
    except (TypeError, ValueError, RecursionError):
        return None


def _valid(operation: str, response_text: Any) -> bool:
    return answer_problem(operation, _parsed(response_text)) is None


def _without_metadata(response: Mapping[str, Any]) -> dict[str, Any]:
    """boto3's ResponseMetadata (request ids, headers, retry counts) is per call, not part of the answer."""
    return {name: value for name, value in response.items() if name != "ResponseMetadata"}
