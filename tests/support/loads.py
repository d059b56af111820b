"""Load options pointing the real pipeline at a sandbox, as tests need them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipelines.pipeline import LoadOptions, Target
from sources.utilityapi.clock import Clock


def sandbox_options(
    sb: Any, db: Path, clock: Clock, *, transform: bool = False, **source: Any
) -> LoadOptions:
    """Options for a load of sandbox `sb` into DuckDB file `db`; `source` overrides settings."""
    return LoadOptions(
        target=Target(db_path=db),
        source={"api_token": sb.token, "base_url": sb.base_url, "rate_limit": 0, **source},
        clock=clock,
        transform=transform,
    )
