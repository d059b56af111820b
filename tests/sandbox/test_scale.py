"""Big worlds are cheap until served; the render cache stays within its bound.

Cheap is shown by what is held (memory traced while a world is built, objects rendered), not by
how long this machine takes.
"""

from __future__ import annotations

import tracemalloc

from sandbox import Sandbox
from sandbox.runtime import Runtime

from .conftest import client_for, make_config, walk


def test_a_world_holds_spans_not_readings() -> None:
    config = make_config(scale="bench", n_meters=40, history_days=730)
    tracemalloc.start()
    try:
        runtime = Runtime(config)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # Readings are counted from the spans, without rendering them.
    published = sum(
        (end - start) // meter.duration
        for meter in runtime.world.meters.values()
        for start, end in meter.coverage()
    )
    assert published > 1_000_000
    # Two years of 15-minute readings for 40 meters: a world that held them would need several
    # bytes each; building this one allocates less than one byte per reading at its peak.
    assert peak < published


def test_large_world_builds_lazily() -> None:
    with Sandbox(make_config(scale="bench", n_meters=400, history_days=730)) as sb:
        rt = sb.runtime
        assert len(rt.renderer.cache) == 0  # nothing rendered before it is asked for
        chunk_spans = sum(len(m.chunk_start) for m in rt.world.meters.values())
        assert chunk_spans > 400 * 100  # spans only: no readings are stored
        with client_for(sb) as client:
            meter = next(m for m in sb.truth.meters() if m["interval_count"] > 60_000)
            page = client.get("/intervals", params={"meters": meter["uid"], "limit": 5})
            assert len(page.json()["intervals"]) == 5
        assert len(rt.renderer.cache) == 5


def test_bounded_cache_serves_the_same_bytes() -> None:
    def collect(cache_bytes: int) -> tuple[list[dict], int]:
        with Sandbox(make_config(cache_bytes=cache_bytes)) as sb, client_for(sb) as client:
            meters = ",".join(m["uid"] for m in sb.truth.meters() if m["interval_count"])
            items = walk(client, "/intervals", "intervals", meters=meters, allow_mixed="true")
            again = walk(client, "/intervals", "intervals", meters=meters, allow_mixed="true")
            assert again == items
            return items, sb.runtime.renderer.cache.size

    small, size = collect(2_000_000)
    big, _ = collect(512 * 1024 * 1024)
    assert size <= 2_000_000 and small == big
