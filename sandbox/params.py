"""Validation of query parameters and JSON bodies, raising the API's 400 errors."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import orjson

from .errors import invalid_param
from .localtime import Zone, to_us

_FULL = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})$")
_SHORT = re.compile(r"^\d{4}-\d{2}-\d{2}$")

# A moment filter: epoch seconds given the zone of the meter it applies to.
When = Callable[[Zone], int]


def boolean(params: Mapping[str, str], name: str) -> bool | None:
    value = params.get(name)
    if value is None:
        return None
    if value == "true":
        return True
    if value == "false":
        return False
    raise invalid_param(f"{name}: expected true or false, got {value!r}")


def uid_list(params: Mapping[str, str], name: str) -> list[str] | None:
    value = params.get(name)
    if value is None:
        return None
    return [part for part in value.split(",") if part]


def limit(params: Mapping[str, str], default: int, cap: int) -> int:
    value = params.get("limit")
    if value is None:
        return min(default, cap)
    if not value.isdigit() or int(value) < 1:
        raise invalid_param(f"limit: expected a positive integer, got {value!r}")
    return min(int(value), cap)


def order(params: Mapping[str, str]) -> bool:
    """True for latest_first (the default)."""
    value = params.get("order", "latest_first")
    if value not in ("latest_first", "earliest_first"):
        raise invalid_param(f"order: expected latest_first or earliest_first, got {value!r}")
    return value == "latest_first"


def moment(params: Mapping[str, str], name: str, round_up: bool) -> When | None:
    """ISO 8601 with an offset (Z allowed, fractions allowed), or YYYY-MM-DD read in the zone."""
    value = params.get(name)
    if value is None:
        return None
    if _SHORT.match(value):
        try:
            day = datetime.strptime(value, "%Y-%m-%d").date()
        except ValueError:
            raise invalid_param(f"{name}: not a valid date: {value!r}") from None
        return lambda zone: zone.midnight(day)
    if not _FULL.match(value):
        raise invalid_param(
            f"{name}: expected ISO 8601 with a T and an offset (2024-01-01T00:00:00+00:00) "
            f"or YYYY-MM-DD, got {value!r}"
        )
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise invalid_param(f"{name}: not a valid timestamp: {value!r}") from None
    us = to_us(parsed)
    seconds = math.ceil(us / 1_000_000) if round_up else us // 1_000_000
    return lambda zone: seconds


def json_body(raw: bytes, allow_empty: bool = False) -> dict[str, Any]:
    if not raw.strip():
        if allow_empty:
            return {}
        raise invalid_param("The request body must be a JSON object.")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise invalid_param("The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise invalid_param("The request body must be a JSON object.")
    return body


def body_bool(body: Mapping[str, Any], name: str) -> bool | None:
    if name not in body:
        return None
    value = body[name]
    if not isinstance(value, bool):
        raise invalid_param(f"{name}: expected a boolean")
    return value


def body_uids(body: Mapping[str, Any], name: str) -> list[str] | None:
    if name not in body or body[name] is None:
        return None
    value = body[name]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise invalid_param(f"{name}: expected a list of uid strings")
    return value
