"""The /api/v2 routes and the gate every API request passes: faults, latency, token, rate limit.

Handlers are plain functions of (runtime, request data) that hold the world lock while they read
or change state and return JSON bytes; list pages are assembled from cached object bytes.
"""

from __future__ import annotations

import asyncio
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Route
from starlette.types import Receive, Scope, Send

from . import bills, params
from .catalog import TEST_SCENARIOS, UTILITIES
from .chunks import parse_interval_uid
from .errors import (
    ApiError,
    invalid_param,
    not_found,
    payment_required,
    required_param_missing,
    unauthorized,
)
from .faults import HTML_PAGES, RATE_LIMITED_BODY, drop_connection, send_truncated
from .requestlog import RequestRecord
from .rng import uniform
from .runtime import Runtime
from .world import FREQUENCIES, PREPAYS, Meter

API_PREFIX = "/api/v2"
JSON = "application/json"
# Default objects per page when `limit` is absent (all capped by the config's page_cap).
# Interval objects hold days of readings each (~30-120 KB), so their pages are smaller.
DEFAULT_PAGE_SIZE = {
    "authorizations": 1000,
    "meters": 1000,
    "bills": 1000,
    "intervals": 100,
    "events": 1000,
    "forms": 1000,
    "templates": 1000,
}


@dataclass
class Call:
    """What a handler needs from the request."""

    rt: Runtime
    params: dict[str, str]
    path_params: dict[str, str]
    body: bytes
    next_base: str  # absolute URL of this path, for `next`
    query_items: list[tuple[str, str]]


# A response body: bytes, or parts sent one after another (list pages are never joined, so
# serving a cached page copies nothing).
Body = bytes | list[bytes]
Handler = Callable[[Call], Body]
SEND_CHUNK = 1 << 20


def _json(data: Any) -> bytes:
    return orjson.dumps(data)


def _listing(
    name: str, items: Sequence[bytes], next_url: str | None, incomplete: bool | None = None
) -> list[bytes]:
    parts = [b'{"' + name.encode() + b'":[']
    for i, item in enumerate(items):
        if i:
            parts.append(b",")
        parts.append(item)
    tail = b'],"next":' + _json(next_url)
    if incomplete is not None:
        tail += b',"is_incomplete":' + _json(incomplete)
    parts.append(tail + b"}")
    return parts


# What a `next` link keeps when the mode drops filters: without them /bills and /intervals 400.
REQUIRED_FILTERS = {
    "bills": ("meters", "authorizations"),
    "intervals": ("meters", "authorizations"),
}


def _next_url(call: Call, name: str, last_uid: str) -> str:
    if call.rt.modes.next_drops_filters:
        keep = REQUIRED_FILTERS.get(name, ())
        query = [(k, v) for k, v in call.query_items if k in keep]
    else:
        query = [(k, v) for k, v in call.query_items if k not in ("after", "access_token")]
    query.append(("after", last_uid))
    return f"{call.next_base}?{urlencode(query, safe=',')}"


def _page(
    keys: list[Any], after_key: Any | None, latest_first: bool, limit: int, repeat: bool = False
) -> tuple[int, int, bool]:
    """Index range [lo, hi) of the page in ascending `keys`, and whether more follow.

    `repeat` lists the `after` object again (when it is still listed).
    """
    if latest_first:
        if after_key is None:
            hi = len(keys)
        else:
            hi = (bisect_right if repeat else bisect_left)(keys, after_key)
        lo = max(0, hi - limit)
        return lo, hi, lo > 0
    if after_key is None:
        lo = 0
    else:
        lo = (bisect_left if repeat else bisect_right)(keys, after_key)
    hi = min(len(keys), lo + limit)
    return lo, hi, hi < len(keys)


def _give_up(
    n: int, lo: int, hi: int, more: bool, latest_first: bool, cap: int
) -> tuple[int, int, bool, bool]:
    """Clip a page to the first `cap` objects of the query's order; (lo, hi, more, incomplete).

    The page that reaches the cap while objects remain says `is_incomplete` and has no `next`.
    """
    if n <= cap:
        return lo, hi, more, False
    if latest_first:
        floor = n - cap  # indices below it are never served by this query
        lo = max(lo, floor)
        hi = max(hi, lo)
        return lo, hi, lo > floor, lo == floor
    hi = min(hi, cap)
    lo = min(lo, hi)
    return lo, hi, hi < cap, hi == cap


def _repeats(call: Call, limit: int) -> bool:
    """Whether this `after` page lists its cursor's object again (a page of one never does:
    it would never move on)."""
    rate = call.rt.modes.page_repeat_rate
    after = call.params.get("after")
    if rate <= 0 or after is None or limit < 2:
        return False
    return uniform(call.rt.cfg.seed, "page-repeat", after) < rate


def _paged(
    call: Call,
    name: str,
    keys: list[Any],
    after_key: Any | None,
    latest_first: bool,
    render: Callable[[int], bytes],
    uid_of: Callable[[int], str],
) -> list[bytes]:
    modes = call.rt.modes
    limit = params.limit(call.params, DEFAULT_PAGE_SIZE[name], call.rt.cfg.page_cap)
    lo, hi, more = _page(keys, after_key, latest_first, limit, _repeats(call, limit))
    incomplete: bool | None = None
    if name == "intervals" and modes.incomplete_after is not None:
        lo, hi, more, incomplete = _give_up(
            len(keys), lo, hi, more, latest_first, modes.incomplete_after
        )
    if modes.limit_caps and name in ("bills", "intervals") and "limit" in call.params:
        more = False  # `limit` read as a total: the first page is all there is
    order = range(hi - 1, lo - 1, -1) if latest_first else range(lo, hi)
    items = [render(i) for i in order]
    last = lo if latest_first else hi - 1
    next_url = _next_url(call, name, uid_of(last)) if more and items else None
    return _listing(name, items, next_url, incomplete)


def _after(call: Call, lookup: Callable[[str], Any | None]) -> Any | None:
    after = call.params.get("after")
    if after is None:
        return None
    key = lookup(after)
    if key is None:
        raise invalid_param(f"after: unknown uid {after!r}")
    return key


def _matches(value: Any, wanted: list[str] | None) -> bool:
    return wanted is None or value in wanted


def _flag(value: bool, wanted: bool | None) -> bool:
    return wanted is None or value == wanted


# --- authorizations ---------------------------------------------------------------------------


def list_authorizations(call: Call) -> Body:
    p = call.params
    uids, forms_, templates = (params.uid_list(p, n) for n in ("uids", "forms", "templates"))
    users, referrals, utilities = (params.uid_list(p, n) for n in ("users", "referrals", "utility"))
    archived, declined, test, revoked, expired = (
        params.boolean(p, n)
        for n in ("is_archived", "is_declined", "is_test", "is_revoked", "is_expired")
    )
    include = _include_meters(p)
    view = _meter_view(call)
    rt = call.rt
    with rt.synced() as now:
        world = rt.world
        chosen = [
            a
            for a in world.authorizations.values()
            if not a.deleted
            and _matches(a.uid, uids)
            and _matches(a.form_uid, forms_)
            and _matches(a.template_uid, templates)
            and _matches("1337", users)
            and _matches(a.utility.uid, utilities)
            and (referrals is None or any(r in referrals for r in a.referrals))
            and _flag(a.is_archived, archived)
            and _flag(a.declined_us is not None, declined)
            and _flag(a.is_test, test)
            and _flag(a.revoked_us is not None, revoked)
            and _flag(a.is_expired(now), expired)
        ]
        chosen.sort(key=lambda a: (a.created_us, a.uid))
        keys = [(a.created_us, a.uid) for a in chosen]
        after = _after(
            call,
            lambda u: (
                (world.authorizations[u].created_us, u) if u in world.authorizations else None
            ),
        )
        return _paged(
            call,
            "authorizations",
            keys,
            after,
            True,
            lambda i: _json(rt.renderer.authorization(chosen[i], now, include, view)),
            lambda i: chosen[i].uid,
        )


def _include_meters(p: dict[str, str]) -> bool:
    include = params.uid_list(p, "include")
    if include is None:
        return False
    unknown = [v for v in include if v != "meters"]
    if unknown:
        raise invalid_param(f"include: only 'meters' is supported, got {', '.join(unknown)}")
    return "meters" in include


def get_authorization(call: Call) -> bytes:
    include = _include_meters(call.params)
    view = _meter_view(call)
    with call.rt.synced() as now:
        auth = call.rt.world.get_authorization(call.path_params["uid"])
        return _json(call.rt.renderer.authorization(auth, now, include, view))


def _meter_view(call: Call) -> Callable[[Meter], str | None]:
    """How each meter's blocks are shown: None when expanded, else the unexpanded style."""
    expand = bool(params.boolean(call.params, "expand_meter_blocks"))
    modes = call.rt.modes

    def view(meter: Meter) -> str | None:
        if expand or meter.utility.uid not in modes.unexpanded_utilities:
            return None
        return modes.unexpanded_style

    return view


def patch_authorization(call: Call) -> bytes:
    body = params.json_body(call.body)
    archived = params.body_bool(body, "is_archived")
    if (
        "nickname" in body
        and body["nickname"] is not None
        and not isinstance(body["nickname"], str)
    ):
        raise invalid_param("nickname: expected a string or null")
    with call.rt.synced() as now:
        auth = call.rt.world.get_authorization(call.path_params["uid"])
        if archived is not None:
            auth.is_archived = archived
        if "nickname" in body:
            auth.nickname = body["nickname"]
        call.rt.world.version += 1
        return _json(call.rt.renderer.authorization(auth, now))


def delete_authorization(call: Call) -> bytes:
    with call.rt.synced():
        call.rt.world.delete_authorization(call.path_params["uid"])
    return _json({"success": True})


def revoke_authorization(call: Call) -> bytes:
    with call.rt.synced() as now:
        auth = call.rt.world.revoke(call.path_params["uid"], now)
        return _json(call.rt.renderer.authorization(auth, now))


# --- meters -----------------------------------------------------------------------------------


def list_meters(call: Call) -> Body:
    p = call.params
    uids, auths, users, utilities = (
        params.uid_list(p, n) for n in ("uids", "authorizations", "users", "utility")
    )
    activated, archived, monitored = (
        params.boolean(p, n) for n in ("is_activated", "is_archived", "is_monitored")
    )
    view = _meter_view(call)
    rt = call.rt
    with rt.synced() as now:
        world = rt.world
        chosen = [
            m
            for m in world.meters.values()
            if not m.deleted
            and _matches(m.uid, uids)
            and _matches(m.auth_uid, auths)
            and _matches("1337", users)
            and _matches(m.utility.uid, utilities)
            and _flag(m.is_activated, activated)
            and _flag(m.is_archived, archived)
            and _flag(m.monitoring.frequency != "off", monitored)
        ]
        chosen.sort(key=lambda m: (m.created_us, m.uid))
        keys = [(m.created_us, m.uid) for m in chosen]
        after = _after(
            call, lambda u: (world.meters[u].created_us, u) if u in world.meters else None
        )
        return _paged(
            call,
            "meters",
            keys,
            after,
            True,
            lambda i: _json(rt.renderer.meter(chosen[i], now, view(chosen[i]))),
            lambda i: chosen[i].uid,
        )


def get_meter(call: Call) -> bytes:
    view = _meter_view(call)
    with call.rt.synced() as now:
        meter = call.rt.world.get_meter(call.path_params["uid"])
        return _json(call.rt.renderer.meter(meter, now, view(meter)))


def patch_meter(call: Call) -> bytes:
    body = params.json_body(call.body)
    archived = params.body_bool(body, "is_archived")
    with call.rt.synced() as now:
        meter = call.rt.world.get_meter(call.path_params["uid"])
        if archived is not None:
            meter.is_archived = archived
            meter.version += 1
            call.rt.world.version += 1
        return _json(call.rt.renderer.meter(meter, now))


def _required_meters(body: dict[str, Any]) -> list[str]:
    uids = params.body_uids(body, "meters")
    if not uids:
        raise required_param_missing("meters: a non-empty list of meter uids is required.")
    return uids


def historical_collection(call: Call) -> bytes:
    body = params.json_body(call.body)
    uids = _required_meters(body)
    months = body.get("collection_duration", 12)
    if months is None:
        months = 12
    if isinstance(months, bool) or not isinstance(months, int) or not 1 <= months <= 36:
        raise invalid_param("collection_duration: expected an integer from 1 to 36.")
    with call.rt.synced() as now:
        if not call.rt.world.funded:
            raise payment_required()
        accepted = call.rt.world.historical_collection(uids, months, now)
    return _json({"success": True, "meters": accepted, "collection_duration": months})


def ongoing_monitoring(call: Call) -> bytes:
    body = params.json_body(call.body)
    uids = _required_meters(body)
    frequency = body.get("frequency")
    if frequency is None:
        raise required_param_missing("frequency: one of daily, weekly, monthly, off is required.")
    if frequency not in FREQUENCIES:
        raise invalid_param(f"frequency: expected one of {', '.join(FREQUENCIES)}.")
    fixed_day = body.get("fixed_refresh_day")
    if fixed_day is not None:
        if (
            isinstance(fixed_day, bool)
            or not isinstance(fixed_day, int)
            or not 1 <= fixed_day <= 31
        ):
            raise invalid_param("fixed_refresh_day: expected an integer from 1 to 31 or null.")
        if frequency != "monthly":
            raise invalid_param("fixed_refresh_day: only allowed with frequency monthly.")
    prepay = body.get("prepay")
    if prepay is not None and prepay not in PREPAYS:
        raise invalid_param(f"prepay: expected one of {', '.join(PREPAYS)}.")
    with call.rt.synced() as now:
        if frequency != "off" and not call.rt.world.funded:
            raise payment_required()
        changed = call.rt.world.ongoing_monitoring(uids, frequency, fixed_day, prepay, now)
    result: dict[str, Any] = {
        "success": True,
        "meters": changed,
        "frequency": frequency,
        "prepay": prepay or "month_to_month",
    }
    if frequency == "monthly":
        result["fixed_refresh_day"] = fixed_day
    return _json(result)


# --- bills and intervals ----------------------------------------------------------------------


def _data_meters(call: Call) -> list[Meter]:
    p = call.params
    meter_uids = params.uid_list(p, "meters")
    auth_uids = params.uid_list(p, "authorizations")
    if not meter_uids and not auth_uids:
        raise required_param_missing("Either meters or authorizations is required.")
    world = call.rt.world
    chosen: list[Meter] = []
    for meter in world.meters.values():
        if meter.deleted:
            continue
        if meter_uids and meter.uid not in meter_uids:
            continue
        if auth_uids and meter.auth_uid not in auth_uids:
            continue
        chosen.append(meter)
    return chosen


def list_bills(call: Call) -> Body:
    p = call.params
    start = params.moment(p, "start", round_up=True)
    end = params.moment(p, "end", round_up=False)
    latest_first = params.order(p)
    rt = call.rt
    with rt.synced():
        world = rt.world
        meters = _data_meters(call)
        found: list[tuple[tuple[int, str, int], Meter, int]] = []
        for meter in meters:
            qs = start(meter.zone) if start else None
            qe = end(meter.zone) if end else None
            for k in meter.bill_created:
                s, e = bills.cycle(meter, k)
                if (qs is None or s >= qs) and (qe is None or e <= qe):
                    found.append(((s, meter.uid, k), meter, k))
        found.sort(key=lambda item: item[0])
        keys = [item[0] for item in found]

        def after_key(uid: str) -> Any | None:
            parsed = bills.parse_bill_uid(uid)
            if parsed is None or parsed[0] not in world.meters:
                return None
            meter = world.meters[parsed[0]]
            return (bills.cycle(meter, parsed[1])[0], meter.uid, parsed[1])

        after = _after(call, after_key)
        return _paged(
            call,
            "bills",
            keys,
            after,
            latest_first,
            lambda i: rt.renderer.bill(found[i][1], found[i][2]),
            lambda i: bills.bill_uid(found[i][1], found[i][2]),
        )


def list_intervals(call: Call) -> Body:
    p = call.params
    start = params.moment(p, "start", round_up=True)
    end = params.moment(p, "end", round_up=False)
    latest_first = params.order(p)
    allow_mixed = bool(params.boolean(p, "allow_mixed"))
    rt = call.rt
    on_object = rt.modes.start_filters_objects
    with rt.synced() as now:
        meters = _data_meters(call)
        by_uid = {m.uid: m for m in meters}
        starts = {m.uid: start(m.zone) if start else None for m in meters}
        ends = {m.uid: end(m.zone) if end else None for m in meters}
        refs, keys = rt.interval_refs(meters, starts, ends, allow_mixed, now, on_object)
        # Objects selected by their own start are served whole from the start side.
        trim_starts = dict.fromkeys(starts) if on_object else starts

        def after_key(uid: str) -> Any | None:
            return parse_interval_uid(uid)

        after = _after(call, after_key)
        return _paged(
            call,
            "intervals",
            keys,
            after,
            latest_first,
            lambda i: rt.renderer.interval(
                by_uid[refs[i].meter_uid],
                refs[i],
                trim_starts[refs[i].meter_uid],
                ends[refs[i].meter_uid],
            ),
            lambda i: refs[i].uid,
        )


# --- events -----------------------------------------------------------------------------------


def list_events(call: Call) -> Body:
    delivered = params.boolean(call.params, "is_delivered")
    rt = call.rt
    with rt.synced():
        store = rt.world.events
        chosen = [e for e in store.items if _flag(e.is_delivered, delivered)]
        keys = [e.seq for e in chosen]
        after = _after(call, lambda u: store.by_uid[u].seq if u in store.by_uid else None)
        return _paged(
            call,
            "events",
            keys,
            after,
            True,
            lambda i: _json(chosen[i].to_dict()),
            lambda i: chosen[i].uid,
        )


def get_event(call: Call) -> bytes:
    with call.rt.synced():
        event = call.rt.world.events.by_uid.get(call.path_params["uid"])
        if event is None:
            raise not_found(f"Event {call.path_params['uid']}")
        return _json(event.to_dict())


def patch_event(call: Call) -> bytes:
    body = params.json_body(call.body)
    delivered = params.body_bool(body, "is_delivered")
    with call.rt.synced():
        event = call.rt.world.events.by_uid.get(call.path_params["uid"])
        if event is None:
            raise not_found(f"Event {call.path_params['uid']}")
        if delivered is not None:
            call.rt.world.events.mark_delivered(event, delivered)
            call.rt.world.version += 1
        return _json(event.to_dict())


# --- forms and templates ----------------------------------------------------------------------


def _form_body(body: dict[str, Any]) -> dict[str, Any]:
    for name in ("template_uid", "authorization_uid", "customer_email", "utility"):
        if name in body and body[name] is not None and not isinstance(body[name], str):
            raise invalid_param(f"{name}: expected a string or null")
    if "scope" in body and body["scope"] is not None and not isinstance(body["scope"], dict):
        raise invalid_param("scope: expected an object")
    for name in ("is_archived", "disabled"):
        params.body_bool(body, name)
    return body


def create_form(call: Call) -> bytes:
    body = _form_body(params.json_body(call.body, allow_empty=True))
    with call.rt.synced() as now:
        form = call.rt.world.create_form(body, now)
        return _json(call.rt.renderer.form(form))


def list_forms(call: Call) -> Body:
    p = call.params
    uids, users, templates = (params.uid_list(p, n) for n in ("uids", "users", "templates"))
    archived = params.boolean(p, "is_archived")
    rt = call.rt
    with rt.synced():
        world = rt.world
        chosen = [
            f
            for f in world.forms.values()
            if not f.deleted
            and _matches(f.uid, uids)
            and _matches("1337", users)
            and _matches(f.template_uid, templates)
            and _flag(f.is_archived, archived)
        ]
        chosen.sort(key=lambda f: (f.created_us, f.uid))
        keys = [(f.created_us, f.uid) for f in chosen]
        after = _after(call, lambda u: (world.forms[u].created_us, u) if u in world.forms else None)
        return _paged(
            call,
            "forms",
            keys,
            after,
            True,
            lambda i: _json(rt.renderer.form(chosen[i])),
            lambda i: chosen[i].uid,
        )


def get_form(call: Call) -> bytes:
    with call.rt.synced():
        return _json(call.rt.renderer.form(call.rt.world.get_form(call.path_params["uid"])))


def patch_form(call: Call) -> bytes:
    body = _form_body(params.json_body(call.body))
    with call.rt.synced() as now:
        form = call.rt.world.patch_form(call.path_params["uid"], body, now)
        return _json(call.rt.renderer.form(form))


def delete_form(call: Call) -> bytes:
    with call.rt.synced():
        form = call.rt.world.get_form(call.path_params["uid"])
        form.deleted = True
        call.rt.world.version += 1
    return _json({"success": True})


def test_submit(call: Call) -> bytes:
    body = params.json_body(call.body)
    utility, scenario = body.get("utility"), body.get("scenario")
    if utility is None or scenario is None:
        raise required_param_missing("utility and scenario are required.")
    if utility not in UTILITIES:
        raise invalid_param(f"utility: unknown utility {utility!r}")
    if scenario not in TEST_SCENARIOS:
        raise invalid_param(f"scenario: expected one of {', '.join(TEST_SCENARIOS)}")
    with call.rt.synced() as now:
        referral = call.rt.world.test_submit(call.path_params["uid"], utility, scenario, now)
    return _json({"referral": referral})


def list_templates(call: Call) -> Body:
    uids = params.uid_list(call.params, "uids")
    disabled = params.boolean(call.params, "disabled")
    rt = call.rt
    with rt.synced():
        world = rt.world
        chosen = sorted(
            (
                t
                for t in world.templates.values()
                if _matches(t.uid, uids) and _flag(t.disabled, disabled)
            ),
            key=lambda t: (t.created_us, t.uid),
        )
        keys = [(t.created_us, t.uid) for t in chosen]
        after = _after(
            call, lambda u: (world.templates[u].created_us, u) if u in world.templates else None
        )
        return _paged(
            call,
            "templates",
            keys,
            after,
            True,
            lambda i: _json(rt.renderer.template(chosen[i])),
            lambda i: chosen[i].uid,
        )


def get_template(call: Call) -> bytes:
    with call.rt.synced():
        template = call.rt.world.templates.get(call.path_params["uid"])
        if template is None:
            raise not_found(f"Template {call.path_params['uid']}")
        return _json(call.rt.renderer.template(template))


ROUTES: list[tuple[str, str, Handler]] = [
    ("GET", "/authorizations", list_authorizations),
    ("GET", "/authorizations/{uid}", get_authorization),
    ("PATCH", "/authorizations/{uid}", patch_authorization),
    ("DELETE", "/authorizations/{uid}", delete_authorization),
    ("POST", "/authorizations/{uid}/revoke", revoke_authorization),
    ("GET", "/meters", list_meters),
    ("POST", "/meters/historical-collection", historical_collection),
    ("POST", "/meters/ongoing-monitoring", ongoing_monitoring),
    ("GET", "/meters/{uid}", get_meter),
    ("PATCH", "/meters/{uid}", patch_meter),
    ("GET", "/bills", list_bills),
    ("GET", "/intervals", list_intervals),
    ("GET", "/events", list_events),
    ("GET", "/events/{uid}", get_event),
    ("PATCH", "/events/{uid}", patch_event),
    ("GET", "/forms", list_forms),
    ("POST", "/forms", create_form),
    ("GET", "/forms/{uid}", get_form),
    ("PATCH", "/forms/{uid}", patch_form),
    ("DELETE", "/forms/{uid}", delete_form),
    ("POST", "/forms/{uid}/test-submit", test_submit),
    ("GET", "/templates", list_templates),
    ("GET", "/templates/{uid}", get_template),
]


def _unused_endpoint(request: Request) -> Response:
    # Routes are only used to match paths; Api dispatches to the handlers itself.
    raise NotImplementedError


class Api:
    """ASGI app for /api/v2: the gate (faults, latency, token, limit), routing and recording."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.routes: list[tuple[Route, str, Handler]] = []
        for method, template, handler in ROUTES:
            route = Route(API_PREFIX + template, _unused_endpoint, methods=[method])
            self.routes.append((route, template, handler))

    def _match(self, scope: Scope) -> tuple[str | None, Handler | None, dict[str, str], bool]:
        partial = False
        for route, template, handler in self.routes:
            match, child = route.matches(scope)
            if match is Match.FULL:
                return template, handler, dict(child.get("path_params", {})), False
            if match is Match.PARTIAL:
                partial = True
        return None, None, {}, partial

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        rt = self.rt
        request = Request(scope, receive)
        rel = scope["path"][len(API_PREFIX) :] or "/"
        query = request.query_params
        query_items = list(query.multi_items())
        raw_params = dict(query_items)
        token = _token(request, raw_params)
        logged = {k: v for k, v in raw_params.items() if k != "access_token"}
        template, handler, path_params, wrong_method = self._match(scope)
        route_name = template or rel
        meter_uids = [u for u in raw_params.get("meters", "").split(",") if u]
        if template in ("/meters/{uid}",):
            meter_uids.append(path_params["uid"])
        body = b""
        if scope["method"] in ("POST", "PATCH", "PUT"):
            body = await request.body()
            meter_uids += _body_meters(body)

        def record(status: int) -> None:
            rt.log.add(
                RequestRecord(scope["method"], rel, logged, status, tuple(meter_uids), route_name)
            )

        fault = rt.faults.draw(rel)
        if fault is not None:
            kind, arg = fault
            if kind in ("reset", "close"):
                record(0)
                await drop_connection(send, reset=kind == "reset")
                return
            if kind == "status":
                code, html = arg
                record(code)
                await _raw(
                    send,
                    code,
                    HTML_PAGES[code] if html else b"",
                    b"text/html; charset=utf-8" if html else None,
                )
                return
            if kind == "rate_limited":
                record(429)
                await _raw(
                    send,
                    429,
                    RATE_LIMITED_BODY,
                    b"text/html; charset=utf-8",
                    [(b"retry-after", str(arg).encode())],
                )
                return
            if kind == "slow":
                await asyncio.sleep(arg)
        status, content, headers = await self._answer(
            scope,
            token,
            template,
            handler,
            path_params,
            wrong_method,
            raw_params,
            body,
            query_items,
            request,
        )
        # The network model: latency plus the body's transfer time, awaited so the loop serves
        # other requests meanwhile.
        size = len(content) if isinstance(content, bytes) else sum(map(len, content))
        delay = rt.response_delay(size)
        if delay > 0:
            await rt.sleep(delay)
        record(status)
        if status == 200 and template is not None:
            rt.log.note_listing(template, logged)
        if fault is not None and fault[0] == "truncate":
            whole = content if isinstance(content, bytes) else b"".join(content)
            await send_truncated(send, status, headers, whole)
            return
        await _raw(send, status, content, None, headers)

    async def _answer(
        self,
        scope: Scope,
        token: str | None,
        template: str | None,
        handler: Handler | None,
        path_params: dict[str, str],
        wrong_method: bool,
        raw_params: dict[str, str],
        body: bytes,
        query_items: list[tuple[str, str]],
        request: Request,
    ) -> tuple[int, Body, list[tuple[bytes, bytes]]]:
        rt = self.rt
        json_headers = [(b"content-type", JSON.encode())]
        try:
            if token != rt.cfg.token:
                raise unauthorized()
            retry_after = rt.limiter.acquire(token)
            if retry_after is not None:
                return (
                    429,
                    RATE_LIMITED_BODY,
                    [
                        (b"content-type", b"text/html; charset=utf-8"),
                        (b"retry-after", str(retry_after).encode()),
                    ],
                )
            if handler is None:
                if wrong_method:
                    raise ApiError(
                        405, "method_not_allowed", f"{scope['method']} is not allowed on this path."
                    )
                raise not_found(f"Path {scope['path']}")
            host = request.headers.get("host") or f"{rt.cfg.host}:{rt.cfg.port}"
            call = Call(
                rt,
                raw_params,
                path_params,
                body,
                f"{scope.get('scheme', 'http')}://{host}{scope['path']}",
                query_items,
            )
            if _is_heavy(template):
                content = await asyncio.to_thread(handler, call)
            else:
                content = handler(call)
            return 200, content, json_headers
        except ApiError as exc:
            return exc.status, _json(exc.body()), json_headers


def _is_heavy(template: str | None) -> bool:
    # Pages of intervals can take a while to render the first time; keep the loop responsive.
    return template == "/intervals"


def _token(request: Request, query: dict[str, str]) -> str | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return query.get("access_token")


def _body_meters(body: bytes) -> list[str]:
    try:
        data = orjson.loads(body) if body.strip() else None
    except orjson.JSONDecodeError:
        return []
    if isinstance(data, dict) and isinstance(data.get("meters"), list):
        return [u for u in data["meters"] if isinstance(u, str)]
    return []


async def _raw(
    send: Send,
    status: int,
    body: Body,
    content_type: bytes | None,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    out = list(headers or [])
    if content_type is not None:
        out.append((b"content-type", content_type))
    parts = [body] if isinstance(body, bytes) else body
    out.append((b"content-length", str(sum(len(p) for p in parts)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": out})
    pending: list[bytes] = []
    size = 0
    for part in parts:
        pending.append(part)
        size += len(part)
        if size >= SEND_CHUNK:
            await send({"type": "http.response.body", "body": b"".join(pending), "more_body": True})
            pending, size = [], 0
    await send({"type": "http.response.body", "body": b"".join(pending)})
