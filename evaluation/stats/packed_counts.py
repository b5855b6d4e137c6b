"""Several resamples' integer running sums added at once, side by side in the fields of one uint64.

numpy's running sum down the rows of a (rows, resamples) block costs about the same per cell whatever
the dtype (each column is walked down the block, one dependent add after another), so it is the number
of cells that counts: with the multiplicities of f resamples packed into the f fields of one uint64,
P = sum over k of w_k * 2**(k * bits), one add adds all f.

Why every sum read is the same integer: packing is linear modulo 2**64, so the running sums' words
(which may carry from field to field, and wrap) still give P(end) - P(start) = sum over k of D_k *
2**(k * bits) modulo 2**64, D_k being resample k's sum over the rows read. The multiplicities are
non-negative, so each D_k is at least 0 and at most both (longest run of rows read) x (largest
multiplicity) and (most rows of one image) x (the resample's total multiplicity); with a field wider
than the smaller bound every D_k fits its field and is read back exactly: the same integers as the
unpacked running sums, hence the same numbers bit for bit. At 10,000 images (the largest label's 5,606
entries, multiplicities up to 8 or 9: 16-bit fields) four resamples share a uint64; in the little
bootstraps at 100,000 images (multiplicities near n / b) two.
"""

from __future__ import annotations

import numpy as np

# fields per uint64 -> the unsigned type of one field: byte-aligned fields, so that packing is a cast
# to the narrow type viewed as uint64, unpacking the reverse (no shifts, no masks)
_FIELD_TYPES: dict[int, type[np.unsignedinteger]] = {8: np.uint8, 4: np.uint16, 2: np.uint32}


def packed_fields(longest: int, most: int, weights_t: np.ndarray) -> int:
    """How many columns of ``weights_t`` (N, C) to pack into one uint64 (8, 4 or 2), for sums over runs
    of rows at most ``longest`` long in which one image appears at most ``most`` times: 1 (do not pack)
    for float or negative multiplicities, for one column, or when a sum might not fit half a word."""
    if weights_t.shape[1] < 2 or not np.issubdtype(weights_t.dtype, np.integer) or weights_t.size == 0:
        return 1
    if int(weights_t.min()) < 0:
        return 1
    largest = int(weights_t.max())
    by_length = max(longest, 0) * largest
    by_image = max(most, 0) * int(weights_t.sum(axis=0, dtype=np.int64).max())
    bound = max(min(by_length, by_image), largest)  # every multiplicity fits a field too (the cast)
    return next((fields for fields, kind in _FIELD_TYPES.items() if bound <= np.iinfo(kind).max), 1)


def pack(weights_t: np.ndarray, fields: int) -> np.ndarray:
    """(N, C) multiplicities -> (N, ceil(C / fields)) uint64: columns j * fields .. j * fields + fields - 1
    in the fields of packed column j (the last one padded with zeros)."""
    n_rows, n_columns = weights_t.shape
    narrow = np.zeros((n_rows, -(-n_columns // fields) * fields), dtype=_FIELD_TYPES[fields])
    narrow[:, :n_columns] = weights_t
    return narrow.view(np.uint64)


def unpack(packed: np.ndarray, fields: int, n_columns: int, dtype: np.dtype) -> np.ndarray:
    """Packed sums (Q, m), C-contiguous, every field's sum below 2 ** (64 // fields) -> (Q, n_columns) of
    ``dtype``: the inverse of :func:`pack`."""
    return packed.view(_FIELD_TYPES[fields])[:, :n_columns].astype(dtype)
