"""List pages as UtilityAPI sends them: `{"<key>": [...], "next": url | null}`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import orjson

from . import settings
from .errors import MalformedResponseError

T = TypeVar("T")


class PayloadError(ValueError):
    """The bytes are not a whole JSON page (truncated, empty where JSON was due, ...)."""


@dataclass(frozen=True)
class Page(Generic[T]):
    """One decoded list page: its items (a list, or a table) and its `next` link."""

    items: T
    next: str | None


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
    return Page(page_items(body, key), _next_link(body))


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
