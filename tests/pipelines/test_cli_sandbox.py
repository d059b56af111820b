"""The `uapi` commands a person types, against the sandbox: safeguards and clear messages."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from pipelines.cli import main
from sandbox import Sandbox, SandboxConfig
from sources.utilityapi.records import is_not_activated

NOW = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)


@pytest.fixture
def sb():
    with Sandbox(SandboxConfig(seed=9, scale="test", now=NOW, rate_limit=None)) as sandbox:
        yield sandbox


def api(sb: Sandbox) -> list[str]:
    return ["--base-url", sb.base_url, "--token", sb.token, "--rate-limit", "0"]


def not_activated(sb: Sandbox) -> list[str]:
    return [m["uid"] for m in sb.truth.meters() if is_not_activated(m)]


def posts(sb: Sandbox, path: str) -> list:
    return [r for r in sb.requests if r.method == "POST" and r.path == path]


def test_collect_refuses_without_confirmation_when_not_interactive(sb, capsys):
    meters = not_activated(sb)
    code = main(["collect", "historical", "--meters", ",".join(meters), *api(sb)])
    out, err = capsys.readouterr()
    assert code == 2
    assert "--yes" in err and "charges" in out
    for uid in meters:
        assert uid in out
    assert posts(sb, "/meters/historical-collection") == []


def test_dry_run_lists_and_sends_nothing(sb, capsys):
    assert main(["collect", "historical", "--not-activated", "--dry-run", *api(sb)]) == 0
    out, _ = capsys.readouterr()
    assert "Dry run" in out and all(uid in out for uid in not_activated(sb))
    assert posts(sb, "/meters/historical-collection") == []


def test_collect_with_yes_starts_a_collection_the_sandbox_completes(sb, capsys):
    meters = not_activated(sb)
    code = main(
        ["collect", "historical", "--meters", meters[0], "--months", "3", "--yes", *api(sb)]
    )
    out, _ = capsys.readouterr()
    assert code == 0 and f"accepted 1 meter(s): {meters[0]}" in out
    sb.advance(timedelta(hours=2))
    meter = next(m for m in sb.truth.meters() if m["uid"] == meters[0])
    assert meter["is_activated"] and meter["interval_count"] > 0


def test_unfunded_account_gets_the_prepaid_explanation(sb, capsys):
    sb.set_funded(False)
    code = main(["collect", "historical", "--meters", not_activated(sb)[0], "--yes", *api(sb)])
    _, err = capsys.readouterr()
    assert code == 1
    assert "402" in err and "$50" in err and "prepaid" in err


def test_expired_authorization_is_explained(sb, capsys):
    meter = next(m for m in sb.truth.meters() if is_not_activated(m))
    sb.expire(meter["authorization_uid"])
    code = main(["collect", "historical", "--meters", meter["uid"], "--yes", *api(sb)])
    _, err = capsys.readouterr()
    assert code == 1
    assert "expired or revoked" in err and meter["uid"] in err


def test_revoked_authorization_meters_are_gone(sb, capsys):
    meter = next(m for m in sb.truth.meters() if not is_not_activated(m))
    from sources.utilityapi import UtilityAPIClient

    with UtilityAPIClient(sb.token, sb.base_url, rate_limit=None) as client:
        client.post(f"authorizations/{meter['authorization_uid']}/revoke")
    code = main(["collect", "historical", "--meters", meter["uid"], "--yes", *api(sb)])
    _, err = capsys.readouterr()
    assert code == 1
    assert "does not list these meters" in err and "revoked" in err


def test_monitoring_needs_confirmation_too(sb, capsys):
    meter = not_activated(sb)[0]
    assert main(["collect", "monitoring", "--frequency", "daily", "--meters", meter, *api(sb)]) == 2
    assert posts(sb, "/meters/ongoing-monitoring") == []
    code = main(
        ["collect", "monitoring", "--frequency", "daily", "--meters", meter, "--yes", *api(sb)]
    )
    assert code == 0 and len(posts(sb, "/meters/ongoing-monitoring")) == 1


@pytest.mark.parametrize(
    "scenario",
    [
        "residential",
        "commercial",
        "badlogin",
        "badlogin_after",
        "websitedown",
        "websitedown_after",
        "utilityerror",
    ],
)
def test_test_submit_prints_the_authorization_and_what_to_do_next(sb, capsys, scenario):
    assert main(["test-submit", "--scenario", scenario, *api(sb)]) == 0
    out, _ = capsys.readouterr()
    assert "Authorization " in out and "Next:" in out


def test_load_without_a_token_says_how_to_provide_one(monkeypatch, tmp_path, capsys):
    monkeypatch.delenv("SOURCES__UTILITYAPI__API_TOKEN", raising=False)
    monkeypatch.chdir(tmp_path)
    # a configuration error: nothing was fetched or committed (exit status 1)
    assert main(["load", "--db", str(tmp_path / "x.duckdb")]) == 1
    assert "SOURCES__UTILITYAPI__API_TOKEN" in capsys.readouterr().err
    assert not (tmp_path / "x.duckdb").exists()


def test_load_prints_a_summary_and_writes_a_json_report(sb, tmp_path, capsys):
    db = tmp_path / "w.duckdb"
    assert main(["load", "--db", str(db), *api(sb)]) == 0
    out, _ = capsys.readouterr()
    assert "Rows loaded:" in out and "interval_readings" in out and "Not activated" in out
    report = json.loads((tmp_path / "reports" / "last-load.json").read_text())
    assert report["status"] == "ok" and report["rows_loaded"]["interval_readings"] > 0
    assert sb.token not in json.dumps(report)
