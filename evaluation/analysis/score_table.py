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
        duplicates = names.has_duplicates
        narrow = np.int32 if len(names) < 2**31 else np.int64
        dtypes = (narrow if duplicates else _codes_dtype(len(names)), _codes_dtype(pairs.n_labels))
        blocks = (_block(pairs, inserted, start, min(start + rows, total)) for start in range(0, total, rows))
        first = next(blocks)
        # the schema, its pandas metadata and the dictionaries as from_pandas makes them, made once
        head = pa.Table.from_pandas(
            _frame(names, pairs.labels, *(column[:1] for column in first), dtypes), preserve_index=False
        )
        label_names = head.column("label").chunk(0).dictionary
        if duplicates:  # a name per row, taken from the names by index (not a Python string per row)
            image_names = pa.array(names.to_numpy(), type=head.schema.field("image").type)
        else:
            image_names = head.column("image").chunk(0).dictionary
        for image, label, confidence, positive in itertools.chain([first], blocks):
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
                schema=head.schema,
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
    """The positives never returned and where they go among the pairs (what `_scored_codes` inserts),
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
    """A few rows of the table as `scores_frame` makes it (its dtypes, categories and their codes)."""
    image = image.astype(dtypes[0])
    return pd.DataFrame(
        {
            "image": names[image] if names.has_duplicates else pd.Categorical.from_codes(image, names),
            "label": pd.Categorical.from_codes(label.astype(dtypes[1]), pd.Index(labels, dtype=object)),
            "confidence": confidence,
            "positive": positive,
        }
    )


def scores_frame(
    pairs: ScoredPairs, positives: tuple[np.ndarray, np.ndarray], images: Sequence[str]
) -> pd.DataFrame:
    """Every (image, label) pair that was returned or is a positive: enough to judge each image's
    decision at any threshold (compare's paired test)."""
    n_labels = max(pairs.n_labels, 1)
    codes, confidence, positive = _scored_codes(pairs, positives, n_labels)
    # categories, not a string per row: millions of rows name a few thousand images' and labels' names;
    # their codes computed straight into the dtype from_codes would narrow them to (int8 for up to 127
    # labels: not an int32 copy of 0.1 GB at 28 million rows), which it then holds as they are
    names = pd.Index(images, dtype=object)
    narrow = np.int32 if len(names) < 2**31 else np.int64
    image_dtype = narrow if names.has_duplicates else _codes_dtype(len(names))
    image_of = np.floor_divide(codes, n_labels, out=np.empty(codes.shape[0], image_dtype), casting="unsafe")
    image = names[image_of] if names.has_duplicates else pd.Categorical.from_codes(image_of, names)
    del image_of
    label_dtype = _codes_dtype(pairs.n_labels)
    label_of = np.remainder(codes, n_labels, out=np.empty(codes.shape[0], label_dtype), casting="unsafe")
    del codes
    label = pd.Categorical.from_codes(label_of, pd.Index(pairs.labels, dtype=object))
    del label_of
    return pd.DataFrame(
        # positive: 0 or 1, a byte, not eight, on millions of rows; the arrays as they are, not copies
        {"image": image, "label": label, "confidence": confidence, "positive": positive},
        copy=False,
    )


def _codes_dtype(n_categories: int) -> np.dtype:
    """The dtype pandas holds a Categorical's codes in for ``n_categories`` categories (as it decides)."""
    return pd.Categorical.from_codes(np.zeros(0, np.int64), pd.RangeIndex(n_categories)).codes.dtype


def _scored_codes(
    pairs: ScoredPairs, positives: tuple[np.ndarray, np.ndarray], n_labels: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(code, confidence, positive) of every (image, label) returned or positive, by code (image *
    n_labels + label): NaN where not returned, 1 where positive. Pairs come by image then label, so the
    positives never returned are inserted among them (no sort, no search of tens of millions of rows);
    pairs in another order are sorted with the positives."""
    returned = np.multiply(pairs.image_idx, n_labels, dtype=np.int64)
    returned += pairs.label_idx
    truth = _sorted_unique(
        np.asarray(positives[0], dtype=np.int64) * n_labels + np.asarray(positives[1], dtype=np.int64)
    )
    if returned.size < 2 or bool((returned[1:] > returned[:-1]).all()):
        at = np.searchsorted(returned, truth)
        found = np.zeros(truth.size, dtype=bool)
        inside = at < returned.size
        found[inside] = returned[at[inside]] == truth[inside]
        where, extra = at[~found], truth[~found]
        codes = np.insert(returned, where, extra)
        del returned
        confidence = np.insert(pairs.confidence.astype(np.float64, copy=False), where, np.nan)
    else:
        codes = np.concatenate([returned, truth])  # each (image, label) at most once in either
        codes.sort()
        codes = codes[np.r_[True, codes[1:] != codes[:-1]]] if codes.size else codes
        confidence = np.full(codes.shape[0], np.nan)
        confidence[np.searchsorted(codes, returned)] = pairs.confidence
        del returned  # each array the size of the pairs goes as soon as it is used: tens of millions of rows
    positive = np.zeros(codes.shape[0], dtype=np.int8)  # 0 or 1, a byte, not eight, on millions of rows
    positive[np.searchsorted(codes, truth)] = 1
    return codes, confidence, positive
