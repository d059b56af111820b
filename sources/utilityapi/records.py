"""API objects → warehouse records: typed timestamps and numbers, base blocks lifted to columns.

Payloads in the wild carry strings where numbers were meant, the string "null" where JSON null
was meant, and blocks nobody documented. Shaping coerces what it can, keeps unknown keys, and
counts what it had to drop so the run report can say so.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

from .settings import NOT_ACTIVATED_MESSAGE, NULL_STRINGS

METER_BASE_FIELDS = (
    "service_identifier",
    "service_tariff",
    "service_class",
    "service_address",
    "meter_numbers",
    "billing_contact",
    "billing_address",
    "billing_account",
)
BILL_BASE_FIELDS = (*METER_BASE_FIELDS, "bill_total_unit")
BILL_NUMBERS = ("bill_total_cost", "bill_total_volume", "bill_total_kwh")
LINE_ITEM_NUMBERS = ("cost", "volume", "rate")


def _hints(data_type: str, *names: str) -> dict[str, Any]:
    """Column hints of one type; each column gets its own dict because dlt fills them in."""
    return {name: {"data_type": data_type} for name in names}


# Columns often null in every row of a page get a declared type so they always exist.
AUTHORIZATION_HINTS: dict[str, Any] = {
    **_hints("json", "notes", "scope", "exports", "exports_list", "referrals"),
    **_hints("json", "customer_signature"),
    **_hints("timestamp", "created_at", "declined_at", "revoked_at", "status_at", "expires_at"),
    **_hints("text", "nickname", "expires"),
}
METER_HINTS: dict[str, Any] = {
    **_hints("json", "notes", "exports", "exports_list", "blocks", "meter_numbers"),
    **_hints("json", "bill_coverage", "interval_coverage", "bill_sources", "interval_sources"),
    **_hints("json", "other_blocks"),
    **_hints("timestamp", "created_at", "status_at", "monitoring_next_refresh_at"),
    **_hints("timestamp", "bill_coverage_start_at", "bill_coverage_end_at"),
    **_hints("timestamp", "interval_coverage_start_at", "interval_coverage_end_at"),
    **_hints("timestamp", "monitoring_next_prepay_at"),
    **_hints("text", "monitoring_frequency", "monitoring_prepay", "utility", "status"),
    **_hints("text", "status_message", "authorization_uid"),
    **_hints("bigint", "monitoring_fixed_refresh_day", "bill_count", "interval_count"),
    **_hints("bool", "is_activated", "is_archived", "is_expanded", "is_not_activated"),
}
BILL_HINTS: dict[str, Any] = {
    **_hints("json", "notes", "blocks", "meter_numbers", "other_blocks"),
    **_hints("timestamp", "created_at", "updated_at", "bill_start_at", "bill_end_at"),
    **_hints("timestamp", "bill_statement_at"),
    **_hints("double", *BILL_NUMBERS),
    **_hints("date", "bill_start_local", "bill_end_local"),
    **_hints("text", "bill_total_unit", "note_types"),
    **_hints("bool", "has_strange_note"),
}
INTERVAL_OBJECT_HINTS: dict[str, Any] = {
    **_hints("text", "uid", "meter_uid", "authorization_uid", "note_types"),
    **_hints("json", "notes", "qualities", "source_types"),
    **_hints("timestamp", "created_at", "updated_at", "first_start_at", "last_end_at"),
    **_hints("bigint", "reading_count"),
    **_hints("bool", "has_strange_note"),
}
ACCESS_HINTS: dict[str, Any] = {
    **_hints("text", "meter_uid", "authorization_uid", "access", "source", "event_uid"),
    **_hints("timestamp", "checked_at"),
}
EVENT_HINTS: dict[str, Any] = {
    **_hints("timestamp", "event_at"),
    **_hints("text", "authorization_uid", "meter_uid", "form_uid", "delivery_target"),
}
# API timestamps and the raw columns that hold them (`_at`: UTC instants).
RENAMED_TIMES = {
    "created": "created_at",
    "updated": "updated_at",
    "declined": "declined_at",
    "revoked": "revoked_at",
    "status_ts": "status_at",
    "ts": "event_at",
}


class ShapeProblems:
    """Counts of values the shaping had to drop, with a few examples."""

    MAX_EXAMPLES = 5

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.examples: list[str] = []

    def add(self, kind: str, where: str) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + 1
        if len(self.examples) < self.MAX_EXAMPLES:
            self.examples.append(f"{kind} in {where}")


def null_if_placeholder(value: Any) -> Any:
    """'null', 'nil' and '' stand for JSON null in some payloads."""
    if isinstance(value, str) and value.strip().lower() in NULL_STRINGS:
        return None
    return value


def to_instant(value: Any) -> datetime | None:
    """ISO 8601 → aware UTC datetime; naive values are read as UTC (the API's system zone)."""
    parsed = _parse_datetime(value)
    if parsed is None:
        return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def local_parts(value: Any) -> tuple[datetime | None, date | None, int | None]:
    """A utility-local timestamp → (UTC instant, local date, UTC offset in minutes)."""
    parsed = _parse_datetime(value)
    if parsed is None or parsed.tzinfo is None:
        return None, None, None
    offset = parsed.utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset is not None else 0
    return parsed.astimezone(UTC), parsed.date(), minutes


def to_number(value: Any, problems: ShapeProblems, where: str) -> float | None:
    value = null_if_placeholder(value)
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(str(value).replace(",", ""))
    except ValueError:
        problems.add(f"non-numeric value {value!r}", where)
        return None


def shape_authorization(obj: Mapping[str, Any]) -> dict[str, Any]:
    record = _times({k: null_if_placeholder(v) for k, v in obj.items() if k != "meters"})
    record["expires_at"] = to_instant(record.get("expires"))
    return record


def meter_problems(meter: Mapping[str, Any]) -> list[str]:
    """Why a meter from the listing cannot be trusted to plan or load (empty: it can).

    Planning reads counts, coverage and activation; a value of the wrong type there would make
    a meter look unchanged or empty, so such a meter is set aside and reported instead.
    """
    problems: list[str] = []
    uid = meter.get("uid")
    if not isinstance(uid, str | int) or isinstance(uid, bool) or str(uid).strip() == "":
        problems.append(f"uid is {uid!r}, expected a string")
    for name in ("bill_count", "interval_count"):
        value = null_if_placeholder(meter.get(name))
        if value is not None and as_count(value) is None:
            problems.append(f"{name} is {value!r}, expected a whole number")
    for name in ("is_activated", "is_archived", "is_expanded"):
        value = meter.get(name)
        if value is not None and not isinstance(value, bool):
            problems.append(f"{name} is {value!r}, expected true or false")
    for name in ("bill_coverage", "interval_coverage"):
        value = null_if_placeholder(meter.get(name))
        if value is not None and not _is_coverage(value):
            problems.append(f"{name} is {value!r}, expected a list of [start, end] pairs")
    authorization_uid = meter.get("authorization_uid")
    if isinstance(authorization_uid, Mapping | list):
        problems.append(f"authorization_uid is {authorization_uid!r}, expected a string")
    return problems


def as_count(value: Any) -> int | None:
    """A count as the API sends it (an integer, or digits in a string), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, float) and value.is_integer() and value >= 0:
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _is_coverage(value: Any) -> bool:
    return isinstance(value, list) and all(
        isinstance(pair, list | tuple)
        and len(pair) == 2
        and all(p is None or _parse_datetime(p) is not None for p in pair)
        for pair in value
    )


def is_not_activated(meter: Mapping[str, Any]) -> bool:
    """Meters nobody has collected yet: they have no bills or intervals to fetch."""
    if meter.get("is_activated") is False:
        return True
    return (
        meter.get("status_message") == NOT_ACTIVATED_MESSAGE
        and not meter.get("bill_count")
        and not meter.get("interval_count")
    )


def shape_meter(obj: Mapping[str, Any]) -> dict[str, Any]:
    record: dict[str, Any] = {}
    other_blocks: dict[str, Any] = {}
    blocks = obj.get("blocks") if isinstance(obj.get("blocks"), list) else []
    for key, value in obj.items():
        if key == "base" and isinstance(value, Mapping):
            for name, field_value in value.items():
                record[name] = null_if_placeholder(field_value)
        elif key in blocks and isinstance(value, Mapping | list):
            other_blocks[key] = value
        elif key == "ongoing_monitoring" and isinstance(value, Mapping):
            record.update(_monitoring(value))
        else:
            record[key] = null_if_placeholder(value)
    record = _times(record)
    for name in ("bill_count", "interval_count"):
        if name in record:
            record[name] = as_count(record[name])
    for kind in ("bill", "interval"):
        start, end = coverage_bounds(obj.get(f"{kind}_coverage"))
        record[f"{kind}_coverage_start_at"] = start
        record[f"{kind}_coverage_end_at"] = end
    record["is_not_activated"] = is_not_activated(obj)
    if other_blocks:
        record["other_blocks"] = other_blocks
    return record


def coverage_bounds(coverage: Any) -> tuple[datetime | None, datetime | None]:
    """Earliest start and latest end of a list of [start, end] coverage pairs."""
    starts: list[datetime] = []
    ends: list[datetime] = []
    if isinstance(coverage, list):
        for pair in coverage:
            if isinstance(pair, list | tuple) and len(pair) == 2:
                start, end = to_instant(pair[0]), to_instant(pair[1])
                if start is not None:
                    starts.append(start)
                if end is not None:
                    ends.append(end)
    return (min(starts) if starts else None, max(ends) if ends else None)


def shape_bill(obj: Mapping[str, Any], problems: ShapeProblems) -> dict[str, Any]:
    where = f"bill {obj.get('uid')}"
    record: dict[str, Any] = {}
    other_blocks: dict[str, Any] = {}
    for key, value in obj.items():
        if key == "base" and isinstance(value, Mapping):
            record.update(_bill_base(value, problems, where))
        elif key == "line_items" and isinstance(value, list):
            record["line_items"] = [_line_item(i, problems, where) for i in value]
        elif key == "tiers" and isinstance(value, list):
            record["tiers"] = [_tier(t, problems, where) for t in value]
        elif key == "sources" and isinstance(value, list):
            record["sources"] = [dict(s) for s in value if isinstance(s, Mapping)]
        elif isinstance(value, Mapping) or (
            isinstance(value, list) and key not in ("notes", "blocks")
        ):
            other_blocks[key] = value
        else:
            record[key] = null_if_placeholder(value)
    record = _times(record)
    record.update(note_flags(obj.get("notes")))
    if other_blocks:
        record["other_blocks"] = other_blocks
    return record


def access_row(
    meter: Mapping[str, Any], authorization: Mapping[str, Any] | None, now: datetime
) -> dict[str, Any]:
    """A meter's access as its authorization's listing shows it now."""
    access = "active"
    if authorization is not None:
        revoked = null_if_placeholder(authorization.get("revoked"))
        if authorization.get("is_revoked") or revoked:
            access = "revoked"
        elif authorization.get("is_expired"):
            access = "expired"
        elif authorization.get("is_declined"):
            access = "declined"
    return {
        "meter_uid": str(meter.get("uid")),
        "authorization_uid": meter.get("authorization_uid"),
        "access": access,
        "source": "listing",
        "event_uid": None,
        "checked_at": now,
    }


def shape_event(obj: Mapping[str, Any]) -> dict[str, Any]:
    return _times({k: null_if_placeholder(v) for k, v in obj.items()})


def shape_interval_object(
    obj: Mapping[str, Any],
    *,
    reading_count: int,
    first_start_at: datetime | None,
    last_end_at: datetime | None,
) -> dict[str, Any]:
    """An Interval object's metadata (its quality notes and qualities), without its readings.

    The count and span are of the readings received in this fetch: a fetch from a cursor gets
    only the part of an object after it.
    """
    notes = obj.get("notes") if isinstance(obj.get("notes"), list) else []
    base = obj.get("base") if isinstance(obj.get("base"), Mapping) else {}
    sources = obj.get("sources") if isinstance(obj.get("sources"), list) else []
    return {
        "uid": str(obj["uid"]),
        "meter_uid": str(obj["meter_uid"]),
        "authorization_uid": _text_or_none(obj.get("authorization_uid")),
        "created_at": to_instant(obj.get("created")),
        "updated_at": to_instant(obj.get("updated")),
        "notes": [dict(n) for n in notes if isinstance(n, Mapping)],
        **note_flags(notes),
        "qualities": list(base.get("qualities") or []),
        "source_types": sorted(
            {str(s.get("type")) for s in sources if isinstance(s, Mapping) and s.get("type")}
        ),
        "reading_count": reading_count,
        "first_start_at": first_start_at,
        "last_end_at": last_end_at,
    }


def note_flags(notes: Any) -> dict[str, Any]:
    """What the notes of a bill or Interval say, for columns analysts can filter on.

    `note_types`: the distinct note types, sorted and comma-joined ('' when none). No note type
    documented by UtilityAPI marks an estimate; `strange` ones (`strange`, `bills_strange`,
    `interval_strange`: the data failed the utility's or UtilityAPI's checks) are flagged.
    """
    types = sorted(
        {
            str(note.get("type")).strip().lower()
            for note in (notes if isinstance(notes, list) else [])
            if isinstance(note, Mapping) and note.get("type")
        }
    )
    return {
        "note_types": ",".join(types),
        "has_strange_note": any("strange" in t for t in types),
    }


def _times(record: dict[str, Any]) -> dict[str, Any]:
    """API timestamps → UTC instants under their `_at` names."""
    for name, column in RENAMED_TIMES.items():
        if name in record:
            record[column] = to_instant(record.pop(name))
    return record


def _text_or_none(value: Any) -> str | None:
    value = null_if_placeholder(value)
    return None if value is None else str(value)


def _bill_base(base: Mapping[str, Any], problems: ShapeProblems, where: str) -> dict[str, Any]:
    record: dict[str, Any] = {}
    for name, value in base.items():
        value = null_if_placeholder(value)
        if name in BILL_NUMBERS:
            record[name] = to_number(value, problems, where)
        elif name in ("bill_start_date", "bill_end_date"):
            prefix = "bill_start" if name == "bill_start_date" else "bill_end"
            instant, local_date, offset = local_parts(value)
            if value is not None and instant is None:
                problems.add(f"unreadable {name} {value!r}", where)
            record[f"{prefix}_at"] = instant
            record[f"{prefix}_local"] = local_date
            if prefix == "bill_start":
                record["bill_utc_offset_minutes"] = offset
        elif name == "bill_statement_date":
            record["bill_statement_at"] = to_instant(value)
        else:
            record[name] = value
    return record


def _line_item(item: Any, problems: ShapeProblems, where: str) -> dict[str, Any]:
    if not isinstance(item, Mapping):
        problems.add("line item is not an object", where)
        return {}
    record = {k: null_if_placeholder(v) for k, v in item.items()}
    for name in LINE_ITEM_NUMBERS:
        if name in record:
            record[name] = to_number(record[name], problems, where)
    for name in ("start", "end"):
        if name in record:
            record[f"{name}_at"] = to_instant(record.pop(name))
    return record


def _tier(item: Any, problems: ShapeProblems, where: str) -> dict[str, Any]:
    if not isinstance(item, Mapping):
        problems.add("tier is not an object", where)
        return {}
    record = {k: null_if_placeholder(v) for k, v in item.items()}
    for name in ("cost", "volume"):
        if name in record:
            record[name] = to_number(record[name], problems, where)
    return record


def _monitoring(value: Mapping[str, Any]) -> dict[str, Any]:
    clean = {k: null_if_placeholder(v) for k, v in value.items()}
    return {
        "monitoring_frequency": clean.get("frequency"),
        "monitoring_prepay": clean.get("prepay"),
        "monitoring_next_refresh_at": to_instant(clean.get("next_refresh")),
        "monitoring_next_prepay_at": to_instant(clean.get("next_prepay")),
        "monitoring_fixed_refresh_day": clean.get("fixed_refresh_day"),
    }


def _parse_datetime(value: Any) -> datetime | None:
    value = null_if_placeholder(value)
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.strip())
    except ValueError:
        return None
