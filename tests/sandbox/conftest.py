"""Sandboxes on free loopback ports and clients for them; time moves only by advancing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest

from sandbox import Sandbox, SandboxConfig

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def make_config(**overrides: object) -> SandboxConfig:
    values: dict[str, object] = {"seed": 7, "scale": "test", "now": NOW, "rate_limit": None}
    values.update(overrides)
    return SandboxConfig(**values)  # type: ignore[arg-type]


def client_for(sb: Sandbox, **kwargs: object) -> httpx.Client:
    return httpx.Client(
        base_url=sb.base_url,
        headers={"Authorization": f"Bearer {sb.token}"},
        timeout=30.0,
        trust_env=False,
        **kwargs,
    )  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def shared_sandbox() -> Iterator[Sandbox]:
    """A read-only test world shared by a module; tests must not change its state."""
    with Sandbox(make_config()) as sb:
        yield sb


@pytest.fixture(scope="module")
def shared_client(shared_sandbox: Sandbox) -> Iterator[httpx.Client]:
    with client_for(shared_sandbox) as client:
        yield client


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    """A fresh test world for tests that change state."""
    with Sandbox(make_config()) as sb:
        yield sb


@pytest.fixture
def client(sandbox: Sandbox) -> Iterator[httpx.Client]:
    with client_for(sandbox) as c:
        yield c


def walk(client: httpx.Client, path: str, key: str, **params: object) -> list[dict]:
    """Follow `next` links to the end; fail on repeated pages."""
    items: list[dict] = []
    url: str | None = path
    query: dict[str, object] | None = dict(params)
    seen: set[str] = set()
    while url is not None:
        response = client.get(url, params=query)
        assert response.status_code == 200, response.text
        body = response.json()
        items.extend(body[key])
        url = body["next"]
        query = None
        if url is not None:
            assert url not in seen, "next link repeats"
            assert "access_token" not in url
            seen.add(url)
    return items


def active_meter(sb: Sandbox, kind: str) -> dict:
    """A collected meter of a kind: res15, res60, comm15, solar15 or gas60."""
    for meter in sb.truth.meters():
        if meter["interval_count"] and meter_kind(sb, meter["uid"]) == kind:
            return meter
    raise LookupError(kind)


def meter_kind(sb: Sandbox, meter_uid: str) -> str:
    return sb.runtime.world.meters[meter_uid].kind.name
