"""Scenario 5: building the transforms over the backfilled readings (needs `transforms`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def after_backfill(db: Path) -> dict[str, Any]:
    return {"skipped": "transforms package not available yet"}


def after_increment(db: Path) -> dict[str, Any]:
    return {"skipped": "transforms package not available yet"}
