"""The bench refuses the figures of a load that stopped before its end."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from bench import common


def _child_printing(monkeypatch, figures: dict) -> None:
    done = SimpleNamespace(returncode=0, stdout=json.dumps(figures) + "\n", stderr="")
    monkeypatch.setattr(common.subprocess, "run", lambda *args, **kwargs: done)


def _sandbox() -> SimpleNamespace:
    return SimpleNamespace(base_url="http://127.0.0.1:1", token="t", _process=None)


def test_a_load_that_stopped_after_some_steps_fails_the_bench(monkeypatch):
    # run_load returns normally when a later step fails: its row counts are a truncated load's
    _child_printing(monkeypatch, {"cpu_seconds": 1.0, "failure": "step 3: out of memory"})
    with pytest.raises(RuntimeError, match="step 3: out of memory"):
        common.run_child_load(_sandbox(), Path("unused.duckdb"))


def test_a_load_that_ended_gives_its_figures(monkeypatch):
    _child_printing(monkeypatch, {"cpu_seconds": 1.0, "failure": None, "wall_seconds": 2.0})
    assert common.run_child_load(_sandbox(), Path("unused.duckdb"))["wall_seconds"] == 2.0
