"""The real and documented payloads in ../shared, read where they live (never copied)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

# ../shared beside the repository; UAPI_SHARED_DIR points elsewhere when the clone lives apart.
SHARED = Path(os.environ.get("UAPI_SHARED_DIR") or Path(__file__).resolve().parents[3] / "shared")
FIXTURES = SHARED / "fixtures" / "utilityapi-real"


def load_fixture(name: str) -> Any:
    path = FIXTURES / name
    if not path.exists():
        pytest.skip(f"shared fixtures not found at {FIXTURES} (set UAPI_SHARED_DIR)")
    return json.loads(path.read_text())


def fixture_names() -> list[str]:
    if not FIXTURES.exists():
        pytest.skip(f"shared fixtures not found at {FIXTURES} (set UAPI_SHARED_DIR)")
    return sorted(p.name for p in FIXTURES.glob("*.json"))
