"""HTTP client for UtilityAPI v2: auth, pacing, retries, typed errors and `next`-link paging."""

from __future__ import annotations

import logging
import random
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import httpx
import orjson

from . import settings
from .clock import SYSTEM_CLOCK, Clock
from .errors import (
    TOKEN_HELP,
    DeadlineExceededError,
    MalformedResponseError,
    MissingTokenError,
    RateLimitedError,
    ResponseTooLargeError,
    ServerError,
    TransportError,
    UtilityAPIError,
    error_for_status,
)
from .limiter import RateLimiter
from .pages import BodyDecoder, Page, PayloadError, WholeBody, json_page, parse_json

logger = logging.getLogger(__name__)

T = TypeVar("T")

_UID_SEGMENT = re.compile(r"^(authorizations|meters|events|forms|templates|bills|intervals)$")
_ACTIONS = frozenset({"historical-collection", "ongoing-monitoring", "revoke", "test-submit"})


@dataclass
class RequestStats:
    """What a client did, for the run summary: requests by endpoint, statuses, retries."""

    requests: Counter[str] = field(default_factory=Counter)
    statuses: Counter[str] = field(default_factory=Counter)
    retries: Counter[str] = field(default_factory=Counter)
    rate_limited: int = 0
    bytes_received: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def sent(self, endpoint: str) -> None:
        with self._lock:
            self.requests[endpoint] += 1

    def received(self, endpoint: str, status: int, size: int) -> None:
        with self._lock:
            self.statuses[f"{endpoint} {status}"] += 1
            self.bytes_received += size
            if status == 429:
                self.rate_limited += 1

    def retried(self, reason: str) -> None:
        with self._lock:
            self.retries[reason] += 1

    def absorb(self, other: RequestStats) -> None:
        """Count another client's requests here too (a repair run's)."""
        with other._lock:
            requests, statuses = Counter(other.requests), Counter(other.statuses)
            retries, limited, size = (
                Counter(other.retries),
                other.rate_limited,
                other.bytes_received,
            )
        with self._lock:
            self.requests.update(requests)
            self.statuses.update(statuses)
            self.retries.update(retries)
            self.rate_limited += limited
            self.bytes_received += size

    def as_dict(self) -> dict[str, Any]:
        with self._lock:
            return {
                "requests": dict(sorted(self.requests.items())),
                "total_requests": sum(self.requests.values()),
                "responses": dict(sorted(self.statuses.items())),
                "rate_limited": self.rate_limited,
                "retries": dict(sorted(self.retries.items())),
                "bytes_received": self.bytes_received,
            }


class UtilityAPIClient:
    """A thread-safe UtilityAPI client; every request goes through one account-wide limiter.

    GETs are retried on 429 (after `Retry-After`, pausing all threads), 5xx, timeouts, resets
    and truncated or unreadable bodies, with jittered exponential backoff. POSTs that may cost
    money or create objects are not retried after the server may have acted on them.
    """

    def __init__(
        self,
        api_token: str | None,
        base_url: str = settings.BASE_URL,
        *,
        rate_limit: float | None = settings.DEFAULT_RATE_LIMIT,
        max_concurrency: int = settings.DEFAULT_MAX_CONCURRENCY,
        max_retries: int = settings.MAX_RETRIES,
        max_response_bytes: int = settings.MAX_RESPONSE_BYTES,
        request_deadline: float = settings.REQUEST_DEADLINE_SECONDS,
        timeout: httpx.Timeout | None = None,
        transport: httpx.BaseTransport | None = None,
        clock: Clock = SYSTEM_CLOCK,
        rng: random.Random | None = None,
    ) -> None:
        if not api_token or not str(api_token).strip():
            raise MissingTokenError(f"No UtilityAPI API token was given. {TOKEN_HELP}")
        self.base_url = base_url.rstrip("/")
        self._origin = _origin(self.base_url)
        self.limiter = RateLimiter(rate_limit, clock)
        self.stats = RequestStats()
        self._clock = clock
        self._rng = rng or random.Random()
        self._max_retries = max_retries
        self._max_response_bytes = max_response_bytes
        self._deadline = request_deadline
        self._http = httpx.Client(
            headers={
                "Authorization": f"Bearer {str(api_token).strip()}",
                "Accept": "application/json",
                "User-Agent": "uapi-connector/0.1 (+dlt)",
            },
            timeout=timeout
            or httpx.Timeout(settings.READ_TIMEOUT, connect=settings.CONNECT_TIMEOUT, pool=None),
            limits=httpx.Limits(
                max_connections=max_concurrency, max_keepalive_connections=max_concurrency
            ),
            transport=transport,
            follow_redirects=False,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> UtilityAPIClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """GET a path under the base URL (or an absolute `next` URL) and return its JSON."""
        return self._request("GET", path, params=params, retry_unsafe=True)

    def post(self, path: str, body: Mapping[str, Any] | None = None) -> Any:
        """POST an action. Not retried once the server may have acted on it."""
        return self._request("POST", path, json=dict(body or {}), retry_unsafe=False)

    def patch(self, path: str, body: Mapping[str, Any]) -> Any:
        """PATCH an object; setting fields is idempotent, so it is retried like a GET."""
        return self._request("PATCH", path, json=dict(body), retry_unsafe=True)

    def delete(self, path: str) -> Any:
        return self._request("DELETE", path, retry_unsafe=False)

    def pages(
        self, path: str, key: str, params: Mapping[str, Any] | None = None
    ) -> Iterator[list[dict[str, Any]]]:
        """Yield each page's `key` list, following `next` links verbatim until null or absent."""
        for page in self.decoded_pages(path, params, lambda body: json_page(body, key)):
            yield page.items

    def decoded_pages(
        self, path: str, params: Mapping[str, Any] | None, decode: Callable[[bytes], Page[T]]
    ) -> Iterator[Page[T]]:
        """Follow `next` links, decoding each page's whole body with `decode`."""
        yield from self.streamed_pages(path, params, lambda: WholeBody(decode))

    def streamed_pages(
        self,
        path: str,
        params: Mapping[str, Any] | None,
        decoder: Callable[[], BodyDecoder[Page[T]]],
    ) -> Iterator[Page[T]]:
        """Follow `next` links, each page's body fed to a new `decoder()` as it streams.

        The decoder raises PayloadError for bytes that are not a whole page (e.g. truncated),
        which is retried like a transport failure (with a new decoder). A `next` link is
        followed as sent, except that a filter of the first request it lost is put back:
        UtilityAPI does not document whether `next` keeps the query, and a link without
        `start` or `allow_mixed` would page a different result set.
        """
        url: str | None = path
        query = dict(params or {})
        filters = _query(params) or {}
        seen: set[str] = set()
        while url:
            page = self._request(
                "GET", url, params=query or None, retry_unsafe=True, decoder=decoder
            )
            yield page
            next_url = page.next
            if next_url is not None:
                next_url = _with_filters(urljoin(self.base_url + "/", next_url), filters)
                if next_url in seen:
                    raise MalformedResponseError(
                        f"UtilityAPI's {endpoint_label('GET', next_url)} listing sent the same "
                        "`next` link twice; stopping instead of looping forever."
                    )
                seen.add(next_url)
            url, query = next_url, {}

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        retry_unsafe: bool,
        decoder: Callable[[], BodyDecoder[Any]] | None = None,
    ) -> Any:
        url = self._url(path)
        endpoint = endpoint_label(method, url)
        failures = 0
        rate_limited = 0
        deadlines = 0
        while True:
            self.limiter.acquire()
            self.stats.sent(endpoint)
            failure: UtilityAPIError
            try:
                status, headers, body = self._send(
                    method, url, params, json, endpoint, decoder or _whole_json
                )
            except DeadlineExceededError as exc:
                failure = exc
                deadlines += 1
                # A server that trickled once for this long will most likely do it again.
                if not retry_unsafe or deadlines > 1:
                    raise (_maybe_applied(failure) if not retry_unsafe else failure) from None
            except httpx.HTTPError as exc:
                failure = TransportError(
                    f"{endpoint} failed: {type(exc).__name__}: {_redact(str(exc))}",
                    endpoint=endpoint,
                )
                if not retry_unsafe:
                    raise _maybe_applied(failure) from exc
            else:
                content = body if isinstance(body, bytes) else b""
                if status == 429:
                    rate_limited += 1
                    wait = _retry_after(headers.get("Retry-After"))
                    if (
                        rate_limited > settings.MAX_RATE_LIMITED_RETRIES
                        or wait > settings.MAX_RETRY_AFTER_SECONDS
                    ):
                        raise RateLimitedError(
                            f"UtilityAPI kept answering 429 Too Many Requests on {endpoint} "
                            f"(last Retry-After: {wait:.0f} s). Lower the rate limit "
                            "(--rate-limit) or ask UtilityAPI to raise the account's limit.",
                            status=429,
                            endpoint=endpoint,
                        )
                    self.stats.retried("429")
                    logger.info("429 on %s; pausing all requests for %.1f s", endpoint, wait)
                    self.limiter.pause(wait)
                    continue
                if status >= 500:
                    failure = ServerError(
                        f"UtilityAPI answered {status} on {endpoint} after "
                        f"{failures + 1} attempts; the service may be down or in maintenance. "
                        "Retry later.",
                        status=status,
                        endpoint=endpoint,
                    )
                    if not retry_unsafe:
                        raise _maybe_applied(failure)
                elif status >= 400:
                    raise error_for_status(status, _json_or_none(content), endpoint)
                else:
                    try:
                        return body.close()  # type: ignore[union-attr]
                    except PayloadError as exc:
                        failure = MalformedResponseError(
                            f"UtilityAPI answered {endpoint} with a body that is not valid JSON "
                            f"(truncated or not JSON: {exc}).",
                            status=status,
                            endpoint=endpoint,
                        )
            failures += 1
            if failures > self._max_retries:
                raise failure
            self.stats.retried(type(failure).__name__)
            delay = self._backoff(failures)
            logger.info("%s; retry %d in %.2f s", failure, failures, delay)
            self._clock.sleep(delay)

    def _send(
        self,
        method: str,
        url: str,
        params: Mapping[str, Any] | None,
        body: Any,
        endpoint: str,
        decoder: Callable[[], BodyDecoder[Any]],
    ) -> tuple[int, httpx.Headers, bytes | BodyDecoder[Any]]:
        """One request, its body read as it streams, within a size bound and a deadline.

        A success's body goes to a new `decoder()` as it arrives (returned fed, to be closed);
        any other answer's body is returned as bytes. The bound applies to what the decoder
        holds at once (a streaming decoder holds a batch, a whole-body one the body) and keeps
        a runaway response from taking the process's memory; the deadline ends a response that
        keeps trickling in under the read timeout.
        """
        started = self._clock.monotonic()
        with self._http.stream(method, url, params=_query(params), json=body) as response:
            status = response.status_code
            sink: BodyDecoder[Any] = decoder() if 200 <= status < 300 else WholeBody(bytes)
            declared = response.headers.get("Content-Length")
            whole = isinstance(sink, WholeBody)
            if (
                whole
                and declared
                and declared.isdigit()
                and int(declared) > self._max_response_bytes
            ):
                raise self._too_large(endpoint, int(declared))
            size = 0
            try:
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    sink.feed(chunk)
                    if sink.held > self._max_response_bytes:
                        raise self._too_large(endpoint, sink.held)
                    if self._clock.monotonic() - started > self._deadline:
                        raise DeadlineExceededError(
                            f"{endpoint} was still sending after {self._deadline:.0f} s "
                            f"({size:,} bytes so far); giving up on this response.",
                            endpoint=endpoint,
                        )
            finally:
                self.stats.received(endpoint, status, size)
            if not 200 <= status < 300:
                return status, response.headers, sink.close()
            return status, response.headers, sink

    def _too_large(self, endpoint: str, size: int) -> ResponseTooLargeError:
        return ResponseTooLargeError(
            f"UtilityAPI's answer to {endpoint} needs over {self._max_response_bytes:,} bytes "
            f"held at once ({size:,} so far: a whole body, or one object of a streamed page); "
            "refusing to hold it in memory.",
            endpoint=endpoint,
        )

    def _backoff(self, attempt: int) -> float:
        ceiling = min(
            settings.BACKOFF_MAX_SECONDS, settings.BACKOFF_BASE_SECONDS * 2 ** (attempt - 1)
        )
        return self._rng.uniform(ceiling / 2, ceiling)

    def _url(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            if _origin(path) != self._origin:
                raise MalformedResponseError(
                    f"UtilityAPI sent a link to another host ({_origin(path)}); the connector "
                    f"only sends the token to {self._origin}."
                )
            return path
        return f"{self.base_url}/{path.lstrip('/')}"


def endpoint_label(method: str, url: str) -> str:
    """`GET /meters/{uid}` style label for counting requests by endpoint."""
    parts = [p for p in urlsplit(url).path.split("/") if p]
    if "v2" in parts:
        parts = parts[parts.index("v2") + 1 :]
    label: list[str] = []
    for i, part in enumerate(parts):
        if i > 0 and _UID_SEGMENT.match(parts[i - 1]) and part not in _ACTIONS:
            label.append("{uid}")
        else:
            label.append(part)
    return f"{method} /{'/'.join(label)}"


def _retry_after(value: str | None) -> float:
    if not value:
        return 1.0
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        from datetime import UTC, datetime

        return max(0.0, (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds())
    except (TypeError, ValueError):
        return 1.0


def _query(params: Mapping[str, Any] | None) -> dict[str, str] | None:
    if not params:
        return None
    query: dict[str, str] = {}
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, bool):
            query[key] = "true" if value else "false"
        elif isinstance(value, list | tuple | set):
            query[key] = ",".join(str(v) for v in value)
        else:
            query[key] = str(value)
    return query


def _with_filters(url: str, filters: Mapping[str, str]) -> str:
    """`url` with every filter of `filters` it lacks added back (its own values win)."""
    parts = urlsplit(url)
    present = dict(parse_qsl(parts.query, keep_blank_values=True))
    missing = {k: v for k, v in filters.items() if k not in present}
    if not missing:
        return url
    return urlunsplit(parts._replace(query=urlencode({**present, **missing})))


def _whole_json() -> BodyDecoder[Any]:
    return WholeBody(parse_json)


def _json_or_none(content: bytes) -> Any:
    try:
        return orjson.loads(content) if content else None
    except orjson.JSONDecodeError:
        return None


def _maybe_applied(failure: UtilityAPIError) -> UtilityAPIError:
    failure.args = (
        f"{failure.args[0]} The request was not retried because UtilityAPI may already have "
        "acted on it; check the meters' status before sending it again.",
    )
    return failure


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _redact(text: str) -> str:
    """Drop any access_token query value from a message."""
    return re.sub(r"(access_token=)[^&\s'\"]+", r"\1***", text)
