"""The source as any dlt user gets it: `dlt init utilityapi duckdb --location <this repo>`."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from sandbox import Sandbox, SandboxConfig

REPO = Path(__file__).resolve().parents[2]
DLT = str(Path(sys.executable).with_name("dlt"))


def test_dlt_init_copies_a_source_whose_example_loads_in_checkpoint_steps(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    env = {**os.environ, "DLT_DATA_DIR": str(tmp_path / "dlt-data")}
    init = subprocess.run(
        [DLT, "init", "utilityapi", "duckdb", "--location", str(REPO)],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert init.returncode == 0, init.stdout + init.stderr
    assert (project / "utilityapi_pipeline.py").exists()
    assert (project / "utilityapi" / "__init__.py").exists()
    assert "dlt" in (project / "requirements.txt").read_text()
    config = SandboxConfig(seed=3, scale="test", now=datetime(2026, 3, 1, tzinfo=UTC))
    with Sandbox(config) as sb:
        env |= {
            "SOURCES__UTILITYAPI__API_TOKEN": sb.token,
            "SOURCES__UTILITYAPI__BASE_URL": sb.base_url,
            "SOURCES__UTILITYAPI__RATE_LIMIT": "0",
            "SOURCES__UTILITYAPI__CHECKPOINT_METERS": "3",
        }
        run = subprocess.run(
            [sys.executable, "utilityapi_pipeline.py"],
            cwd=project,
            env={**env, "PYTHONPATH": str(project)},
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert run.returncode == 0, run.stderr[-3000:]
        collected = {m["uid"] for m in sb.truth.meters() if m.get("interval_count")}
    with duckdb.connect(str(project / "uapi.duckdb"), read_only=True) as con:
        meters = {
            r[0]
            for r in con.execute(
                "select distinct meter_uid from utilityapi.interval_readings"
            ).fetchall()
        }
        loads = con.execute("select count(*) from utilityapi._dlt_loads").fetchone()[0]
    assert meters == collected
    assert loads >= 3  # committed in steps of three meters
    info = subprocess.run(
        [DLT, "pipeline", "uapi", "info"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert info.returncode == 0 and "Found pipeline uapi" in info.stdout
