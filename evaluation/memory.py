"""Freed memory given back to the system between the phases of an analysis (issue 19).

Allocators keep what is freed: glibc keeps it in its heap, Arrow's pool (mimalloc or jemalloc) in its
own pages. The temporaries of reading images.csv and the stored columns, of the matching and of the
curves (megabytes each, part after part) are freed between arrays that live on, so those pages stay
resident while each array of hundreds of megabytes that follows is mapped afresh beside them: at a
million images more than a gigabyte of the peak was memory nothing used. This returns those pages
(`malloc_trim`, the pool's `release_unused`); where the C library has no malloc_trim it does that part
of nothing. No value changes, and pyarrow is not imported for it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import sys
from typing import Any


@functools.cache
def _malloc_trim() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    try:
        trim = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc (musl has none)
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


def give_back_freed_memory() -> None:
    """Return the free pages of Arrow's pool (when pyarrow is in use) and of the C heap to the system:
    a few milliseconds, between phases, never inside a loop."""
    arrow = sys.modules.get("pyarrow")
    if arrow is not None:
        arrow.default_memory_pool().release_unused()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
