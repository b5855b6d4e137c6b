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


def int_array(name: str, values: Any, shape: tuple[int, ...]) -> np.ndarray:
    array = np.asarray(values)
    if array.size == 0 and array.dtype.kind == "f":
        array = array.astype(np.int64)  # np.asarray([]) is float64; an empty list is a fine empty index
    if array.dtype.kind not in "iu":
        raise ValueError(f"{name} must hold integers; got dtype {array.dtype}")
    if array.shape != shape:
        raise ValueError(f"{name} must have shape {shape}; got {array.shape}")
    return array.astype(np.int64, copy=False)
