"""Face datasets: who is in each image (identity), which images show the same person (pairs), and which
Face Liveness sessions were a live person (sessions).

- Identity CSV: header `image,identity`, then any columns (a demographic group, a camera...) that
  reports slice by. Label folders named by identity and Ground Truth manifests with one class per
  image (the identity) are read by the usual readers: an image's one label is its identity.
- Pairs CSV: header `image_a,image_b,same` (same: true/false, yes/no, 1/0): explicit pairs, compared
  one by one. Each image is one item; the pairs name items by position.
- Sessions CSV: header `session_id,live[,attack_type]` (live: true for a real person, false for an
  attack), then any columns. Each session is one item whose "image" is its SessionId.

Image paths are relative to the CSV's folder, absolute, or s3:// URIs. A bad row is a bad line
(`skip_bad_lines` reads the rest), as for every other reader.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Sequence
from typing import Any

from evaluation.datasets.loader import load_dataset
from evaluation.datasets.sources import dataset_name, folder_of, read_text, resolve_image
from evaluation.datasets.types import BadLine, Dataset, DatasetItem, ImagePair
from evaluation.errors import DatasetError
from evaluation.images import ImageRef, local_file_problem

__all__ = ["IDENTITY", "PAIRS", "SESSIONS", "UNKNOWN", "face_csv_kind", "load_face_dataset", "parse_bool"]

IDENTITY, PAIRS, SESSIONS = ("image", "identity"), ("image_a", "image_b", "same"), ("session_id", "live")
UNKNOWN = "unknown"  # a probe's identity when the person is not enrolled (face-search)
_TRUE, _FALSE = {"true", "yes", "1", "y", "t"}, {"false", "no", "0", "n", "f"}
SESSION_ID = re.compile(r"^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$")


def parse_bool(text: str, column: str) -> bool:
    value = text.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"{column} must be true or false (or yes/no, 1/0), got {text!r}")


def face_csv_kind(header: Sequence[str]) -> str | None:
    """Which face CSV a header starts: "identity", "pairs", "sessions", or None."""
    names = tuple(name.strip().lower() for name in header)
    for kind, columns in (("pairs", PAIRS), ("sessions", SESSIONS), ("identity", IDENTITY)):
        if names[: len(columns)] == columns:
            return kind
    return None


def load_face_dataset(
    source: str,
    *,
    expect: Sequence[str],
    format: str | None = None,
    skip_bad_lines: bool = False,
    s3_client: Any = None,
) -> Dataset:
    """Read a face dataset of one of the kinds in `expect` ("identity", "pairs", "sessions").

    A CSV is read here; folders and manifests (identity only) by `load_dataset`, each image's one label
    being its identity (an image with no label or several is refused: whose face is it?).
    """
    text_source = str(source)
    is_csv = (format == "csv") or (format is None and text_source.lower().endswith(".csv"))
    if not is_csv:
        if "identity" not in expect:
            raise DatasetError(f"{text_source}: this operation reads a CSV with the header {_wanted(expect)}")
        dataset = load_dataset(text_source, format=format, skip_bad_lines=skip_bad_lines, s3_client=s3_client)
        _check_one_identity(dataset)
        return dataset
    text = read_text(text_source, s3_client)
    rows = list(csv.reader(text.splitlines()))
    if not rows:
        raise DatasetError(f"{text_source}: empty file; expected a header {_wanted(expect)}")
    header = [name.strip() for name in rows[0]]
    kind = face_csv_kind(header)
    if kind not in expect:
        raise DatasetError(
            f"{text_source}:1: the header must start with {_wanted(expect)}; found '{','.join(header)[:80]}'"
        )
    folder = folder_of(text_source)
    reader = {"identity": _identity_rows, "pairs": _pair_rows, "sessions": _session_rows}[kind]
    items, pairs, bad = reader(rows, header, text_source, folder)
    bad_lines: list[BadLine] = []
    for line in bad:
        if not skip_bad_lines:
            raise DatasetError(
                f"{line} (--skip-bad-lines reads the rest and lists the bad lines in the report)"
            )
        bad_lines.append(line)
    if not items:
        raise DatasetError(f"{text_source}: no usable rows")
    vocabulary = tuple(sorted({label for item in items for label in item.labels}))
    return Dataset(
        name=dataset_name(text_source),
        source=text_source,
        format="csv",
        items=items,
        bad_lines=bad_lines,
        vocabulary=vocabulary,
        pairs=pairs,
    )


def _wanted(expect: Sequence[str]) -> str:
    columns = {"identity": IDENTITY, "pairs": PAIRS, "sessions": (*SESSIONS, "attack_type")}
    return " or ".join("'" + ",".join(columns[kind]) + "'" for kind in expect)


def _check_one_identity(dataset: Dataset) -> None:
    for item in dataset.items:
        if len(item.labels) != 1:
            raise DatasetError(
                f"{item.source}: {item.image.uri} has {len(item.labels)} labels; a face dataset gives each "
                "image exactly one identity"
            )


def _extra(header: list[str], row: list[str], first: int) -> tuple[tuple[str, str], ...]:
    return tuple(
        (name, value.strip())
        for name, value in zip(header[first:], row[first:], strict=False)
        if name and value.strip()
    )


def _image(text: str, folder: str) -> ImageRef:
    if not text.strip():
        raise ValueError("empty image path")
    image = resolve_image(text, folder)
    problem = None if image.is_s3 else local_file_problem(image.uri)
    if problem is not None:
        raise ValueError(f"{image.uri}: {problem}")
    return image


def _identity_rows(
    rows: list[list[str]], header: list[str], source: str, folder: str
) -> tuple[list[DatasetItem], list[ImagePair], list[BadLine]]:
    items: list[DatasetItem] = []
    bad: list[BadLine] = []
    seen: dict[str, str] = {}
    for line, row in enumerate(rows[1:], start=2):
        if not any(field.strip() for field in row):
            continue
        try:
            if len(row) < 2 or not row[1].strip():
                raise ValueError("each image needs an identity (write 'unknown' for a probe nobody enrolled)")
            image = _image(row[0], folder)
            identity = row[1].strip()
            if image.uri in seen:
                if seen[image.uri] != identity:
                    raise ValueError(
                        f"{image.uri} is listed again with another identity ({seen[image.uri]!r})"
                    )
                continue
            seen[image.uri] = identity
            items.append(
                DatasetItem(
                    image, frozenset({identity}), f"{source}:{line}", attributes=_extra(header, row, 2)
                )
            )
        except ValueError as problem:
            bad.append(BadLine(source, line, str(problem)))
    return items, [], bad


def _pair_rows(
    rows: list[list[str]], header: list[str], source: str, folder: str
) -> tuple[list[DatasetItem], list[ImagePair], list[BadLine]]:
    items: list[DatasetItem] = []
    position: dict[str, int] = {}
    pairs: list[ImagePair] = []
    seen: set[tuple[int, int]] = set()
    bad: list[BadLine] = []
    for line, row in enumerate(rows[1:], start=2):
        if not any(field.strip() for field in row):
            continue
        try:
            if len(row) < 3:
                raise ValueError("expected image_a,image_b,same")
            first, second = _image(row[0], folder), _image(row[1], folder)
            if first == second:
                raise ValueError("an image paired with itself")
            same = parse_bool(row[2], "same")
            indexes = []
            for image in (first, second):
                if image.uri not in position:
                    position[image.uri] = len(items)
                    items.append(DatasetItem(image, frozenset(), f"{source}:{line}"))
                indexes.append(position[image.uri])
            key = (min(indexes), max(indexes))
            if key in seen:
                raise ValueError("this pair is listed twice")
            seen.add(key)
            pairs.append(ImagePair(indexes[0], indexes[1], same))
        except ValueError as problem:
            bad.append(BadLine(source, line, str(problem)))
    return items, pairs, bad


def _session_rows(
    rows: list[list[str]], header: list[str], source: str, folder: str
) -> tuple[list[DatasetItem], list[ImagePair], list[BadLine]]:
    items: list[DatasetItem] = []
    bad: list[BadLine] = []
    seen: set[str] = set()
    lowered = [name.strip().lower() for name in header]
    attack_column = lowered.index("attack_type") if "attack_type" in lowered else None
    for line, row in enumerate(rows[1:], start=2):
        if not any(field.strip() for field in row):
            continue
        try:
            session = row[0].strip()
            if not SESSION_ID.match(session):
                raise ValueError(f"{session!r} is not a Face Liveness SessionId (a UUID)")
            if session in seen:
                raise ValueError(f"session {session} is listed twice")
            seen.add(session)
            live = parse_bool(row[1] if len(row) > 1 else "", "live")
            attack = (
                row[attack_column].strip() if attack_column is not None and len(row) > attack_column else ""
            )
            if live and attack:
                raise ValueError(f"a live session has an attack type ({attack!r})")
            label = "live" if live else "attack"
            attributes = tuple((n, v) for n, v in _extra(header, row, 2) if n.lower() != "attack_type")
            if not live:
                attributes = (("attack_type", attack or "unspecified"), *attributes)
            items.append(
                DatasetItem(ImageRef(session), frozenset({label}), f"{source}:{line}", attributes=attributes)
            )
        except ValueError as problem:
            bad.append(BadLine(source, line, str(problem)))
    return items, [], bad
