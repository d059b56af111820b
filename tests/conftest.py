"""Suite-wide settings: the run's header says where the shared fixtures are and whether CI
rules (missing prerequisites fail instead of skipping) apply; the PostgreSQL server fixture."""

from __future__ import annotations

from tests.support.fixtures import FIXTURES
from tests.support.postgres import postgres_server
from tests.support.require import in_ci

__all__ = ["postgres_server"]


def pytest_report_header() -> list[str]:
    found = "found" if FIXTURES.is_dir() else "MISSING"
    rule = "fail" if in_ci() else "skip"
    return [f"uapi: shared fixtures {FIXTURES} {found}; missing prerequisites {rule}"]
