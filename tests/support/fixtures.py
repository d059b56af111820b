"""The real and documented payloads in ../shared, read where they live (never copied)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "utilityapi-real"


def load_fixture(name: str) -> Any:
    path = FIXTURES / name
    if not path.exists():
        pytest.skip(f"shared fixtures not found at {FIXTURES}")
    return json.loads(path.read_text())


def fixture_names() -> list[str]:
    return sorted(p.name for p in FIXTURES.glob("*.json")) if FIXTURES.exists() else []
