"""Counter-based hashing: every generated value is a pure function of (seed, names, counters).

Nothing is drawn from a stateful generator, so any reading, gap or uid can be computed on its own,
in any order, and comes out the same on every run.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache

import numpy as np

MASK64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15
_M1 = 0xBF58476D1CE4E5B9
_M2 = 0x94D049BB133111EB
_INV_2_53 = 1.0 / (1 << 53)


def mix64(x: int) -> int:
    """splitmix64 finaliser on a Python int."""
    x = (x + _GOLDEN) & MASK64
    x = ((x ^ (x >> 30)) * _M1) & MASK64
    x = ((x ^ (x >> 27)) * _M2) & MASK64
    return x ^ (x >> 31)


def mix_array(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser on a uint64 array (wrap-around multiplication is intended)."""
    x = x.astype(np.uint64, copy=True)
    with np.errstate(over="ignore"):
        x += np.uint64(_GOLDEN)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(_M1)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(_M2)
    return x ^ (x >> np.uint64(31))


@lru_cache(maxsize=65536)
def name_key(name: str) -> int:
    """A stable 64-bit key for a string (Python's hash() is salted per process)."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "little")


def key(*parts: int | str) -> int:
    """Combine ints and strings into one 64-bit key."""
    h = 0x1234_5678_9ABC_DEF0
    for part in parts:
        value = name_key(part) if isinstance(part, str) else part & MASK64
        h = mix64(h ^ value)
    return h


def uniform(*parts: int | str) -> float:
    """A float in [0, 1) determined by the parts."""
    return (key(*parts) >> 11) * _INV_2_53


def randint(low: int, high: int, *parts: int | str) -> int:
    """An int in [low, high] determined by the parts."""
    return low + key(*parts) % (high - low + 1)


def uniform_array(base: int, counters: np.ndarray) -> np.ndarray:
    """Floats in [0, 1), one per counter, for the stream identified by `base`."""
    x = counters.astype(np.uint64) ^ np.uint64(base & MASK64)
    return (mix_array(mix_array(x)) >> np.uint64(11)).astype(np.float64) * _INV_2_53


def hex_id(length: int, *parts: int | str) -> str:
    """A lowercase hex string of `length` characters (at most 16)."""
    return f"{key(*parts):016x}"[:length]
