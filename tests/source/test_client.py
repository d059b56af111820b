"""Unit tests of the HTTP client against httpx.MockTransport."""

from __future__ import annotations

import json
import random

import httpx
import pytest

from sources.utilityapi.client import UtilityAPIClient, endpoint_label
from sources.utilityapi.errors import (
    AuthenticationError,
    BadRequestError,
    DeadlineExceededError,
    ExpiredOrRevokedError,
    MalformedResponseError,
    MissingTokenError,
    NotFoundError,
    PaymentRequiredError,
    RateLimitedError,
    ResponseTooLargeError,
    ServerError,
    TransportError,
)
from tests.support.clock import FakeClock

BASE = "https://api.test/api/v2"
TOKEN = "tok-SECRET-123"


def make_client(handler, clock=None, **kwargs) -> UtilityAPIClient:
    return UtilityAPIClient(
        TOKEN,
        BASE,
        transport=httpx.MockTransport(handler),
        clock=clock or FakeClock(),
        rng=random.Random(1),
        **kwargs,
    )


def json_response(body, status=200, headers=None) -> httpx.Response:
    return httpx.Response(status, content=json.dumps(body).encode(), headers=headers)


def test_sends_bearer_token_and_returns_json():
    seen = {}

    def handler(request: httpx.Request) -> httpx.Response:
        seen["auth"] = request.headers["Authorization"]
        seen["url"] = str(request.url)
        return json_response({"uid": "m1"})

    client = make_client(handler)
    assert client.get("meters/m1") == {"uid": "m1"}
    assert seen == {"auth": f"Bearer {TOKEN}", "url": f"{BASE}/meters/m1"}
    assert client.stats.as_dict()["requests"] == {"GET /meters/{uid}": 1}


def test_missing_token_says_how_to_provide_one():
    with pytest.raises(MissingTokenError, match="SOURCES__UTILITYAPI__API_TOKEN"):
        UtilityAPIClient("  ", BASE)


def test_pages_follow_next_links_verbatim_until_null():
    def handler(request: httpx.Request) -> httpx.Response:
        after = request.url.params.get("after")
        if after is None:
            assert request.url.params["limit"] == "2"
            return json_response(
                {"meters": [{"uid": "a"}, {"uid": "b"}], "next": f"{BASE}/meters?limit=2&after=b"}
            )
        if after == "b":
            return json_response({"meters": [{"uid": "c"}], "next": None})
        raise AssertionError(after)

    client = make_client(handler)
    pages = list(client.pages("meters", "meters", {"limit": 2}))
    assert [[m["uid"] for m in p] for p in pages] == [["a", "b"], ["c"]]


@pytest.mark.parametrize(
    "body",
    [
        {"meters": [{"uid": "a"}]},
        {"meters": [{"uid": "a"}], "next": "null"},
        {"meters": [{"uid": "a"}], "next": "nil"},
    ],
)
def test_absent_or_placeholder_next_ends_paging(body):
    calls = []

    def handler(request):
        calls.append(request)
        return json_response(body)

    assert len(list(make_client(handler).pages("meters", "meters"))) == 1
    assert len(calls) == 1


def test_a_list_where_the_listing_object_belongs_is_an_error_naming_it():
    calls = []

    def handler(request):
        calls.append(request)
        return json_response([{"uid": "m1"}])

    client = make_client(handler)
    with pytest.raises(MalformedResponseError, match="meters listing has no 'meters' list"):
        list(client.pages("meters", "meters"))
    assert len(calls) == 1  # not retried: the same server would send the same shape again


def test_repeated_next_link_is_an_error_not_a_loop():
    client = make_client(lambda r: json_response({"events": [], "next": f"{BASE}/events?after=x"}))
    with pytest.raises(MalformedResponseError, match="same `next` link"):
        list(client.pages("events", "events"))


def test_next_link_to_another_host_never_gets_the_token():
    calls = []

    def handler(request):
        calls.append(str(request.url))
        return json_response({"events": [], "next": "https://evil.test/api/v2/events?after=1"})

    with pytest.raises(MalformedResponseError, match="another host"):
        list(make_client(handler).pages("events", "events"))
    assert calls == [f"{BASE}/events"]


def test_429_pauses_for_retry_after_then_succeeds():
    clock = FakeClock()
    responses = iter(
        [
            httpx.Response(429, text="<html>slow down</html>", headers={"Retry-After": "3"}),
            json_response({"meters": [], "next": None}),
        ]
    )
    client = make_client(lambda r: next(responses), clock=clock, rate_limit=None)
    assert list(client.pages("meters", "meters")) == [[]]
    assert 3.0 in clock.sleeps
    stats = client.stats.as_dict()
    assert stats["rate_limited"] == 1 and stats["retries"] == {"429": 1}


def test_endless_429_gives_up_with_advice():
    client = make_client(
        lambda r: httpx.Response(429, headers={"Retry-After": "1"}), rate_limit=None
    )
    with pytest.raises(RateLimitedError, match="rate limit"):
        client.get("meters")


@pytest.mark.parametrize(
    "status,body", [(500, b"<html>oops</html>"), (503, b""), (504, b"gateway")]
)
def test_5xx_is_retried_with_backoff(status, body):
    clock = FakeClock()
    responses = iter(
        [
            httpx.Response(status, content=body),
            httpx.Response(status, content=body),
            json_response({"ok": True}),
        ]
    )
    client = make_client(lambda r: next(responses), clock=clock, rate_limit=None)
    assert client.get("meters") == {"ok": True}
    assert len(clock.sleeps) == 2 and clock.sleeps[1] > clock.sleeps[0] / 2


def test_5xx_that_persists_becomes_a_server_error():
    client = make_client(lambda r: httpx.Response(503), rate_limit=None, max_retries=2)
    with pytest.raises(ServerError, match="503"):
        client.get("bills", {"meters": "m"})


def test_truncated_json_is_retried_then_reported():
    responses = iter(
        [httpx.Response(200, content=b'{"meters": [{"uid": "a"'), json_response({"meters": []})]
    )
    client = make_client(lambda r: next(responses), rate_limit=None)
    assert client.get("meters") == {"meters": []}
    client = make_client(
        lambda r: httpx.Response(200, content=b"{"), rate_limit=None, max_retries=1
    )
    with pytest.raises(MalformedResponseError, match="not valid JSON"):
        client.get("meters")


def test_connection_errors_are_retried():
    attempts = []

    def handler(request):
        attempts.append(1)
        if len(attempts) < 3:
            raise httpx.RemoteProtocolError("peer closed connection", request=request)
        return json_response({"ok": 1})

    assert make_client(handler, rate_limit=None).get("meters") == {"ok": 1}
    with pytest.raises(TransportError, match="ConnectError"):
        make_client(
            lambda r: (_ for _ in ()).throw(httpx.ConnectError("refused", request=r)),
            rate_limit=None,
            max_retries=1,
        ).get("meters")


def test_post_is_not_retried_after_the_server_may_have_acted():
    calls = []

    def handler(request):
        calls.append(request)
        return httpx.Response(504)

    with pytest.raises(ServerError, match="may already have acted"):
        make_client(handler, rate_limit=None).post(
            "meters/historical-collection", {"meters": ["m"]}
        )
    assert len(calls) == 1


@pytest.mark.parametrize(
    "status,body,error,text",
    [
        (
            401,
            {"error": "invalid_token", "error_description": "bad"},
            AuthenticationError,
            "same token serves test and production",
        ),
        (402, {"error": "payment_required"}, PaymentRequiredError, "$50"),
        (404, {"error": "not_found"}, NotFoundError, "404"),
        (400, {"error": "expired_or_revoked"}, ExpiredOrRevokedError, "re-authorize"),
        (
            400,
            {"error": "required_param_missing", "error_description": "meters or authorizations"},
            BadRequestError,
            "required_param_missing",
        ),
        (400, {"error": "brand_new_kind"}, BadRequestError, "brand_new_kind"),
        (400, "<html>bad</html>", BadRequestError, "400"),
    ],
)
def test_4xx_become_typed_errors_that_say_what_to_do(status, body, error, text):
    content = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    client = make_client(lambda r: httpx.Response(status, content=content))
    with pytest.raises(error) as caught:
        client.get("bills", {"meters": "m"})
    assert text in str(caught.value)
    assert TOKEN not in str(caught.value)


def test_rate_limiter_spaces_requests_evenly():
    clock = FakeClock()
    client = make_client(lambda r: json_response({}), clock=clock, rate_limit=10)
    for _ in range(5):
        client.get("meters")
    assert sum(clock.sleeps) == pytest.approx(0.4)


def test_endpoint_labels_hide_uids_but_keep_actions():
    assert endpoint_label("GET", f"{BASE}/meters/123") == "GET /meters/{uid}"
    assert (
        endpoint_label("POST", f"{BASE}/meters/historical-collection")
        == "POST /meters/historical-collection"
    )
    assert endpoint_label("POST", f"{BASE}/forms/f1/test-submit") == "POST /forms/{uid}/test-submit"
    assert endpoint_label("GET", f"{BASE}/intervals?meters=1") == "GET /intervals"


class _Chunks(httpx.SyncByteStream):
    """A response body sent in chunks; `each` runs before every chunk (e.g. moves a clock)."""

    def __init__(self, chunks, each=None):
        self.chunks = chunks
        self.each = each or (lambda: None)
        self.sent = 0

    def __iter__(self):
        for chunk in self.chunks:
            self.each()
            self.sent += len(chunk)
            yield chunk


def test_an_oversized_response_is_refused_while_it_streams_not_after():
    body = _Chunks([b"x" * 1024] * 1000)  # 1 MB, no Content-Length
    client = make_client(lambda r: httpx.Response(200, stream=body), max_response_bytes=64 * 1024)
    with pytest.raises(ResponseTooLargeError, match="over 65,536 bytes"):
        client.get("intervals", {"meters": "m"})
    assert body.sent <= 65 * 1024  # stopped reading at the bound
    assert client.stats.as_dict()["total_requests"] == 1  # not retried


def test_a_declared_oversized_response_is_refused_before_reading():
    body = _Chunks([b"x" * 1024])
    headers = {"Content-Length": str(10 * 2**20)}
    client = make_client(
        lambda r: httpx.Response(200, stream=body, headers=headers), max_response_bytes=2**20
    )
    with pytest.raises(ResponseTooLargeError):
        client.get("meters")
    assert body.sent == 0


def test_a_trickling_response_ends_at_the_deadline_and_is_retried_once():
    clock = FakeClock()
    bodies = []

    def handler(request):
        body = _Chunks([b" "] * 100 + [b"{}"], each=lambda: clock.sleep(1.0))
        bodies.append(body)
        return httpx.Response(200, stream=body)

    client = make_client(handler, clock=clock, request_deadline=10.0)
    with pytest.raises(DeadlineExceededError, match="still sending after 10 s"):
        client.get("meters")
    assert len(bodies) == 2  # one retry, then the meter is given up on
    assert all(b.sent <= 11 for b in bodies)
