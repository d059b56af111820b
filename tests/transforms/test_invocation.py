"""dbt in this process: the destination's credentials are in the environment for one command,
and a parsed project is saved for the next process."""

from __future__ import annotations

import os
import tempfile
from types import SimpleNamespace

from dlt.destinations.impl.duckdb.configuration import DuckDbCredentials

import transforms
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


def _spy_dbt_commands(monkeypatch) -> list[str]:
    from dbt.cli.main import dbtRunner

    commands: list[str] = []
    original = dbtRunner.invoke

    def invoke(self, args, **kwargs):
        commands.append(next(a for a in args if a in ("parse", "build", "run", "test")))
        return original(self, args, **kwargs)

    monkeypatch.setattr(dbtRunner, "invoke", invoke)
    return commands


def _new_process(monkeypatch, tmp_path) -> None:
    """What a new process starts with: no parsed project in memory."""
    monkeypatch.setattr(invocation, "_MANIFESTS", {})
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))


def test_a_new_process_reads_the_saved_parse_and_builds_the_same(monkeypatch, tmp_path, built):
    _new_process(monkeypatch, tmp_path)
    commands = _spy_dbt_commands(monkeypatch)
    first = transforms.run(built.pipeline, full_refresh=True)
    assert commands == ["parse", "build"]
    saved = list(invocation._saved_manifests_dir().glob("*.msgpack"))
    assert len(saved) == 1

    monkeypatch.setattr(invocation, "_MANIFESTS", {})  # the next process
    commands.clear()
    second = transforms.run(built.pipeline, full_refresh=True)
    assert commands == ["build"]
    assert [(m.name, m.status) for m in second.models] == [(m.name, m.status) for m in first.models]
    assert len(second.tests) == len(first.tests) > 0


def test_every_command_starts_from_the_parse_as_it_was(monkeypatch, tmp_path, built):
    # dbt marks the manifest's nodes while it compiles them: a second command on the same
    # objects ran meter_intervals_15min without the CTE of the ephemeral int_slots_resolved
    _new_process(monkeypatch, tmp_path)
    for _ in range(2):
        result = transforms.run(built.pipeline, full_refresh=True)
        assert result.model("meter_intervals_15min").status == "success"
    assert len(invocation._MANIFESTS) == 1


def test_an_unreadable_saved_parse_is_parsed_again(monkeypatch, tmp_path, built):
    _new_process(monkeypatch, tmp_path)
    commands = _spy_dbt_commands(monkeypatch)
    transforms.run(built.pipeline, full_refresh=True)
    [saved] = invocation._saved_manifests_dir().glob("*.msgpack")
    saved.write_bytes(b"not a manifest")
    monkeypatch.setattr(invocation, "_MANIFESTS", {})
    commands.clear()
    assert transforms.run(built.pipeline, full_refresh=True).models
    assert commands == ["parse", "build"]


def test_a_saved_parse_others_may_write_is_never_read(monkeypatch, tmp_path):
    _new_process(monkeypatch, tmp_path)
    folder = invocation._saved_manifests_dir()
    assert folder is not None and folder.stat().st_mode & 0o777 == 0o700
    folder.chmod(0o777)
    assert invocation._saved_manifests_dir() is None


def test_only_the_newest_saved_parses_are_kept(monkeypatch, tmp_path):
    _new_process(monkeypatch, tmp_path)
    folder = invocation._saved_manifests_dir()
    assert folder is not None
    for n in range(invocation._MANIFESTS_SAVED + 3):
        old = folder / f"old-{n:02}.msgpack"
        old.write_bytes(b"x")
        os.utime(old, (1_000_000 + n, 1_000_000 + n))
    invocation._save_manifest("new", b"parsed")
    kept = sorted(p.name for p in folder.glob("*.msgpack"))
    assert len(kept) == invocation._MANIFESTS_SAVED
    assert "new.msgpack" in kept and "old-00.msgpack" not in kept
    assert f"old-{invocation._MANIFESTS_SAVED + 2:02}.msgpack" in kept
