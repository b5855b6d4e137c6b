"""scores.parquet's table: every (image, label) pair returned or positive, its confidence and its truth.

Tens of millions of rows at a million images, made when asked from the pairs and positives the result
holds anyway. `frame()` builds it whole (EvaluationResult.scores, for notebooks); `blocks(rows)` makes it
a Parquet row group at a time as Arrow tables, the arrays of one block at a time, so writing it holds
no array of the whole table (0.5 GB of codes and confidences at 28 million rows) and the file has the
bytes of the whole frame written at once.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from evaluation.memory import give_back_freed_memory
from evaluation.stats.metrics import ScoredPairs

if TYPE_CHECKING:
    import pyarrow as pa

# the pairs' codes are checked and matched with the positives this many at a time (a few MB)
_STEP = 1 << 20


class ScoreTable:
    """scores.parquet's table, made when asked from `pairs`, every ground-truth `positives` (image_idx,
    label_idx) and the evaluated `images`' names (`pairs.image_idx` indexes them)."""

    def __init__(
        self, pairs: ScoredPairs, positives: tuple[np.ndarray, np.ndarray], images: Sequence[str]
    ) -> None:
        self.pairs, self.positives, self.images = pairs, positives, images

    def frame(self) -> pd.DataFrame:
        """The whole table as one DataFrame (image and label categorical, confidence NaN where not
        returned, positive 0 or 1)."""
        return scores_frame(self.pairs, self.positives, self.images)

    def blocks(self, rows: int) -> Iterator[pa.Table]:
        """The table as Arrow tables of `rows` rows each (the last fewer; at least one table): those of
        `pa.Table.from_pandas(self.frame(), preserve_index=False)`, with its schema and metadata. Pairs
        out of order (or no more than `rows` rows) give that whole table, once."""
        import pyarrow as pa

        if rows < 1:
            raise ValueError(f"rows must be positive; got {rows}")
        pairs = self.pairs
        inserted = _inserted(pairs, self.positives, max(pairs.n_labels, 1))
        total = None if inserted is None else pairs.label_idx.shape[0] + inserted.at.shape[0]
        if total is None or total <= rows:
            yield pa.Table.from_pandas(self.frame(), preserve_index=False)
            return
        names = pd.Index(self.images, dtype=object)
        duplicates, dtypes = names.has_duplicates, _dtypes(names, pairs.n_labels)
        blocks = (_block(pairs, inserted, start, min(start + rows, total)) for start in range(0, total, rows))
        first = next(blocks)
        # the schema, its pandas metadata and the dictionaries as from_pandas makes them, made once
        head = pa.Table.from_pandas(
            _frame(names, pairs.labels, *(column[:1] for column in first), dtypes), preserve_index=False
        )
        schema, label_names = head.schema, head.column("label").chunk(0).dictionary
        if duplicates:  # a name per row, taken from the names by index (not a Python string per row)
            image_names = pa.array(names.to_numpy(), type=head.schema.field("image").type)
        else:
            image_names = head.column("image").chunk(0).dictionary
        # the names' index and its hash table, converting them: let go before the writer's own peak
        del head, names
        give_back_freed_memory()
        blocks = itertools.chain([first], blocks)
        del first
        for image, label, confidence, positive in blocks:
            image_of = pa.array(image.astype(dtypes[0], copy=False))
            yield pa.Table.from_arrays(
                [
                    image_names.take(image_of)
                    if duplicates
                    else pa.DictionaryArray.from_arrays(image_of, image_names),
                    pa.DictionaryArray.from_arrays(pa.array(label.astype(dtypes[1])), label_names),
                    pa.array(confidence, from_pandas=True),  # NaN as null, as from_pandas makes it
                    pa.array(positive),
                ],
                schema=schema,
            )


@dataclass(frozen=True)
class _Inserted:
    """Where the positives never returned go among pairs ordered by image then label."""

    at: np.ndarray  # (E,) before which pair each goes (np.insert's indices), ascending
    row: np.ndarray  # (E,) the row of the table each is: at + its rank among them
    image: np.ndarray  # (E,) its image
    label: np.ndarray  # (E,) its label
    matched: np.ndarray  # the pairs that are positives (their indices, ascending)


def _inserted(
    pairs: ScoredPairs, positives: tuple[np.ndarray, np.ndarray], n_labels: int
) -> _Inserted | None:
    """The positives never returned and where they go among the pairs (as np.insert would put them),
    found a slice of the pairs' codes at a time; None when the pairs are not ordered by image then label."""
    truth = _sorted_unique(
        np.asarray(positives[0], dtype=np.int64) * n_labels + np.asarray(positives[1], dtype=np.int64)
    )
    n_pairs = pairs.label_idx.shape[0]
    at = np.full(truth.shape[0], n_pairs, dtype=np.int64)
    found = np.zeros(truth.shape[0], dtype=bool)
    last, low = -1, 0
    for start in range(0, n_pairs, _STEP):
        codes = np.multiply(pairs.image_idx[start : start + _STEP], n_labels, dtype=np.int64)
        codes += pairs.label_idx[start : start + _STEP]
        if codes[0] <= last or bool((codes[1:] <= codes[:-1]).any()):
            return None
        high = int(np.searchsorted(truth, codes[-1], side="right"))
        local = np.searchsorted(codes, truth[low:high])  # every one <= codes[-1]: inside the slice
        at[low:high] = local + start
        found[low:high] = codes[local] == truth[low:high]
        last, low = int(codes[-1]), high
    extra = truth[~found]
    where = at[~found]
    row = where + np.arange(where.shape[0])
    return _Inserted(at=where, row=row, image=extra // n_labels, label=extra % n_labels, matched=at[found])


def _sorted_unique(values: np.ndarray) -> np.ndarray:
    """np.unique(values) of int64 codes: as they are when already increasing (the positives come so), else
    sorted and each kept once. numpy 2's np.unique hashes: 1.7 s for 2 million positives, not 0.05."""
    if values.size < 2 or bool((values[1:] > values[:-1]).all()):
        return values
    values = np.sort(values)
    return values[np.r_[True, values[1:] != values[:-1]]]


def _block(
    pairs: ScoredPairs, inserted: _Inserted, start: int, stop: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Rows [start, stop) of the table (image code, label code, confidence, positive): the pairs there
    with the positives never returned inserted among them (as np.insert puts them in the whole)."""
    first, last = np.searchsorted(inserted.row, [start, stop])
    begin, end = start - first, stop - last  # the pairs in the block
    where = inserted.at[first:last] - begin
    positive = np.zeros(end - begin, dtype=np.int8)
    matched = inserted.matched
    positive[matched[np.searchsorted(matched, begin) : np.searchsorted(matched, end)] - begin] = 1
    return (
        np.insert(pairs.image_idx[begin:end], where, inserted.image[first:last]),
        np.insert(pairs.label_idx[begin:end], where, inserted.label[first:last]),
        np.insert(pairs.confidence[begin:end].astype(np.float64, copy=False), where, np.nan),
        np.insert(positive, where, 1),
    )


def _frame(
    names: pd.Index,
    labels: Sequence[str],
    image: np.ndarray,
    label: np.ndarray,
    confidence: np.ndarray,
    positive: np.ndarray,
    dtypes: tuple[Any, Any],
) -> pd.DataFrame:
    """The table's rows as a DataFrame: its image and label codes in the dtypes pandas holds them in (the
    arrays as they are when they have them already: not copies of millions of rows)."""
    image, label = image.astype(dtypes[0], copy=False), label.astype(dtypes[1], copy=False)
    return pd.DataFrame(
        {
            # categories, not a string per row: millions of rows name a million images and a few labels
            "image": names[image] if names.has_duplicates else pd.Categorical.from_codes(image, names),
            "label": pd.Categorical.from_codes(label, pd.Index(labels, dtype=object)),
            "confidence": confidence,
            "positive": positive,  # 0 or 1, a byte, not eight
        },
        copy=False,
    )


def scores_frame(
    pairs: ScoredPairs, positives: tuple[np.ndarray, np.ndarray], images: Sequence[str]
) -> pd.DataFrame:
    """Every (image, label) pair that was returned or is a positive: enough to judge each image's
    decision at any threshold (compare's paired test). Pairs by image then label (as they come) are
    copied with the positives never returned inserted among them a block at a time, straight into the
    columns (no code per row: 0.2 GB at 28 million rows); pairs in another order are sorted."""
    n_labels = max(pairs.n_labels, 1)
    names = pd.Index(images, dtype=object)
    dtypes = _dtypes(names, pairs.n_labels)
    inserted = _inserted(pairs, positives, n_labels)
    if inserted is None:
        codes, confidence, positive = _sorted_codes(pairs, positives, n_labels)
        image = np.floor_divide(codes, n_labels, out=np.empty(codes.shape[0], dtypes[0]), casting="unsafe")
        label = np.remainder(codes, n_labels, out=np.empty(codes.shape[0], dtypes[1]), casting="unsafe")
        del codes
    else:
        total = pairs.n_pairs + inserted.at.shape[0]
        image, label = np.empty(total, dtypes[0]), np.empty(total, dtypes[1])
        confidence, positive = np.empty(total), np.empty(total, np.int8)
        for start in range(0, total, _STEP):
            rows = slice(start, min(start + _STEP, total))
            image[rows], label[rows], confidence[rows], positive[rows] = _block(
                pairs, inserted, rows.start, rows.stop
            )
    return _frame(names, pairs.labels, image, label, confidence, positive, dtypes)


def _dtypes(names: pd.Index, n_labels: int) -> tuple[Any, Any]:
    """The image and label codes' dtypes: those from_codes would narrow them to (int8 for up to 127
    labels), so it holds them as they are; a name per row where names repeat (then int32 indices)."""
    narrow = np.int32 if len(names) < 2**31 else np.int64
    return (narrow if names.has_duplicates else _codes_dtype(len(names)), _codes_dtype(n_labels))


def _codes_dtype(n_categories: int) -> np.dtype:
    """The dtype pandas holds a Categorical's codes in for ``n_categories`` categories (as it decides)."""
    return pd.Categorical.from_codes(np.zeros(0, np.int64), pd.RangeIndex(n_categories)).codes.dtype


def _sorted_codes(
    pairs: ScoredPairs, positives: tuple[np.ndarray, np.ndarray], n_labels: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(code, confidence, positive) of every (image, label) returned or positive, by code (image *
    n_labels + label): NaN where not returned, 1 where positive; for pairs in no order (sorted here)."""
    returned = np.multiply(pairs.image_idx, n_labels, dtype=np.int64)
    returned += pairs.label_idx
    truth = _sorted_unique(
        np.asarray(positives[0], dtype=np.int64) * n_labels + np.asarray(positives[1], dtype=np.int64)
    )
    codes = np.concatenate([returned, truth])  # each (image, label) at most once in either
    codes.sort()
    codes = codes[np.r_[True, codes[1:] != codes[:-1]]] if codes.size else codes
    confidence = np.full(codes.shape[0], np.nan)
    confidence[np.searchsorted(codes, returned)] = pairs.confidence
    del returned  # each array the size of the pairs goes as soon as it is used: tens of millions of rows
    positive = np.zeros(codes.shape[0], dtype=np.int8)  # 0 or 1, a byte, not eight, on millions of rows
    positive[np.searchsorted(codes, truth)] = 1
    return codes, confidence, positive
