"""`require`: a missing prerequisite skips locally and fails in CI, with its reason."""

from __future__ import annotations

import pytest

from tests.support.require import in_ci, require


@pytest.mark.parametrize("value", ["true", "TRUE", "1", "yes"])
def test_ci_values_are_recognised(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("CI", value)
    assert in_ci()


@pytest.mark.parametrize("value", ["", "false", "0"])
def test_other_values_are_not_ci(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("CI", value)
    assert not in_ci()


def test_a_missing_prerequisite_skips_locally(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no server here"):
        require(False, "no server here")


def test_a_missing_prerequisite_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="no server here.*CI=true"):
        require(False, "no server here")


def test_a_met_prerequisite_does_nothing_anywhere(monkeypatch: pytest.MonkeyPatch) -> None:
    for value in ("true", ""):
        monkeypatch.setenv("CI", value)
        require(True, "unused")
