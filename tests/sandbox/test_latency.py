"""The network model: each response waits latency + bytes / bandwidth, on the event loop.

The sandbox's sleep is replaced by a recorder, so the tests check the delays asked for (and that
other requests are served meanwhile) without waiting for time to pass.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import httpx
import pytest

from sandbox import Sandbox

from .conftest import client_for, make_config


class Sleeps:
    """Stands in for asyncio.sleep: records each delay; `hold` keeps the first one waiting."""

    def __init__(self, hold: bool = False) -> None:
        self.delays: list[float] = []
        self.called = threading.Event()
        self.release = threading.Event()
        self._hold = hold

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        self.called.set()
        if self._hold and len(self.delays) == 1:
            await asyncio.to_thread(self.release.wait, 30)  # yields the loop, as sleep does


@pytest.fixture(scope="module")
def world() -> Iterator[Sandbox]:
    with Sandbox(make_config()) as sb:
        yield sb


@pytest.fixture
def sleeps(world: Sandbox) -> Iterator[Sleeps]:
    recorder = Sleeps()
    world.runtime.sleep = recorder
    yield recorder
    world.runtime.sleep = asyncio.sleep
    world.set_latency(0)
    world.set_bandwidth(world.cfg.bandwidth_mb_s)


def _meter(sb: Sandbox) -> str:
    return next(m["uid"] for m in sb.truth.meters() if m["interval_count"])


def test_no_latency_means_no_wait(world: Sandbox, sleeps: Sleeps) -> None:
    with client_for(world) as client:
        assert client.get("/intervals", params={"meters": _meter(world)}).status_code == 200
    assert world.cfg.latency_ms == 0 and sleeps.delays == []


def test_delay_is_latency_plus_transfer_at_50_mb_s(world: Sandbox, sleeps: Sleeps) -> None:
    assert world.cfg.bandwidth_mb_s == 50.0  # the documented default
    world.set_latency(250)
    with client_for(world) as client:
        small = client.get("/templates")
        big = client.get("/intervals", params={"meters": _meter(world), "limit": 40})
        refused = client.get("/intervals")  # errors wait too: the network does not know
    sizes = [len(r.content) for r in (small, big, refused)]
    assert sizes[1] > 1_000_000 > sizes[0]
    assert sleeps.delays == pytest.approx([0.25 + size / 50e6 for size in sizes])
    world.set_bandwidth(None)
    with client_for(world) as client:
        client.get("/intervals", params={"meters": _meter(world), "limit": 40})
    assert sleeps.delays[-1] == 0.25


def test_prerendered_pages_are_served_from_the_cache_with_latency(
    world: Sandbox, sleeps: Sleeps
) -> None:
    world.prerender()
    cache = world.runtime.renderer.cache
    misses = cache.misses
    world.set_latency(250)
    with client_for(world) as client:
        page = client.get("/intervals", params={"meters": _meter(world), "limit": 100})
    assert cache.misses == misses and cache.hits > 0
    assert sleeps.delays == pytest.approx([0.25 + len(page.content) / 50e6])


def test_waiting_response_does_not_hold_the_loop(world: Sandbox) -> None:
    held = Sleeps(hold=True)
    world.runtime.sleep = held
    world.set_latency(250)
    answers: list[int] = []
    try:
        with client_for(world) as first, client_for(world) as second:
            waiting = threading.Thread(
                target=lambda: answers.append(first.get("/templates").status_code)
            )
            waiting.start()
            assert held.called.wait(30)
            # The first response is still waiting; the loop answers another request meanwhile.
            assert second.get("/meters", params={"limit": 1}).status_code == 200
            assert answers == [] and len(held.delays) == 2
            held.release.set()
            waiting.join(30)
        assert answers == [200]
    finally:
        held.release.set()
        world.runtime.sleep = asyncio.sleep
        world.set_latency(0)


def test_latency_and_bandwidth_over_the_control_api() -> None:
    with Sandbox(make_config(latency_ms=5, bandwidth_mb_s=None), mode="process") as sb:
        control = httpx.Client(base_url=sb.control_url, trust_env=False)
        assert control.get("/latency").json() == {"ms": 5.0, "bandwidth_mb_s": None}
        sb.set_bandwidth(10)
        assert control.get("/latency").json() == {"ms": 5.0, "bandwidth_mb_s": 10.0}
        sb.set_latency(0)
        assert control.get("/latency").json() == {"ms": 0.0, "bandwidth_mb_s": 10.0}
        assert control.post("/latency", json={"bandwidth_mb_s": -1}).status_code == 400
        control.close()


def test_a_shared_link_sends_concurrent_responses_one_after_another() -> None:
    from sandbox.runtime import Runtime

    rt = Runtime(make_config(latency_ms=100, bandwidth_mb_s=10, shared_link=True))
    first = rt.response_delay(1_000_000)  # 0.1 s latency + 0.1 s on the link
    second = rt.response_delay(1_000_000)  # asked at once: waits for the first one's bytes
    assert first == pytest.approx(0.2, abs=0.01)
    assert second == pytest.approx(0.3, abs=0.01)
    alone = Runtime(make_config(latency_ms=100, bandwidth_mb_s=10))
    assert [alone.response_delay(1_000_000) for _ in range(2)] == pytest.approx([0.2, 0.2])
