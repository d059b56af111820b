"""SourceContext against the sandbox over HTTP: listings read once, unknown meters named,
filters chunked, and checkpoint steps that each take the next meters within their budget."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from sandbox import Sandbox, SandboxConfig
from sources.utilityapi import settings
from sources.utilityapi.client import UtilityAPIClient
from sources.utilityapi.context import LoadScope, SourceContext, UnknownMeterError
from sources.utilityapi.report import LoadReport
from tests.support.clock import FakeClock
from tests.support.server import serve_asgi

NOW = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    config = SandboxConfig(
        seed=13, scale="test", n_meters=8, history_days=45, now=NOW, rate_limit=None
    )
    with Sandbox(config) as sandbox:
        yield sandbox


def scope(**overrides: Any) -> LoadScope:
    values: dict[str, Any] = {
        "meter_uids": None,
        "strict_meters": True,
        "authorization_uids": None,
        "start_date": None,
        "lookback": timedelta(days=7),
        "allow_mixed": True,
        "intervals_page_size": 20,
        "max_concurrency": 4,
        "backfill": {},
        "refresh": frozenset(),
        "access_changes": [],
        "step_meters": None,
        "step_seconds": None,
    }
    values.update(overrides)
    return LoadScope(**values)


def context(sb: Sandbox, clock: FakeClock | None = None, **overrides: Any) -> SourceContext:
    client = UtilityAPIClient(sb.token, sb.base_url, rate_limit=None)
    return SourceContext(
        client=client, clock=clock or FakeClock(NOW), report=LoadReport(), scope=scope(**overrides)
    )


def collected(sb: Sandbox) -> list[str]:
    return sorted(m["uid"] for m in sb.truth.meters() if m["interval_count"])


def listings(sb: Sandbox) -> list[dict[str, str]]:
    return [r.params for r in sb.requests if r.path == "/meters"]


def test_the_meter_listing_is_read_once_per_run(sb: Sandbox) -> None:
    ctx = context(sb)
    sb.clear_requests()
    first = ctx.meters()
    assert ctx.meters() is first and len(listings(sb)) == 1
    assert listings(sb)[0]["limit"] == str(settings.MAX_PAGE_SIZE)  # 1000: the fewest pages
    assert sorted(m["uid"] for m in first) == sorted(m["uid"] for m in sb.truth.meters())
    assert ctx.report.meters_listed == len(first)
    not_activated = [m["uid"] for m in sb.truth.meters() if not m["is_activated"]]
    assert not_activated
    assert sorted(m.uid for m in ctx.report.not_activated) == sorted(not_activated)
    auths = ctx.authorizations()
    assert ctx.authorizations() is auths and len(auths) == len(sb.truth.authorizations())


def test_unknown_meters_are_named_unless_not_strict(sb: Sandbox) -> None:
    real = collected(sb)[0]
    with pytest.raises(UnknownMeterError) as caught:
        context(sb, meter_uids=["nope-1", real, "nope-2"]).meters()
    message = str(caught.value)
    assert "meter(s) nope-1, nope-2 for this token" in message and real not in message
    assert message.endswith("(`uapi load` without --meters lists every meter it can see).")
    lenient = context(sb, meter_uids=["nope-1", real], strict_meters=False)
    assert [m["uid"] for m in lenient.meters()] == [real]
    assert [m["uid"] for m in context(sb, meter_uids=[real]).meters()] == [real]


def test_filters_are_sent_in_chunks_and_meters_kept_once(
    sb: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(settings, "UIDS_PER_FILTER", 2)
    uids = collected(sb)[:5]
    authorization = next(m["authorization_uid"] for m in sb.truth.meters() if m["uid"] == uids[0])
    ctx = context(sb, meter_uids=uids, authorization_uids=[authorization])
    sb.clear_requests()
    meters = [m["uid"] for m in ctx.meters()]
    of_authorization = {
        m["uid"] for m in sb.truth.meters() if m["authorization_uid"] == authorization
    }
    assert sorted(meters) == sorted(set(uids) | of_authorization)
    assert len(meters) == len(set(meters))
    sent = [p.get("uids") for p in listings(sb) if "uids" in p]
    assert sent == [",".join(uids[0:2]), ",".join(uids[2:4]), uids[4]]
    assert [p["authorizations"] for p in listings(sb) if "authorizations" in p] == [authorization]


def test_a_listing_that_repeats_a_meter_across_pages_lists_it_once() -> None:
    config = SandboxConfig(
        seed=11, scale="test", n_meters=8, history_days=10, now=NOW, rate_limit=None,
        page_repeat_rate=0.5, page_cap=3,
    )  # fmt: skip
    with Sandbox(config) as sb:
        meters = [m["uid"] for m in context(sb).meters()]
        assert sorted(meters) == sorted(m["uid"] for m in sb.truth.meters())


def test_each_step_takes_the_next_meters_within_its_meter_budget(sb: Sandbox) -> None:
    ctx = context(sb, step_meters=3)
    state: dict[str, Any] = {}
    every = collected(sb)
    steps = []
    while True:
        taken = [p.meter_uid for p in ctx.plan("intervals", state)]
        if not taken:
            break
        steps.append(taken)
        assert ctx.report.kinds["intervals"].remaining == len(every) - sum(map(len, steps))
    assert [len(s) for s in steps] == [3] * (len(every) // 3) + (
        [len(every) % 3] if len(every) % 3 else []
    )
    assert sorted(uid for s in steps for uid in s) == every
    # bills are planned on their own: none of them taken yet
    billed = [m["uid"] for m in sb.truth.meters() if m["bill_count"]]
    assert len(billed) > 3 and len([p.meter_uid for p in ctx.plan("bills", {})]) == 3


def test_a_step_stops_taking_meters_when_its_time_is_spent(sb: Sandbox) -> None:
    clock = FakeClock(NOW)
    ctx = context(sb, clock, step_seconds=60.0)
    state: dict[str, Any] = {}
    plans = ctx.plan("intervals", state)
    first = next(plans)
    clock.advance(timedelta(seconds=59))
    second = next(plans)
    clock.advance(timedelta(seconds=1))
    assert list(plans) == []
    every = collected(sb)
    assert ctx.report.kinds["intervals"].remaining == len(every) - 2
    following = [p.meter_uid for p in ctx.plan("intervals", state)]
    assert sorted([first.meter_uid, second.meter_uid, *following]) == every


def test_plans_follow_the_scope_and_the_state_of_earlier_runs(sb: Sandbox) -> None:
    from sources.utilityapi.planning import record_fetch

    since = datetime(2026, 3, 1, tzinfo=UTC)
    ctx = context(sb, start_date=since)
    state: dict[str, Any] = {}
    first = list(ctx.plan("intervals", state))
    assert first and {p.start for p in first} == {since}
    assert ctx.report.kinds["intervals"].planned == len(first)
    cursor = NOW - timedelta(days=1)
    for plan in first:
        record_fetch(state["meters"], plan, cursor, NOW - timedelta(hours=1))
    refreshed = first[0].meter_uid
    again = context(sb, lookback=timedelta(days=2), refresh=frozenset({refreshed}))
    (plan,) = list(again.plan("intervals", state))
    assert (plan.meter_uid, plan.start) == (refreshed, cursor - timedelta(days=2))
    assert again.report.kinds["intervals"].unchanged == len(first) - 1
    # fetched seconds ago by the clock of this run: deferred
    soon = context(sb, FakeClock(NOW - timedelta(minutes=59, seconds=30)))
    soon_refresh = SourceContext(
        client=soon.client, clock=soon.clock, report=LoadReport(),
        scope=scope(refresh=frozenset({refreshed})),
    )  # fmt: skip
    assert list(soon_refresh.plan("intervals", state)) == []
    assert soon_refresh.report.kinds["intervals"].deferred == [refreshed]


def test_a_backfill_of_a_vanished_meter_is_dropped_only_with_the_whole_listing(
    sb: Sandbox,
) -> None:
    real = collected(sb)[0]
    state: dict[str, Any] = {}
    ctx = context(sb, backfill={"gone": None, real: None})
    planned = [p for p in ctx.plan("intervals", state)]
    assert real in {p.meter_uid for p in planned if p.reason == "backfill requested"}
    assert all(p.meter_uid != "gone" for p in planned)
    assert "gone" not in str(state["backfills"])  # the whole listing says it is gone
    state = {}
    partial = context(sb, meter_uids=[real], backfill={"gone": None}, strict_meters=False)
    list(partial.plan("intervals", state))
    assert "gone" in str(state["backfills"])  # a filtered listing cannot tell


def reshaping_proxy(sb: Sandbox, reshape: dict[str, Any]) -> Any:
    """The sandbox over HTTP, except that listings named in `reshape` go through a function of
    their JSON first (payloads of the shapes seen in the wild)."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    upstream = httpx.AsyncClient(trust_env=False)

    async def forward(request: Request) -> Response:
        path = request.url.path
        target = sb.base_url.rsplit("/api/v2", 1)[0] + path
        answer = await upstream.get(
            target,
            params=request.query_params,
            headers={"Authorization": request.headers.get("authorization", "")},
        )
        body = answer.content
        name = path.rsplit("/", 1)[-1]
        if name in reshape and answer.status_code == 200:
            payload = json.loads(body)
            payload[name] = reshape[name](payload[name])
            body = json.dumps(payload).encode()
        return Response(body, answer.status_code, media_type="application/json")

    return Starlette(routes=[Route("/api/v2/{rest:path}", forward, methods=["GET"])])


def test_listings_of_the_wrong_shape_are_set_aside_and_counts_in_text_read_as_numbers(
    sb: Sandbox,
) -> None:
    meters_uids = sorted(m["uid"] for m in sb.truth.meters())
    first, second, third = meters_uids[:3]

    def meters(items: list) -> list:
        for meter in items:
            if meter["uid"] == first:
                meter["interval_count"] = str(meter["interval_count"])
                meter["bill_count"] = f" {meter['bill_count']} "
            if meter["uid"] == second:
                meter["interval_count"] = "lots"
                meter["is_activated"] = "yes"
        items = [m for m in items if m["uid"] != third]
        return [*items, ["not", "a", "meter"], {**items[0], "uid": {"x": 1}}]

    def authorizations(items: list) -> list:
        return [*items, {**items[0], "uid": None}, "text", {**items[0], "uid": ["a"]}]

    proxy = reshaping_proxy(sb, {"meters": meters, "authorizations": authorizations})
    with serve_asgi(proxy) as root:
        client = UtilityAPIClient(sb.token, f"{root}/api/v2", rate_limit=None)
        ctx = SourceContext(client=client, clock=FakeClock(NOW), report=LoadReport(), scope=scope())
        listed = {m["uid"]: m for m in ctx.meters()}
        auths = ctx.authorizations()
        client.close()
    truth = {m["uid"]: m for m in sb.truth.meters()}
    assert sorted(listed) == sorted(set(meters_uids) - {second, third})
    assert listed[first]["interval_count"] == truth[first]["interval_count"]
    assert listed[first]["bill_count"] == truth[first]["bill_count"]
    assert listed[meters_uids[3]] == truth[meters_uids[3]]  # others as sent
    assert len(auths) == len(sb.truth.authorizations())
    meters_set_aside = dict(ctx.report.quarantined["meters"])
    assert meters_set_aside.pop(second) == (
        "interval_count is 'lots', expected a whole number; "
        "is_activated is 'yes', expected true or false"
    )
    assert meters_set_aside.pop("['not', 'a', 'meter']") == "a list where an object belongs"
    ((label, reason),) = meters_set_aside.items()
    assert "{'x': 1}" in label and len(label) == 60
    assert reason == "uid is {'x': 1}, expected a string"
    authorizations_set_aside = dict(ctx.report.quarantined["authorizations"])
    assert authorizations_set_aside.pop("'text'") == "a str where an object belongs"
    reasons = sorted(authorizations_set_aside.values())
    assert reasons == ["uid is None, expected a string", "uid is ['a'], expected a string"]
