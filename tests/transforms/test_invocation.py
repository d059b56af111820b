"""dbt in this process: the destination's credentials are in the environment for one command."""

from __future__ import annotations

import os
from types import SimpleNamespace

from dlt.destinations.impl.duckdb.configuration import DuckDbCredentials

from transforms import invocation


def test_credentials_are_in_the_environment_for_the_command_only(monkeypatch, tmp_path):
    monkeypatch.setenv("UAPI_UNRELATED", "kept")
    monkeypatch.setenv("DLT__CREDENTIALS__DATABASE", "/somewhere/else.duckdb")
    db = str(tmp_path / "w.duckdb")
    runner = SimpleNamespace(credentials=DuckDbCredentials(db))

    with invocation._credentials_in_environment(runner):  # type: ignore[arg-type]
        assert os.environ["DLT__CREDENTIALS__DATABASE"] == db
        added = {k for k in os.environ if k.startswith("DLT__CREDENTIALS__")}

    assert os.environ["DLT__CREDENTIALS__DATABASE"] == "/somewhere/else.duckdb"
    assert os.environ["UAPI_UNRELATED"] == "kept"
    assert {k for k in os.environ if k.startswith("DLT__CREDENTIALS__")} == {
        "DLT__CREDENTIALS__DATABASE"
    }
    assert "DLT__CREDENTIALS__DRIVERNAME" in added  # set for the command, removed after
