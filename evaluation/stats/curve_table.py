"""exact_curves' table held as the points it is made of: per point its label, threshold, tp and fp; per
label its support and negatives. Every other column (fn, tn, precision, recall, F1, support) follows
from those, so it is made when read, a block of rows at a time, instead of being held: at a million
images (25 million points) the whole frame is 1.4 GB, these points 0.4 GB.

It reads like the frame for what the analysis and the reports do with it: ``table["f1"]`` (a Series),
``table[["label", "threshold"]]`` and ``table[mask]`` (DataFrames), ``len``, ``columns``, ``empty``;
:meth:`CurveTable.frame` is the whole DataFrame (or some rows, some columns), :meth:`CurveTable.frames`
the frame a block of rows at a time, as a writer wants it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["CURVE_COLUMNS", "CurveTable", "divide", "f1_score", "precision", "rates", "recall"]

CURVE_COLUMNS = ("label", "threshold", "tp", "fp", "fn", "tn", "precision", "recall", "f1", "support")

ROWS_PER_BLOCK = 1 << 20  # rows whose derived columns are computed at a time (8 MB per array)


def divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator, NaN where the denominator is 0 (undefined, not 0). Integers are divided
    as they are: numpy casts them to float64 a buffer at a time (the same numbers, no float64 copies)."""
    numerator, denominator = _ints_or_float64(numerator), _ints_or_float64(denominator)
    out = np.full(np.broadcast(numerator, denominator).shape, np.nan)
    np.divide(numerator, denominator, out=out, where=denominator != 0)
    return out


def _ints_or_float64(values: np.ndarray) -> np.ndarray:
    array = np.asarray(values)
    return array if array.dtype.kind in "iu" else array.astype(np.float64, copy=False)


def precision(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
    return divide(tp, tp + fp)


def recall(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
    return divide(tp, tp + fn)


def f1_score(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
    """2tp / (2tp + fp + fn): defined whenever anything is predicted or positive, even where precision
    is not."""
    return divide(2 * tp, 2 * tp + fp + fn)


_RATES = {"precision": precision, "recall": recall, "f1": f1_score}


def rates(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """precision, recall, F1 from counts."""
    return precision(tp, fp, fn), recall(tp, fp, fn), f1_score(tp, fp, fn)


@dataclass(frozen=True, eq=False)
class CurveTable:
    """exact_curves' table (see the module doc). ``label`` is a Categorical whose categories are the
    labels in report order; ``support`` and ``negatives`` are per category (negatives: the images
    without the label, or an operation's own count of what a threshold can reject), int64; the counts
    per point are in ``narrow`` (int32 below 2**31 images), as the frame holds them."""

    label: pd.Categorical
    threshold: np.ndarray
    tp: np.ndarray
    fp: np.ndarray
    support: np.ndarray
    negatives: np.ndarray
    narrow: type = np.int32

    @property
    def columns(self) -> pd.Index:
        return pd.Index(CURVE_COLUMNS)

    @property
    def empty(self) -> bool:
        return len(self) == 0

    def __len__(self) -> int:
        return int(self.threshold.shape[0])

    def __getitem__(self, key: Any) -> pd.Series | pd.DataFrame:
        """A column by name (a Series), some columns by a list of names or some rows by a boolean mask
        (a DataFrame), as a DataFrame's [] gives them."""
        if isinstance(key, str):
            return pd.Series(self.column(key), name=key, copy=False)
        if isinstance(key, (list, tuple)) and all(isinstance(name, str) for name in key):
            return self.frame(columns=key)
        mask = np.asarray(key)
        if mask.dtype != np.bool_ or mask.shape != (len(self),):
            raise KeyError(f"a curve table is read by column name(s) or a boolean mask per row; got {key!r}")
        return self.frame(rows=np.flatnonzero(mask))

    def column(self, name: str, rows: slice | np.ndarray = slice(None)) -> Any:
        """One column of the frame, for ``rows`` (all by default): a Categorical for ``label``, the held
        array itself (read-only) for threshold, tp and fp, else made now, a block at a time."""
        if name == "label":
            return self.label[rows] if not _every(rows) else self.label
        if name in ("threshold", "tp", "fp"):
            values = getattr(self, name)
            return values if _every(rows) else values[rows]
        if name not in CURVE_COLUMNS:
            raise KeyError(f"no column {name!r} in the curves (columns: {', '.join(CURVE_COLUMNS)})")
        if isinstance(rows, slice) and rows.step in (None, 1):  # a writer's block: no index array of them
            first, stop, _ = rows.indices(len(self))
            picked, n_rows = None, max(stop - first, 0)
        else:
            picked = np.arange(len(self))[rows]
            n_rows = picked.shape[0]
        out = np.empty(n_rows, dtype=np.float64 if name in _RATES else self.narrow)
        for start in range(0, n_rows, ROWS_PER_BLOCK):
            block = slice(start, min(start + ROWS_PER_BLOCK, n_rows))
            at = slice(first + block.start, first + block.stop) if picked is None else picked[block]
            out[block] = self._derived(name, at)
        return out

    def _derived(self, name: str, rows: slice | np.ndarray) -> np.ndarray:
        """fn, tn, support or a rate of ``rows``, computed as exact_curves always has (the same dtypes
        in the same expressions: the same numbers, bit for bit)."""
        codes = self.label.codes[rows]
        if name == "tn":
            return self.negatives[codes] - self.fp[rows].astype(np.int64)
        support = self.support[codes]
        if name == "support":
            return support
        tp = self.tp[rows]
        missed = support - tp
        if name == "fn":
            return missed
        return _RATES[name](tp, self.fp[rows], missed)

    def frame(
        self, rows: slice | np.ndarray = slice(None), columns: Sequence[str] = CURVE_COLUMNS
    ) -> pd.DataFrame:
        """The frame exact_curves describes (``rows`` of it, ``columns`` of it), made now: a new frame at
        each call, its columns its own (nothing held here is edited through it)."""
        data = {}
        for name in columns:
            values = self.column(name, rows)
            if values is getattr(self, name, None):
                values = values.copy()  # the held arrays stay this table's: the frame may be edited
            data[name] = values
        return pd.DataFrame(data, columns=list(columns), copy=False)

    def frames(self, size: int = ROWS_PER_BLOCK) -> Iterator[pd.DataFrame]:
        """The whole frame, ``size`` rows at a time (one frame: ``frame()``), as a writer takes it; each
        block's label column keeps every category; an empty table gives one empty frame."""
        for start in range(0, max(len(self), 1), size):
            yield self.frame(rows=slice(start, start + size))
            if start + size >= len(self):
                return

    def label_rows(self, labels: Sequence[str]) -> np.ndarray:
        """The rows of ``labels`` (in the table's order)."""
        wanted = np.zeros(len(self.label.categories) + 1, dtype=bool)
        wanted[self.label.categories.get_indexer(pd.Index(list(labels), dtype=object))] = True
        wanted[-1] = False  # get_indexer's -1 (a label not in the table) marks nothing
        return np.flatnonzero(wanted[self.label.codes])

    def most_tp(self) -> pd.Series:
        """Per label with points (indexed by label), its largest tp: the positives it ever finds."""
        codes = self.label.codes
        if not len(self):
            return pd.Series([], dtype=np.int64)
        found = pd.Series(self.tp).groupby(codes, sort=True).max()
        return pd.Series(found.to_numpy(), index=self.label.categories[found.index.to_numpy()])


def _every(rows: slice | np.ndarray) -> bool:
    return isinstance(rows, slice) and rows == slice(None)
