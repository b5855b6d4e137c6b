"""`load_dataset`: pick the reader, then apply the rules every format shares.

Shared rules, in one place so the formats cannot drift apart: a bad line stops the load unless
`skip_bad_lines`; the same image twice is a bad line unless both say the same thing (then the second is
dropped); a dataset with no items is an error; a declared vocabulary filters and respells labels.
"""

from __future__ import annotations

import dataclasses
import difflib
import logging
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from evaluation.datasets.coco import looks_like_coco, read_coco
from evaluation.datasets.csvfile import read_csv
from evaluation.datasets.entries import Entry, Ignored, Notice, ReaderOutput
from evaluation.datasets.folders import read_local_folders, read_s3_folders
from evaluation.datasets.manifest import read_manifest
from evaluation.datasets.sources import dataset_name, folder_of, is_s3_uri, read_text
from evaluation.datasets.textfile import (
    looks_like_text_csv,
    looks_like_text_manifest,
    read_text_csv,
    read_text_manifest,
)
from evaluation.datasets.types import FORMATS, BadLine, Dataset, DatasetItem
from evaluation.datasets.videofile import (
    looks_like_video_csv,
    looks_like_video_manifest,
    read_video_csv,
    read_video_manifest,
)
from evaluation.errors import DatasetError, UserError
from evaluation.images import local_file_problem
from evaluation.labelmap import normalize_name

__all__ = ["EXTENSIONS", "load_dataset"]

log = logging.getLogger(__name__)

EXTENSIONS = {
    ".manifest": "manifest",
    ".jsonl": "manifest",
    ".json": "manifest",
    ".csv": "csv",
}  # .json: or coco


def load_dataset(
    source: str | Path,
    *,
    format: str | None = None,
    skip_bad_lines: bool = False,
    vocabulary: Sequence[str] | None = None,
    s3_client: Any = None,
) -> Dataset:
    """Read a labelled image set from a manifest, a CSV or label folders, locally or in S3.

    `format` is guessed from the source when not given (a folder, `.csv`, `.manifest` / `.jsonl` /
    `.json`). With `vocabulary`, only those labels are evaluated: other ground-truth labels are dropped
    from the items (counted in `Dataset.ignored_labels`), labels are spelled as the vocabulary spells them
    (matched through `normalize_name`), and a vocabulary label that no image has is an error, unless the
    dataset has no labels at all (a set of negatives, for measuring false positives). `s3_client` reads
    s3:// sources; a default client is made only when one is needed.
    """
    text_source = _source_text(source)
    chosen = _choose_format(text_source, format)
    declared = _check_vocabulary(vocabulary)
    chosen, entries = _read(text_source, chosen, s3_client, guessed=format is None)
    items, bad_lines, machine_labeled, ignored_files, warnings = _collect(
        entries, skip_bad_lines=skip_bad_lines
    )
    if not items:
        raise DatasetError(_empty_message(text_source, chosen, bad_lines, ignored_files))
    if declared is None:
        vocabulary_used = _merged_spellings(items, text_source)
        ignored: dict[str, int] = {}
        if len(vocabulary_used) < len({label for item in items for label in item.labels}):
            items, _ = _apply_vocabulary(items, vocabulary_used, text_source)
    else:
        items, ignored = _apply_vocabulary(items, declared, text_source)
        vocabulary_used = declared
    return Dataset(
        name=dataset_name(text_source),
        source=text_source,
        format=chosen,
        items=items,
        bad_lines=bad_lines,
        vocabulary=vocabulary_used,
        ignored_labels=ignored,
        machine_labeled=machine_labeled,
        ignored_files=ignored_files,
        warnings=warnings,
    )


def _source_text(source: str | Path) -> str:
    text = str(source)
    if isinstance(source, Path) and text.startswith("s3:/") and not text.startswith("s3://"):
        text = "s3://" + text[4:]  # Path("s3://b/k") collapses the double slash
    if not text.strip():
        raise UserError("no dataset given: pass a file, a folder or an s3:// URI")
    return text


def _choose_format(source: str, format: str | None) -> str:
    if format is not None:
        if format not in FORMATS:
            raise UserError(f"unknown dataset format {format!r}; the formats are {', '.join(FORMATS)}")
        return format
    if is_s3_uri(source):
        if source.endswith("/") or "/" not in source[5:]:
            return "folders"
        suffix = Path(source.rsplit("/", 1)[1]).suffix.lower()
    else:
        path = Path(source).expanduser()
        if path.is_dir():
            return "folders"
        if not path.exists():
            raise DatasetError(f"dataset not found: {source}")
        suffix = path.suffix.lower()
    if suffix in EXTENSIONS:
        return EXTENSIONS[suffix]
    known = ", ".join(f"{name} ({_extensions_of(name)})" for name in FORMATS)
    raise DatasetError(
        f"cannot tell the format of {source} from its extension {suffix or '(none)'!r}; the formats are "
        f"{known}; choose one with --format (for example --format manifest), or dataset_format= in Python"
    )


def _extensions_of(format: str) -> str:
    if format == "folders":
        return "a folder, or an s3:// prefix ending in /"
    if format == "coco":
        return ".json holding images, annotations and categories"
    return " ".join(ext for ext, name in EXTENSIONS.items() if name == format)


def _read(source: str, format: str, s3_client: Any, *, guessed: bool) -> tuple[str, Iterable[ReaderOutput]]:
    """The format actually read and its entries. A `.json` file may be a manifest or a COCO document, so
    a guessed format is settled from the text; CSVs and manifests of text ground truth (`image,words`,
    `lines`) are told apart from label ones by their columns and keys."""
    if format == "folders":
        if is_s3_uri(source):
            return format, read_s3_folders(source, s3_client=s3_client)
        root = Path(source).expanduser()
        if not root.exists():
            raise DatasetError(f"dataset not found: {source}")
        if not root.is_dir():
            raise DatasetError(
                f"{source} is a file, not a folder; the folders format reads root/<label>/<images>"
            )
        return format, read_local_folders(root)
    text = read_text(source, s3_client)
    folder = folder_of(source)
    if format == "manifest" and guessed and looks_like_coco(text):
        format = "coco"
    if format == "coco":
        return format, read_coco(text, source=source, folder=folder)
    if format == "csv":
        if looks_like_text_csv(text):
            return format, read_text_csv(text, source=source, folder=folder)
        if looks_like_video_csv(text):
            return format, read_video_csv(text, source=source, folder=folder)
        return format, read_csv(text, source=source, folder=folder)
    if looks_like_text_manifest(text):
        return format, read_text_manifest(text, source=source, folder=folder)
    if looks_like_video_manifest(text):
        return format, read_video_manifest(text, source=source, folder=folder)
    return format, read_manifest(text, source=source, folder=folder)


def _collect(
    entries: Iterable[ReaderOutput], *, skip_bad_lines: bool
) -> tuple[list[DatasetItem], list[BadLine], int, list[str], list[str]]:
    """Items in reading order, the bad lines, how many items are machine-labelled, ignored files, and
    the readers' warnings (each also logged)."""
    first_seen: dict[str, Entry] = {}
    items: list[DatasetItem] = []
    bad_lines: list[BadLine] = []
    ignored_files: list[str] = []
    warnings: list[str] = []
    machine_labeled = 0
    for entry in entries:
        if isinstance(entry, Ignored):
            ignored_files.append(entry.path)
            continue
        if isinstance(entry, Notice):
            log.warning("%s", entry.text)
            warnings.append(entry.text)
            continue
        if isinstance(entry, Entry):
            problem = None if entry.item.image.is_s3 else local_file_problem(entry.item.image.uri)
            if problem is not None:
                # a FIFO named x.jpg, /dev/zero, a symlink loop: a bad entry, never opened or read
                entry = BadLine(_path_of(entry), entry.line, f"{entry.item.image.uri}: {problem}")
            else:
                earlier = first_seen.get(entry.item.image.uri)
                if earlier is None:
                    first_seen[entry.item.image.uri] = entry
                    items.append(entry.item)
                    machine_labeled += entry.machine_labeled
                    continue
                if (earlier.item.labels, earlier.item.boxes, earlier.item.text, earlier.item.segments) == (
                    entry.item.labels,
                    entry.item.boxes,
                    entry.item.text,
                    entry.item.segments,
                ):
                    continue  # the same statement twice: harmless
                entry = _duplicate(entry, earlier)
        if not skip_bad_lines:
            raise DatasetError(
                f"{entry} (--skip-bad-lines reads the rest and lists the bad lines in the report)"
            )
        bad_lines.append(entry)
    return items, bad_lines, machine_labeled, ignored_files, warnings


def _path_of(entry: Entry) -> str:
    """The dataset file an entry came from: its source without the ":line" (or ":images[n]") part."""
    return entry.item.source.rsplit(":", 1)[0] if entry.line else entry.item.source


def _duplicate(entry: Entry, earlier: Entry) -> BadLine:
    path = _path_of(entry)
    where = f"line {earlier.line}" if earlier.line else earlier.item.source
    return BadLine(
        path,
        entry.line,
        f"duplicate image, first seen at {where} with other labels "
        f"({_labels_text(earlier.item.labels)} there, {_labels_text(entry.item.labels)} here)",
    )


def _labels_text(labels: frozenset[str]) -> str:
    return ";".join(sorted(labels)) or "no labels"


def _empty_message(source: str, format: str, bad_lines: list[BadLine], ignored_files: list[str]) -> str:
    if ignored_files and not bad_lines:
        return (
            f"{source}: no images; {len(ignored_files)} file(s) without an image extension, "
            f"such as {ignored_files[0]}"
        )
    if not bad_lines:
        what = "no images" if format == "folders" else "no entries"
        return f"{source}: the dataset is empty ({what})"
    return f"{source}: no usable images; {len(bad_lines)} bad line(s) were skipped, the first: {bad_lines[0]}"


def _check_vocabulary(vocabulary: Sequence[str] | None) -> tuple[str, ...] | None:
    if vocabulary is None:
        return None
    if isinstance(vocabulary, str):
        raise UserError(f"vocabulary must be a list of labels, not the string {vocabulary!r}")
    declared: dict[str, str] = {}
    for label in vocabulary:
        if not isinstance(label, str) or not label.strip():
            raise DatasetError(f"vocabulary: {label!r} is not a label name")
        key = normalize_name(label)
        if key in declared:
            raise DatasetError(
                f"vocabulary: {declared[key]!r} and {label!r} are the same label "
                "(names are compared without case, extra spaces or Unicode form)"
            )
        declared[key] = label.strip()
    if not declared:
        raise DatasetError("vocabulary is empty; leave it out to evaluate every label in the dataset")
    return tuple(declared.values())


def _apply_vocabulary(
    items: list[DatasetItem], vocabulary: tuple[str, ...], source: str
) -> tuple[list[DatasetItem], dict[str, int]]:
    spelling = {normalize_name(label): label for label in vocabulary}
    ignored: Counter[str] = Counter()
    present: set[str] = set()
    kept_items = []
    for item in items:
        kept = frozenset(spelling[key] for label in item.labels if (key := normalize_name(label)) in spelling)
        ignored.update(label for label in item.labels if normalize_name(label) not in spelling)
        present.update(kept)
        if kept != item.labels or item.boxes or item.segments:
            boxes = tuple(
                dataclasses.replace(box, label=spelling[normalize_name(box.label)])
                for box in item.boxes
                if normalize_name(box.label) in spelling
            )
            segments = tuple(
                dataclasses.replace(segment, label=spelling[normalize_name(segment.label)])
                for segment in item.segments
                if normalize_name(segment.label) in spelling
            )
            item = dataclasses.replace(item, labels=kept, boxes=boxes, segments=segments)
        kept_items.append(item)
    all_labels = {label for item in items for label in item.labels}
    missing = [label for label in vocabulary if label not in present]
    if missing and all_labels:
        raise DatasetError(_missing_message(missing, all_labels, source))
    return kept_items, dict(sorted(ignored.items()))


def _missing_message(missing: list[str], all_labels: set[str], source: str) -> str:
    by_key = {normalize_name(label): label for label in all_labels}
    hints = []
    for label in missing:
        close = difflib.get_close_matches(normalize_name(label), by_key, n=1, cutoff=0.75)
        if close:
            hints.append(f"{label!r} (did you mean {by_key[close[0]]!r}?)")
        else:
            hints.append(repr(label))
    shown = ", ".join(sorted(all_labels)[:20]) + (", ..." if len(all_labels) > 20 else "")
    return (
        f"{source}: vocabulary label(s) {', '.join(hints)} are on no image, so their recall is undefined; "
        f"the dataset's labels are: {shown}"
    )


def _merged_spellings(items: list[DatasetItem], source: str) -> tuple[str, ...]:
    """The vocabulary, one spelling per label: 'Cat' and 'cat' are one label, as a label map sees them.

    Two spellings of one name cannot be two labels: matching compares names without case or spacing,
    so one of them would take the other's predictions. The most frequent spelling is kept.
    """
    counts = Counter(label for item in items for label in item.labels)
    groups: dict[str, list[str]] = {}
    for label in counts:
        groups.setdefault(normalize_name(label), []).append(label)
    chosen = []
    for spellings in groups.values():
        ordered = sorted(spellings, key=lambda label: (-counts[label], label))
        chosen.append(ordered[0])
        if len(spellings) > 1:
            log.warning(
                "%s: labels %s differ only in case, spacing or Unicode form (NFC/NFD): counted as one "
                "label, %r",
                source,
                ", ".join(repr(label) for label in sorted(spellings)),
                ordered[0],
            )
    return tuple(sorted(chosen, key=lambda label: (normalize_name(label), label)))
