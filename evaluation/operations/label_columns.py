"""Image-level label answers as columns: what the analysis reads of a million answers, without an object
per label.

`LabelsCodec` is how the response store keeps them (evaluation.calls.cache: read once when the answer is
stored, as its adapter reads it, straight from the response by evaluation.operations.label_encoding; names
interned); `LabelColumns` is them read back, concatenated over every
answer of a run: one entry per returned label (name code, confidence, counts of its parents, aliases,
categories and instance boxes), the parents and the rest in flat arrays of their own. Matching, the
confidence floor and predictions.csv work on these arrays; `answer(i)` rebuilds one `LabelsAnswer` for
the few places that show a single image (report.html's examples).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from evaluation.calls.cache import Columns
from evaluation.operations.answers import (
    LABEL_ADAPTERS,
    LabelsAnswer,
    PredictedBox,
    PredictedLabel,
    adapter_for,
)
from evaluation.operations.label_encoding import FAST_ENCODERS, NO_ENTRIES


class LabelsCodec:
    """The columns of an image-level label answer (DetectLabels, DetectCustomLabels), as its adapter
    reads it."""

    kind = "labels"
    version = 1  # bump when what `encode` keeps changes: stored columns are then rebuilt from raw answers
    fields = (
        ("name", "int32", True),
        ("confidence", "float64", False),
        ("parent_count", "int32", False),
        ("parent", "int32", True),
        ("alias_count", "int32", False),
        ("alias", "int32", True),
        ("category_count", "int32", False),
        ("category", "int32", True),
        ("instance_count", "int32", False),
        ("box", "float64", False),  # left, top, width, height, confidence per instance
        ("entries", "int64", False),  # one value per answer
    )

    def handles(self, operation: str) -> bool:
        return operation in LABEL_ADAPTERS

    def encode(self, operation: str, response: Mapping[str, Any]) -> dict[str, Any]:
        """What `encode_answer(adapter(response))` gives, read straight from the response where a reader
        mirrors the registered adapter (evaluation.operations.label_encoding); the adapter reads the
        rest, and raises for what it rejects."""
        adapter = adapter_for(operation)
        fast = FAST_ENCODERS.get(adapter)
        columns = fast(response) if fast is not None else None
        return columns if columns is not None else encode_answer(adapter(response))


LABELS_CODEC = LabelsCodec()


def encode_answer(answer: LabelsAnswer) -> dict[str, Any]:
    labels = answer.labels
    return {
        "name": [label.name for label in labels],
        "confidence": [label.confidence for label in labels],
        "parent_count": [len(label.parents) for label in labels],
        "parent": [name for label in labels for name in label.parents],
        "alias_count": [len(label.aliases) for label in labels],
        "alias": [name for label in labels for name in label.aliases],
        "category_count": [len(label.categories) for label in labels],
        "category": [name for label in labels for name in label.categories],
        "instance_count": [len(label.instances) for label in labels],
        "box": [
            value
            for label in labels
            for box in label.instances
            for value in (box.left, box.top, box.width, box.height, box.confidence)
        ],
        "entries": [NO_ENTRIES if answer.entries is None else answer.entries],
    }


def _narrowed(values: np.ndarray, bound: int | None = None) -> np.ndarray:
    """`values` (non-negative) in the narrowest signed integer that holds `bound` (counts: twice their
    largest value plus one); as they are (a view of what was read) when that is 32-bit."""
    if bound is None:
        bound = 2 * int(values.max()) + 1 if len(values) else 0
    for dtype in (np.int8, np.int16):
        if bound <= np.iinfo(dtype).max:
            return values.astype(dtype)
    return values.astype(np.int32, copy=False)


def _offsets(counts: np.ndarray) -> np.ndarray:
    offsets = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    return offsets


def rank_in_group(counts: np.ndarray) -> np.ndarray:
    """For values laid out group after group (`counts[i]` values in group i), each value's place in its
    group: 0, 1, ... (a label's parents in the order the service listed them)."""
    return np.arange(int(counts.sum()), dtype=np.int64) - np.repeat(_offsets(counts)[:-1], counts)


@dataclass(frozen=True, eq=False)
class LabelColumns:
    """Every label of every answer of a run, answer after answer (see the module docstring)."""

    names: tuple[str, ...]  # by code
    labels_per_answer: np.ndarray
    name: np.ndarray
    confidence: np.ndarray
    parent_count: np.ndarray
    parent: np.ndarray
    alias_count: np.ndarray
    alias: np.ndarray
    category_count: np.ndarray
    category: np.ndarray
    instance_count: np.ndarray
    box: np.ndarray  # (instances, 5)
    entries: np.ndarray  # per answer; NO_ENTRIES when the API does not count them

    @classmethod
    def from_store(cls, columns: Columns) -> LabelColumns:
        fields = columns.fields
        # the narrowest integers that hold them (tens of millions of labels at a million images): name
        # codes are only indices into `names`; counts are only repeated, summed two by two plus one
        # (matching's rows per label) or accumulated in 64 bits, so 2 * max + 1 must fit
        bound = {name: len(columns.names) for name in _INTERNED}
        return cls(
            names=columns.names,
            labels_per_answer=columns.counts["name"],
            **{name: _narrowed(fields[name], bound.get(name)) for name in _INT_FIELDS},
            confidence=fields["confidence"],
            box=fields["box"].reshape(-1, 5),
            entries=fields["entries"].astype(np.int64),
        )

    @classmethod
    def from_answers(cls, answers: Sequence[LabelsAnswer]) -> LabelColumns:
        """The same columns from answer objects (a notebook's, a test's)."""
        codes: dict[str, int] = {}

        def intern(values: list[str]) -> np.ndarray:
            return np.fromiter((codes.setdefault(v, len(codes)) for v in values), np.int32, count=len(values))

        encoded = [encode_answer(answer) for answer in answers]

        def joined(field: str, dtype: Any) -> np.ndarray:
            return np.asarray([value for entry in encoded for value in entry[field]], dtype=dtype)

        built = {name: intern([v for entry in encoded for v in entry[name]]) for name in _INTERNED}
        return cls(
            names=tuple(codes),
            labels_per_answer=np.asarray([len(a.labels) for a in answers], dtype=np.int64),
            **built,
            confidence=joined("confidence", np.float64),
            parent_count=joined("parent_count", np.int32),
            alias_count=joined("alias_count", np.int32),
            category_count=joined("category_count", np.int32),
            instance_count=joined("instance_count", np.int32),
            box=joined("box", np.float64).reshape(-1, 5),
            entries=joined("entries", np.int64),
        )

    def __len__(self) -> int:
        return len(self.labels_per_answer)

    @property
    def answer_of_label(self) -> np.ndarray:
        """For every label entry, the position of its answer."""
        return np.repeat(np.arange(len(self), dtype=np.int64), self.labels_per_answer)

    def lowest_confidence(self) -> np.ndarray:
        """Per answer its lowest confidence; NaN for an answer with no label."""
        lowest = np.full(len(self), np.nan)
        has = self.labels_per_answer > 0
        if has.any():
            starts = _offsets(self.labels_per_answer)[:-1][has]
            lowest[has] = np.minimum.reduceat(self.confidence, starts)
        return lowest

    def returned(self) -> np.ndarray:
        """Per answer the entries the service returned (what MaxLabels cuts): its raw entries where the
        API counts them (Custom Labels), else its labels, as `LabelsAnswer.is_truncated` reads them."""
        return np.where(self.entries >= 0, self.entries, self.labels_per_answer)

    @functools.cached_property
    def _offsets(self) -> dict[str, np.ndarray]:
        """Where each answer's labels, parents, aliases, categories and boxes start (one entry per answer
        and one past the last): per answer, not per label, which at a million answers kept four arrays
        of tens of millions of offsets (a gigabyte) for the few answers and parts ever asked for."""
        label = _offsets(self.labels_per_answer)
        return {
            "label": label,
            **{
                kind: _offsets(getattr(self, f"{kind}_count"))[label]
                for kind in ("parent", "alias", "category", "instance")
            },
        }

    def between(self, first: int, last: int) -> LabelColumns:
        """The answers first..last-1 (views, not copies): a bounded part of a million answers."""
        offsets = self._offsets
        start, end = int(offsets["label"][first]), int(offsets["label"][last])

        def spanned(kind: str) -> np.ndarray:
            return getattr(self, kind)[int(offsets[kind][first]) : int(offsets[kind][last])]

        instance = offsets["instance"]
        return LabelColumns(
            names=self.names,
            labels_per_answer=self.labels_per_answer[first:last],
            name=self.name[start:end],
            confidence=self.confidence[start:end],
            parent_count=self.parent_count[start:end],
            parent=spanned("parent"),
            alias_count=self.alias_count[start:end],
            alias=spanned("alias"),
            category_count=self.category_count[start:end],
            category=spanned("category"),
            instance_count=self.instance_count[start:end],
            box=self.box[int(instance[first]) : int(instance[last])],
            entries=self.entries[first:last],
        )

    def answer(self, position: int) -> LabelsAnswer:
        """One answer as the adapter read it (for the few places that show one image)."""
        offsets = self._offsets
        start, end = int(offsets["label"][position]), int(offsets["label"][position + 1])
        names = self.names

        def spans(kind: str) -> list[tuple[str, ...]]:
            counts, values = getattr(self, f"{kind}_count"), getattr(self, kind)
            out, cursor = [], int(offsets[kind][position])
            for count in counts[start:end]:
                out.append(tuple(names[code] for code in values[cursor : cursor + int(count)]))
                cursor += int(count)
            return out

        parents, aliases, categories = spans("parent"), spans("alias"), spans("category")
        box_cursor = int(offsets["instance"][position])
        labels = []
        for offset, index in enumerate(range(start, end)):
            count = int(self.instance_count[index])
            boxes = tuple(
                PredictedBox(*(float(value) for value in row))
                for row in self.box[box_cursor : box_cursor + count]
            )
            box_cursor += count
            labels.append(
                PredictedLabel(
                    name=names[int(self.name[index])],
                    confidence=float(self.confidence[index]),
                    parents=parents[offset],
                    aliases=aliases[offset],
                    categories=categories[offset],
                    instances=boxes,
                )
            )
        entries = int(self.entries[position])
        return LabelsAnswer(
            labels=tuple(labels), model_version=None, entries=None if entries == NO_ENTRIES else entries
        )

    def counting_boxes(self, position: int, counts: np.ndarray, *, through_parents: bool) -> np.ndarray:
        """The instance boxes (left, top, width, height), in answer order, of the labels of answer
        `position` that count: whose name's code is flagged in `counts` (one flag per code of `names`) or,
        `through_parents`, one of whose parents or aliases is. What report.html draws on a thumbnail, read
        from the columns instead of rebuilding the answer and normalising every name in it."""
        offsets = self._offsets
        start, end = int(offsets["label"][position]), int(offsets["label"][position + 1])
        hit = counts[self.name[start:end]]
        for kind in ("parent", "alias") if through_parents else ():
            codes = getattr(self, kind)[int(offsets[kind][position]) : int(offsets[kind][position + 1])]
            owner = np.repeat(np.arange(end - start), getattr(self, f"{kind}_count")[start:end])
            hit[owner[counts[codes]]] = True
        first, last = int(offsets["instance"][position]), int(offsets["instance"][position + 1])
        return self.box[first:last, :4][np.repeat(hit, self.instance_count[start:end])]


_INTERNED = ("name", "parent", "alias", "category")
_INT_FIELDS = (*_INTERNED, "parent_count", "alias_count", "category_count", "instance_count")


class LazyAnswers(Sequence[LabelsAnswer]):
    """The answers of a run as a sequence that builds each `LabelsAnswer` only when it is asked for."""

    def __init__(self, columns: LabelColumns) -> None:
        self.columns = columns

    def __len__(self) -> int:
        return len(self.columns)

    def __getitem__(self, position: Any) -> Any:
        if isinstance(position, slice):
            return [self.columns.answer(i) for i in range(*position.indices(len(self)))]
        if position < 0:
            position += len(self)
        if not 0 <= position < len(self):
            raise IndexError(position)
        return self.columns.answer(int(position))

    def __iter__(self) -> Iterator[LabelsAnswer]:
        return (self.columns.answer(i) for i in range(len(self)))


def as_columns(answers: Sequence[LabelsAnswer] | LabelColumns) -> LabelColumns:
    if isinstance(answers, LabelColumns):
        return answers
    if isinstance(answers, LazyAnswers):
        return answers.columns
    return LabelColumns.from_answers(list(answers))


def parents_text(columns: LabelColumns, separator: str) -> tuple[np.ndarray, list[str]]:
    """Per label entry a code into the returned texts: its parents joined by `separator`.

    Labels share few distinct parent lists, so each distinct list is joined once, not once per label:
    each entry's list is one integer (its codes as digits), and the distinct integers are found by
    hashing, not sorting.
    """
    count = columns.parent_count
    width = int(count.max()) if len(count) else 0
    base = len(columns.names) + 1
    if not width or base**width >= 2**62:
        return _parents_text_by_rows(columns, separator, width)
    rank = rank_in_group(count)
    weights = base ** np.arange(width - 1, -1, -1, dtype=np.int64)  # digit (code + 1) at its rank
    digits = (columns.parent.astype(np.int64) + 1) * weights[rank]
    key = np.zeros(len(count), dtype=np.int64)  # 0: no parents
    some = count > 0
    key[some] = np.add.reduceat(digits, _offsets(count)[:-1][some])
    inverse, distinct = pd.factorize(key)
    names = columns.names
    texts = []
    for number in distinct.tolist():
        codes = []
        for _ in range(width):
            number, digit = divmod(number, base)
            codes.append(digit - 1)
        texts.append(separator.join(names[code] for code in reversed(codes) if code >= 0))
    return np.asarray(inverse, dtype=np.int64), texts


def _parents_text_by_rows(columns: LabelColumns, separator: str, width: int) -> tuple[np.ndarray, list[str]]:
    """`parents_text` where a list's codes do not fit in one integer (or no label has parents): the rows
    of a padded code matrix made unique."""
    count = columns.parent_count
    matrix = np.full((len(count), max(width, 1)), -1, dtype=np.int64)
    if width:
        owner = np.repeat(np.arange(len(count)), count)
        matrix[owner, rank_in_group(count)] = columns.parent
    distinct, inverse = np.unique(matrix, axis=0, return_inverse=True)
    names = columns.names
    texts = [separator.join(names[code] for code in row if code >= 0) for row in distinct]
    return inverse.reshape(-1), texts


def predictions_chunks(
    images: Sequence[str], columns: LabelColumns, *, separator: str, chunk_answers: int = 5000
) -> Iterator[Any]:
    """predictions.csv (image, label, confidence, parents, instances) as Arrow tables of a bounded number
    of answers: the same rows and values as one frame of every (image, label). Each text column is
    taken by index from its few distinct strings (image names, label names, parent lists), so no row
    has a Python string of its own."""
    import pyarrow as pa  # imported when the table is made: `import evaluation` stays light

    schema = pa.schema(
        [
            ("image", pa.string()),
            ("label", pa.string()),
            ("confidence", pa.float64()),
            ("parents", pa.string()),
            ("instances", pa.int64()),
        ]
    )
    uris = pa.array(list(images), pa.string())
    names = pa.array(list(columns.names), pa.string())
    for first in range(0, max(len(columns), 1), chunk_answers):
        last = min(first + chunk_answers, len(columns))
        part = columns.between(first, last)
        parent_code, texts = parents_text(part, separator)
        owner = np.repeat(np.arange(first, last, dtype=np.int64), part.labels_per_answer)
        yield pa.table(
            [
                uris.take(owner),
                names.take(part.name),
                pa.array(part.confidence, pa.float64()),
                pa.array(texts, pa.string()).take(parent_code),
                pa.array(part.instance_count.astype(np.int64)),
            ],
            schema=schema,
        )
