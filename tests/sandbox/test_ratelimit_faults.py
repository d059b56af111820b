"""429s from the per-token rate limit and from bursts; each fault kind as a client sees it."""

from __future__ import annotations

import time

import httpx
import pytest

from sandbox import FaultConfig, Sandbox, SandboxConfig
from sandbox.ratelimit import RateLimiter

from .conftest import client_for, make_config


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_burst_over_the_limit_gets_429_then_recovers(
    sandbox: Sandbox, client: httpx.Client
) -> None:
    clock = FakeMonotonic()
    sandbox.runtime.limiter = RateLimiter(5.0, clock)
    statuses = [client.get("/meters", params={"limit": 1}).status_code for _ in range(8)]
    assert statuses == [200] * 5 + [429] * 3
    limited = client.get("/meters")
    assert limited.status_code == 429
    assert limited.headers["Retry-After"].isdigit() and int(limited.headers["Retry-After"]) >= 1
    assert not limited.headers["content-type"].startswith("application/json")
    with pytest.raises(ValueError):
        limited.json()
    clock.now += 0.2  # one token back at 5/s
    assert client.get("/meters").status_code == 200
    assert client.get("/meters").status_code == 429
    clock.now += 1.0
    assert [client.get("/meters").status_code for _ in range(5)] == [200] * 5
    # The control surface is never limited.
    assert httpx.get(f"{sandbox.control_url}/clock", trust_env=False).status_code == 200
    # Limits are per token: a request without a valid token is a 401, not a 429.
    assert httpx.get(f"{sandbox.base_url}/meters", trust_env=False).status_code == 401
    counts = sandbox.request_counts()
    assert counts[("GET", "/meters", 429)] == 5


def test_default_limit_holds_a_burst_of_one_second_then_refills() -> None:
    default = SandboxConfig.__dataclass_fields__["rate_limit"].default
    assert default == 50.0  # the documented account limit
    with Sandbox(make_config(rate_limit=default)) as sb, client_for(sb) as client:
        clock = FakeMonotonic()
        sb.runtime.limiter = RateLimiter(sb.runtime.limiter.rate, clock)
        statuses = [client.get("/templates").status_code for _ in range(120)]
        assert statuses == [200] * 50 + [429] * 70  # a second's worth, then refused
        clock.now += 0.5
        statuses = [client.get("/templates").status_code for _ in range(30)]
        assert statuses == [200] * 25 + [429] * 5  # refilled at 50/s
        clock.now += 10.0
        statuses = [client.get("/templates").status_code for _ in range(60)]
        assert statuses == [200] * 50 + [429] * 10  # never more than a second's worth
        sb.set_rate_limit(None)
        assert client.get("/templates").status_code == 200


def _faulty(sb: Sandbox, **shares: object) -> None:
    sb.set_faults(FaultConfig(seed=3, **shares))  # type: ignore[arg-type]


@pytest.mark.parametrize(("code", "html"), [(500, True), (503, False), (504, True)])
def test_5xx_with_html_or_empty_body(
    sandbox: Sandbox, client: httpx.Client, code: int, html: bool
) -> None:
    _faulty(sandbox, **{f"error_{code}": 1.0, "html_share": 1.0 if html else 0.0})
    response = client.get("/meters")
    assert response.status_code == code
    if html:
        assert response.headers["content-type"].startswith("text/html")
        assert response.text.startswith("<html>")
    else:
        assert response.content == b""
    assert sandbox.requests[-1].status == code


def test_reset_and_close_are_transport_errors(sandbox: Sandbox, client: httpx.Client) -> None:
    _faulty(sandbox, reset=1.0)
    with pytest.raises(httpx.TransportError):
        client.get("/meters")
    _faulty(sandbox, close=1.0)
    with pytest.raises(httpx.RemoteProtocolError):
        client.get("/meters")
    assert [r.status for r in sandbox.requests[-2:]] == [0, 0]
    sandbox.set_faults(FaultConfig())
    assert client.get("/meters").status_code == 200


def test_truncated_body_is_an_error(sandbox: Sandbox, client: httpx.Client) -> None:
    _faulty(sandbox, truncate=1.0)
    with pytest.raises(httpx.RemoteProtocolError):
        client.get("/meters")
    # The request was served (and logged) before the body was cut.
    assert sandbox.requests[-1].status == 200


def test_slow_responses(sandbox: Sandbox, client: httpx.Client) -> None:
    _faulty(sandbox, slow=1.0, slow_seconds=0.3)
    started = time.monotonic()
    assert client.get("/templates").status_code == 200
    assert time.monotonic() - started >= 0.3
    with pytest.raises(httpx.ReadTimeout):
        client.get("/templates", timeout=0.1)


def test_429_bursts_even_under_the_limit(sandbox: Sandbox, client: httpx.Client) -> None:
    _faulty(sandbox, burst_429=1.0, burst_length=3, retry_after=2)
    responses = [client.get("/templates") for _ in range(3)]
    assert [r.status_code for r in responses] == [429] * 3
    assert {r.headers["Retry-After"] for r in responses} == {"2"}
    _faulty(sandbox, burst_429=0.1, burst_length=4)
    statuses = [client.get("/templates").status_code for _ in range(200)]
    runs = "".join("x" if s == 429 else "." for s in statuses).split(".")
    assert statuses.count(429) >= 4 and all(len(r) % 4 == 0 for r in runs if r)


def test_faults_are_reproducible_and_scoped(sandbox: Sandbox, client: httpx.Client) -> None:
    mix = {"error_500": 0.2, "error_503": 0.1, "burst_429": 0.05, "paths": ("/intervals",)}

    def run() -> list[int]:
        _faulty(sandbox, **mix)
        meter = "x"
        return [client.get("/intervals", params={"meters": meter}).status_code for _ in range(40)]

    first, second = run(), run()
    assert first == second and len(set(first)) > 1
    _faulty(sandbox, **mix)
    assert all(client.get("/meters").status_code == 200 for _ in range(20))  # other paths
    _faulty(sandbox, reset=1.0)
    assert httpx.get(f"{sandbox.control_url}/clock", trust_env=False).status_code == 200


def test_latency_is_added_per_request(sandbox: Sandbox, client: httpx.Client) -> None:
    delays: list[float] = []

    async def record(seconds: float) -> None:  # the sandbox's sleep, without the waiting
        delays.append(seconds)

    sandbox.runtime.sleep = record
    sandbox.set_latency(150)
    sandbox.set_bandwidth(None)
    client.get("/templates")
    client.get("/meters")
    assert delays == [0.15, 0.15]
    sandbox.set_latency(0)
    client.get("/templates")
    assert delays == [0.15, 0.15]


def test_request_log_and_guidance_violations(sandbox: Sandbox, client: httpx.Client) -> None:
    meters = [m["uid"] for m in sandbox.truth.meters() if m["interval_count"]][:2]
    sandbox.clear_requests()
    first = client.get("/intervals", params={"meters": ",".join(meters), "limit": 1})
    client.get(first.json()["next"])  # a continuation page is not a new listing
    client.get(f"/meters/{meters[0]}", params={"access_token": sandbox.token})
    records = sandbox.requests
    assert [r.path for r in records] == ["/intervals", "/intervals", f"/meters/{meters[0]}"]
    assert records[0].meter_uids == tuple(meters) and records[0].params["limit"] == "1"
    assert "after" in records[1].params and records[2].meter_uids == (meters[0],)
    assert "access_token" not in records[2].params
    assert sandbox.request_counts()[("GET", "/meters/{uid}", 200)] == 1
    assert sandbox.guidance_violations() == []
    client.get("/intervals", params={"meters": meters[1]})
    violations = sandbox.guidance_violations()
    assert [(v["route"], v["subject"]) for v in violations] == [
        ("/intervals", f"meter:{meters[1]}")
    ]
    client.get("/bills", params={"meters": meters[1]})  # another resource is fine
    assert len(sandbox.guidance_violations()) == 1
