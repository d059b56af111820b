"""The source as any dlt user would run it: token and base URL from dlt's configuration."""

from __future__ import annotations

from datetime import UTC, datetime

import dlt
import duckdb

from sandbox import Sandbox, SandboxConfig
from sources.utilityapi import utilityapi


def test_source_reads_token_and_base_url_from_the_environment(tmp_path, monkeypatch):
    with Sandbox(
        SandboxConfig(seed=3, scale="test", now=datetime(2026, 3, 1, tzinfo=UTC), rate_limit=None)
    ) as sb:
        monkeypatch.setenv("SOURCES__UTILITYAPI__API_TOKEN", sb.token)
        monkeypatch.setenv("SOURCES__UTILITYAPI__BASE_URL", sb.base_url)
        monkeypatch.setenv("SOURCES__UTILITYAPI__RATE_LIMIT", "0")
        pipeline = dlt.pipeline(
            "config_test",
            pipelines_dir=str(tmp_path / "pipelines"),
            destination=dlt.destinations.duckdb(str(tmp_path / "w.duckdb")),
            dataset_name="raw",
        )
        pipeline.run(utilityapi().with_resources("authorizations", "meters"))
        meters = len(sb.truth.meters())
    with duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True) as con:
        assert con.execute("select count(*) from raw.meters").fetchone()[0] == meters
