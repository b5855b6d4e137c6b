"""The arrays a frozen ScoredPairs holds: integers checked, and read-only so that neither the caller nor
a cache can see them change."""

from __future__ import annotations

from typing import Any

import numpy as np


def readonly(values: np.ndarray, *, take: bool = False) -> np.ndarray:
    """A read-only copy: a frozen ScoredPairs cannot change under the caller's feet (nor its cache). With
    `take`, the array itself made read-only (a caller's own, which it gives away) when it owns its data."""
    if take and values.flags.owndata:
        values.flags.writeable = False
        return values
    copy = np.array(values, copy=True)
    copy.flags.writeable = False
    return copy


def int_array(name: str, values: Any, shape: tuple[int, ...], *, below: int | None = None) -> np.ndarray:
    """``values`` as int64, checked; int32 when every valid value is ``below`` a bound that fits it (the
    pairs' image indices: 0.1 GB less at 28 million pairs; values out of range are reported as before)."""
    array = np.asarray(values)
    if array.size == 0 and array.dtype.kind == "f":
        array = array.astype(np.int64)  # np.asarray([]) is float64; an empty list is a fine empty index
    if array.dtype.kind not in "iu":
        raise ValueError(f"{name} must hold integers; got dtype {array.dtype}")
    if array.shape != shape:
        raise ValueError(f"{name} must have shape {shape}; got {array.shape}")
    if below is not None and below <= 2**31 and (not array.size or 0 <= array.min() <= array.max() < below):
        return array.astype(np.int32, copy=False)
    return array.astype(np.int64, copy=False)
