"""Webhook signatures as UtilityAPI may compute them: over the bytes sent, or over the same JSON
indented by 4 spaces (issue 11); both need the secret, and anything else is refused."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from pipelines.events import Inbox
from pipelines.receiver import receiver_app
from sandbox import Sandbox, SandboxConfig
from sources.utilityapi.notifications import SALT_HEADER, SIGNATURE_HEADER, signed_form
from tests.support.server import serve_asgi
from tests.support.webhooks import indented, signature

NOW = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)
SECRET = "whsec-forms"
SALT = "0123abcd"


def events_body(compact: bool = True) -> bytes:
    payload = {
        "events": [
            {
                "uid": "e1",
                "type": "meter_intervals_added",
                "ts": "2026-03-20T12:00:00.000000+00:00",
                "delivery_method": "webhook",
                "delivery_target": "http://127.0.0.1/webhook",
                "is_delivered": False,
                "authorization_uid": "a1",
                "meter_uid": "m1",
            }
        ],
        "next": None,
    }
    if compact:
        return json.dumps(payload, separators=(",", ":")).encode()
    return json.dumps(payload, indent=4).encode()


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[tuple[str, Inbox]]:
    inbox = Inbox(tmp_path / "inbox.sqlite")
    with serve_asgi(receiver_app(inbox, SECRET)) as root:
        yield root, inbox
    inbox.close()


def post(root: str, body: bytes, claimed: str | bytes, salt: str = SALT) -> httpx.Response:
    headers = {SALT_HEADER: salt, SIGNATURE_HEADER: claimed, "Content-Type": "application/json"}
    return httpx.post(f"{root}/webhook", content=body, headers=headers)


def test_each_form_is_recognised_and_named() -> None:
    compact, pretty = events_body(), events_body(compact=False)
    assert indented(compact) == pretty != compact
    assert signed_form(SECRET, SALT, signature(SECRET, SALT, compact), compact) == "raw"
    assert signed_form(SECRET, SALT, signature(SECRET, SALT, pretty), compact) == "indented"
    assert signed_form(SECRET, SALT, signature(SECRET, SALT, pretty), pretty) == "raw"
    # Hex digits in upper case, and whitespace around the header value, are the same signature.
    claimed = f" {signature(SECRET, SALT, pretty).upper()} "
    assert signed_form(SECRET, SALT, claimed, compact) == "indented"


@pytest.mark.parametrize(
    ("secret", "salt", "claimed"),
    [("", SALT, "x"), (SECRET, None, "x"), (SECRET, "", "x"), (SECRET, SALT, None)],
)
def test_nothing_matches_without_secret_salt_or_signature(secret, salt, claimed) -> None:
    body = events_body()
    if claimed == "x":
        claimed = signature(secret, salt or "", body)
    assert signed_form(secret, salt, claimed, body) is None


def test_a_webhook_signed_over_the_indented_form_is_accepted_and_logged(receiver, caplog) -> None:
    root, inbox = receiver
    body = events_body()
    caplog.set_level(logging.DEBUG, logger="pipelines.receiver")
    response = post(root, body, signature(SECRET, SALT, indented(body)))
    assert response.status_code == 200 and response.json() == {"received": 1, "new": 1}
    assert inbox.counts() == {"total": 1, "pending": 1}
    matched = [r for r in caplog.records if "signature matched" in r.getMessage()]
    assert len(matched) == 1 and matched[0].levelno == logging.INFO
    assert "indented" in matched[0].getMessage()
    assert httpx.get(f"{root}/health").json()["signatures"] == {"indented": 1}
    # Later webhooks of a form already seen are logged quietly, and counted.
    again = events_body().replace(b'"e1"', b'"e2"')
    assert post(root, again, signature(SECRET, SALT, indented(again))).status_code == 200
    assert post(root, again, signature(SECRET, SALT, again)).status_code == 200
    levels = [r.levelno for r in caplog.records if "signature matched" in r.getMessage()]
    assert levels == [logging.INFO, logging.DEBUG, logging.INFO]
    assert httpx.get(f"{root}/health").json()["signatures"] == {"indented": 2, "raw": 1}


@pytest.mark.parametrize("form", ["raw", "indented"])
def test_a_wrong_secret_is_refused_in_either_form_and_nothing_is_stored(receiver, form) -> None:
    root, inbox = receiver
    body = events_body()
    text = body if form == "raw" else indented(body)
    assert post(root, body, signature("not-the-secret", SALT, text)).status_code == 401
    assert post(root, body, signature("", SALT, text)).status_code == 401
    # The right secret with another salt than the one sent is no signature either.
    assert post(root, body, signature(SECRET, "other", text)).status_code == 401
    assert inbox.counts() == {"total": 0, "pending": 0}


@pytest.mark.parametrize("form", ["raw", "indented"])
@pytest.mark.parametrize("cut", ["first 8", "all but one", "one more", "empty"])
def test_part_of_a_signature_or_more_than_it_is_refused(receiver, form, cut) -> None:
    root, inbox = receiver
    body = events_body()
    good = signature(SECRET, SALT, body if form == "raw" else indented(body))
    claimed = {
        "first 8": good[:8],
        "all but one": good[:-1],
        "one more": good + "0",
        "empty": "",
    }[cut]
    assert post(root, body, claimed).status_code == 401
    assert inbox.counts()["total"] == 0


def test_other_serialisations_and_foreign_characters_are_refused(receiver) -> None:
    root, inbox = receiver
    body = events_body()
    payload = json.loads(body)
    for text in (
        json.dumps(payload, indent=2).encode(),
        json.dumps(payload, indent=4, sort_keys=True).encode(),
        json.dumps(payload).encode(),
    ):
        assert post(root, body, signature(SECRET, SALT, text)).status_code == 401
    # A header that is not hex at all (here Latin-1) is a refusal, not a crash.
    assert post(root, body, "é".encode("latin-1") * 64).status_code == 401
    # A body that is not JSON has no indented form: only its raw signature can match.
    assert post(root, b"not json", signature(SECRET, SALT, b"not json")).status_code == 400
    assert post(root, b"not json", signature(SECRET, SALT, b'"not json"')).status_code == 401
    assert inbox.counts()["total"] == 0


def sandbox_with_events(**modes: object) -> Sandbox:
    return Sandbox(SandboxConfig(seed=5, scale="test", now=NOW, rate_limit=None, **modes))


def make_events(sb: Sandbox) -> None:
    """A test submission: its form and authorization events, pending for the endpoints."""
    with httpx.Client(
        base_url=sb.base_url, headers={"Authorization": f"Bearer {sb.token}"}, trust_env=False
    ) as client:
        form = client.post("/forms").raise_for_status().json()
        client.post(
            f"/forms/{form['uid']}/test-submit",
            json={"utility": "DEMO", "scenario": "residential"},
        ).raise_for_status()


@pytest.mark.parametrize("form", ["raw", "indented"])
def test_sandbox_webhooks_in_either_form_reach_the_inbox(receiver, form, caplog) -> None:
    root, inbox = receiver
    caplog.set_level(logging.INFO, logger="pipelines.receiver")
    with sandbox_with_events(webhook_signature=form) as sb:
        sb.set_webhook(f"{root}/webhook", SECRET)
        make_events(sb)
        sb.advance(timedelta(minutes=5))
        sb.deliver_webhooks()
        attempts = [a for a in sb.runtime.attempts if a.url == f"{root}/webhook"]
        expected = {e["uid"] for e in sb.truth.events() if e["delivery_target"]}
    assert attempts and {a.status for a in attempts} == {200}
    assert expected and inbox.counts() == {"total": len(expected), "pending": len(expected)}
    assert f"signature matched the {form} body" in caplog.text


@pytest.mark.parametrize("form", ["raw", "indented"])
def test_sandbox_webhooks_with_a_wrong_secret_are_refused(receiver, form) -> None:
    root, inbox = receiver
    with sandbox_with_events(webhook_signature=form) as sb:
        sb.set_webhook(f"{root}/webhook", "another-secret")
        make_events(sb)
        sb.advance(timedelta(minutes=5))
        sb.deliver_webhooks()
        statuses = {a.status for a in sb.runtime.attempts}
        undelivered = [e for e in sb.truth.events() if e["delivery_target"]]
    assert statuses == {401}
    assert undelivered and not any(e["is_delivered"] for e in undelivered)
    assert inbox.counts()["total"] == 0
