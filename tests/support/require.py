"""Prerequisites of a test: skipped with the reason locally, a failure in CI.

A skip keeps a local run green on a machine without, say, ../shared or a PostgreSQL server,
and says why. In CI (`CI=true`) the same missing prerequisite fails the run: a green CI that
skipped the tests catching a bug proves nothing.

    require(FIXTURES.exists(), f"shared fixtures not found at {FIXTURES} (set UAPI_SHARED_DIR)")
"""

from __future__ import annotations

import os

import pytest

CI_VALUES = frozenset({"1", "true", "yes"})


def in_ci() -> bool:
    """Whether this run is CI's (`CI=true`, as CI services set it)."""
    return os.environ.get("CI", "").strip().lower() in CI_VALUES


def require(condition: object, reason: str) -> None:
    """Go on when `condition` holds; otherwise skip locally and fail in CI, saying why."""
    if condition:
        return
    if in_ci():
        pytest.fail(f"{reason}. CI=true: a missing prerequisite fails the run.", pytrace=False)
    pytest.skip(reason)
