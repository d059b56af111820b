"""The real and documented payloads in ../shared, read where they live (never copied).

Missing fixtures skip the tests that need them locally and fail them in CI (`require`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .require import require

# ../shared beside the repository; UAPI_SHARED_DIR points elsewhere when the clone lives apart.
SHARED = Path(os.environ.get("UAPI_SHARED_DIR") or Path(__file__).resolve().parents[3] / "shared")
FIXTURES = SHARED / "fixtures" / "utilityapi-real"
MISSING = f"shared fixtures not found at {FIXTURES} (clone ../shared beside the repository or set UAPI_SHARED_DIR)"


def fixture_path(name: str) -> Path:
    """The path of one shared fixture; skips (fails in CI) when it is not there."""
    path = FIXTURES / name
    require(FIXTURES.is_dir(), MISSING)
    require(path.exists(), f"shared fixture {name} not found in {FIXTURES}")
    return path


def load_fixture(name: str) -> Any:
    return json.loads(fixture_path(name).read_text())


def fixture_names() -> list[str]:
    require(FIXTURES.is_dir(), MISSING)
    return sorted(p.name for p in FIXTURES.glob("*.json"))
