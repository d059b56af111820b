"""List pages as UtilityAPI sends them: `{"<key>": [...], "next": url | null}`."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

import orjson

from . import settings
from .errors import MalformedResponseError

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


class PayloadError(ValueError):
    """The bytes are not a whole JSON page (truncated, empty where JSON was due, ...)."""


@dataclass(frozen=True)
class Page(Generic[T]):
    """One decoded list page: its items (a list, or a table) and its `next` link.

    `incomplete`: the page said `is_incomplete: true` (a client of the API models that flag on
    interval listings): the server stopped early, and asking again from where it stopped
    continues.
    """

    items: T
    next: str | None
    incomplete: bool = False


class BodyDecoder(Protocol[T_co]):
    """Decodes one response body as it streams in; a new one for every attempt."""

    @property
    def held(self) -> int:
        """Bytes held right now."""
        ...

    def feed(self, chunk: bytes) -> None: ...

    def close(self) -> T_co:
        """The decoded body; PayloadError when the bytes were not a whole body."""
        ...


class WholeBody(Generic[T]):
    """Gathers the whole body, then decodes it at once (small bodies: listings, errors)."""

    def __init__(self, decode: Callable[[bytes], T]) -> None:
        self._decode = decode
        self._chunks: list[bytes] = []
        self.held = 0

    def feed(self, chunk: bytes) -> None:
        self._chunks.append(chunk)
        self.held += len(chunk)

    def close(self) -> T:
        chunks = self._chunks
        return self._decode(chunks[0] if len(chunks) == 1 else b"".join(chunks))


def parse_json(content: bytes) -> Any:
    """A response body as JSON; an empty body is an empty object."""
    if not content:
        return {}
    try:
        return orjson.loads(content)
    except orjson.JSONDecodeError as exc:
        raise PayloadError(str(exc)) from exc


def json_page(content: bytes, key: str) -> Page[list[dict[str, Any]]]:
    """A list page parsed into dicts."""
    body = parse_json(content)
    incomplete = isinstance(body, dict) and body.get("is_incomplete") is True
    return Page(page_items(body, key), _next_link(body), incomplete)


def page_items(body: Any, key: str) -> list[dict[str, Any]]:
    """The page's `key` list; a body of any other shape is refused, naming what it was."""
    if isinstance(body, dict) and key in body:
        items = body[key]
        if items is None:
            return []
        if isinstance(items, list):
            return items
    raise MalformedResponseError(
        f"UtilityAPI's {key} listing has no '{key}' list (got {_describe(body)})."
    )


def next_link(value: Any) -> str | None:
    """A `next` value as a link, or None for null, absent and placeholder strings."""
    if not isinstance(value, str) or value.strip().lower() in settings.NULL_STRINGS:
        return None
    return value.strip()


def _next_link(body: Any) -> str | None:
    return next_link(body.get("next")) if isinstance(body, dict) else None


def _describe(body: Any) -> str:
    if isinstance(body, dict):
        keys = ", ".join(sorted(str(k) for k in body)[:8])
        return f"an object with keys {keys or 'none'}"
    return type(body).__name__


@dataclass
class Walk:
    """Where one query of an earliest-first listing got to, to tell whether it is complete.

    UtilityAPI does not document whether `limit` is a page size or a cap on the whole result,
    and a client of the API models pages that stop early (`is_incomplete`). A query whose last
    page was full (or said it was incomplete) and had no `next` may have been cut short, so the
    caller asks again from where it got to: the latest start received (inclusive: objects
    starting together are all received; the repeats are dropped by uid), or past the latest
    end when that start made no progress. A listing that really ended costs one more request.
    """

    limit: int
    new_items: int = 0
    last_page_items: int = 0
    incomplete: bool = False
    latest_start: Any = None
    latest_end: Any = None

    def page(self, items: int, new_items: int, incomplete: bool) -> None:
        self.last_page_items = items
        self.new_items += new_items
        self.incomplete = incomplete

    def span(self, start: Any, end: Any) -> None:
        if start is not None and (self.latest_start is None or start > self.latest_start):
            self.latest_start = start
        if end is not None and (self.latest_end is None or end > self.latest_end):
            self.latest_end = end

    def continue_from(self, start: Any) -> Any:
        """The `start` of the next query, or None when this listing is complete."""
        if not (self.incomplete or self.last_page_items >= self.limit):
            return None
        candidates = (self.latest_start if self.new_items else None, self.latest_end)
        for candidate in candidates:
            if candidate is not None and (start is None or candidate > start):
                return candidate
        return None


def read_ahead(items: Iterable[T], *, ahead: int, name: str) -> Iterator[T]:
    """Yield what `items` yields, reading it on a thread of its own up to `ahead` items ahead.

    For a listing whose pages follow each other (each `next` link comes with the page before),
    asked for beside the interval pages: the next page is requested as soon as one arrives,
    not when dlt next turns to this resource, which can be long after while it is busy with
    the readings. What `items` raises is raised here, after the items before it. The reader
    stopping early stops the thread before its next item; items may have been read that
    nobody takes, so a listing that knows where to stop should stop there itself.
    """
    finished = object()
    handoff: queue.SimpleQueue[tuple[Any, BaseException | None]] = queue.SimpleQueue()
    room = threading.Semaphore(ahead)
    stop = threading.Event()

    def produce() -> None:
        iterator = iter(items)
        try:
            while room.acquire() and not stop.is_set():
                try:
                    item = next(iterator)
                except StopIteration:
                    handoff.put((finished, None))
                    return
                handoff.put((item, None))
        except BaseException as exc:  # noqa: BLE001 - raised in the reader's thread
            handoff.put((finished, exc))
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()

    threading.Thread(target=produce, name=name, daemon=True).start()
    try:
        while True:
            item, error = handoff.get()
            if item is finished:
                if error is not None:
                    raise error
                return
            room.release()
            yield item
    finally:
        stop.set()
        room.release()
