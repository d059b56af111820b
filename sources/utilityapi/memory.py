"""Process-wide memory settings for long loads, applied once by the application that runs them.

Nothing here runs at import: the CLI (or any application embedding the source) calls
`tune_process()` once before loading. Arrow's C++ allocator cannot be changed once pyarrow is
imported, so an application of its own should also set `ARROW_DEFAULT_MEMORY_POOL=system` in
its environment, as `pipelines/__init__.py` does for the CLI. The source itself only hands
freed memory back with `release_free_memory()` between batches.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
from typing import Any

import pyarrow as pa

# glibc's mallopt parameter for the number of malloc arenas (malloc.h)
_M_ARENA_MAX = -8
# Listing pages parse into hundreds of thousands of small acyclic dicts; with the default
# threshold (700) the cyclic collector walks them over and over while they are built.
GC_THRESHOLD = 50_000


def _load_libc() -> Any:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None
    if not (hasattr(libc, "malloc_trim") and hasattr(libc, "mallopt")):
        return None  # not glibc
    return libc


_LIBC = _load_libc()


def tune_process(malloc_arenas: int = 2) -> None:
    """Settings that keep a long load's memory flat and its parsing cheap.

    - glibc malloc arenas capped (like MALLOC_ARENA_MAX=2): by default glibc gives threads up
      to 8 arenas per core, and with a pool of HTTP threads handling megabyte-sized pages the
      peak grows with the number of threads rather than with the data.
    - Arrow allocates from the system allocator: its bundled allocator keeps pages freed by each
      thread for that thread, so memory grows with the data when several threads parse. This
      covers what pyarrow's calls allocate; Arrow's C++ code (the Parquet writer) takes its
      allocator from `ARROW_DEFAULT_MEMORY_POOL` when pyarrow is imported, which
      `pipelines/__init__.py` sets before anything imports it.
    - The cyclic garbage collector runs less often, and objects alive at start-up (modules,
      dlt's configuration) are frozen out of its scans.
    """
    if _LIBC is not None:
        _LIBC.mallopt(_M_ARENA_MAX, malloc_arenas)
    pa.set_memory_pool(pa.system_memory_pool())
    gc.freeze()
    _, second, third = gc.get_threshold()
    gc.set_threshold(GC_THRESHOLD, second, third)


def release_free_memory() -> None:
    """Hand memory freed by parsing back to the OS (glibc keeps it in per-thread arenas)."""
    if _LIBC is not None:
        _LIBC.malloc_trim(0)
