"""Interval objects → one pyarrow row per reading and datapoint (the `interval_readings` table)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

UTC_TS = pa.timestamp("us", tz="UTC")

READINGS_SCHEMA = pa.schema(
    [
        pa.field("meter_uid", pa.string(), nullable=False),
        pa.field("authorization_uid", pa.string()),
        pa.field("interval_uid", pa.string(), nullable=False),
        pa.field("start_at", UTC_TS, nullable=False),
        pa.field("end_at", UTC_TS, nullable=False),
        pa.field("utc_offset_minutes", pa.int16(), nullable=False),
        pa.field("end_utc_offset_minutes", pa.int16(), nullable=False),
        pa.field("type", pa.string(), nullable=False),
        pa.field("unit", pa.string()),
        pa.field("value", pa.float64()),
        pa.field("meter_number", pa.string(), nullable=False),
        pa.field("interval_updated_at", UTC_TS),
        pa.field("interval_created_at", UTC_TS),
    ]
)

_LEGACY_KWH_UNIT = "kwh"


class ReadingProblems:
    """Counts of malformed readings seen while flattening, with a few examples for the report."""

    MAX_EXAMPLES = 5

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.examples: list[str] = []

    def add(self, kind: str, where: str) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + 1
        if len(self.examples) < self.MAX_EXAMPLES:
            self.examples.append(f"{kind} in {where}")

    def __bool__(self) -> bool:
        return bool(self.counts)


def readings_table(
    intervals: Iterable[Mapping[str, Any]], problems: ReadingProblems | None = None
) -> pa.Table:
    """Flatten Interval objects into READINGS_SCHEMA rows, one per reading and datapoint.

    Readings without datapoints but with the legacy `kwh` become one `net`/`kwh` row. Numbers sent
    as strings are coerced; anything unusable is counted in `problems` instead of raising.
    """
    problems = problems if problems is not None else ReadingProblems()
    obj_meter: list[Any] = []
    obj_auth: list[Any] = []
    obj_uid: list[Any] = []
    obj_updated: list[Any] = []
    obj_created: list[Any] = []
    starts: list[Any] = []
    ends: list[Any] = []
    reading_obj: list[int] = []
    dp_reading: list[int] = []
    types: list[Any] = []
    units: list[Any] = []
    values: list[Any] = []
    numbers: list[Any] = []

    for interval in intervals:
        readings = interval.get("readings")
        uid = interval.get("uid")
        meter_uid = interval.get("meter_uid")
        if uid is None or meter_uid is None:
            problems.add("interval without uid or meter_uid", repr(uid))
            continue
        if not readings:
            continue
        if not isinstance(readings, list):
            problems.add("readings is not a list", str(uid))
            continue
        oi = len(obj_uid)
        obj_uid.append(str(uid))
        obj_meter.append(str(meter_uid))
        obj_auth.append(interval.get("authorization_uid"))
        obj_updated.append(interval.get("updated"))
        obj_created.append(interval.get("created"))
        for reading in readings:
            if not isinstance(reading, Mapping):
                problems.add("reading is not an object", str(uid))
                continue
            datapoints = reading.get("datapoints")
            if not datapoints:
                kwh = reading.get("kwh")
                if kwh is None:
                    continue
                datapoints = ({"type": "net", "unit": _LEGACY_KWH_UNIT, "value": kwh},)
            elif not isinstance(datapoints, list):
                problems.add("datapoints is not a list", str(uid))
                continue
            ri = len(starts)
            starts.append(reading.get("start"))
            ends.append(reading.get("end"))
            reading_obj.append(oi)
            for dp in datapoints:
                if not isinstance(dp, Mapping):
                    problems.add("datapoint is not an object", str(uid))
                    continue
                dp_reading.append(ri)
                types.append(dp.get("type"))
                units.append(dp.get("unit"))
                values.append(dp.get("value"))
                numbers.append(dp.get("meter_number"))

    return _assemble(
        problems,
        objects=(obj_meter, obj_auth, obj_uid, obj_updated, obj_created),
        readings=(starts, ends, reading_obj),
        datapoints=(dp_reading, types, units, values, numbers),
    )


def _assemble(
    problems: ReadingProblems,
    objects: tuple[list[Any], ...],
    readings: tuple[list[Any], list[Any], list[int]],
    datapoints: tuple[list[int], list[Any], list[Any], list[Any], list[Any]],
) -> pa.Table:
    obj_meter, obj_auth, obj_uid, obj_updated, obj_created = objects
    starts, ends, reading_obj = readings
    dp_reading, types, units, values, numbers = datapoints
    if not dp_reading:
        return READINGS_SCHEMA.empty_table()

    start_at, start_offset, start_ok = parse_timestamps(starts, problems, "reading start")
    end_at, end_offset, end_ok = parse_timestamps(ends, problems, "reading end")
    reading_ok = pc.and_(start_ok, end_ok)

    dp_reading_arr = pa.array(dp_reading, type=pa.int64())
    keep = reading_ok.take(dp_reading_arr)
    dp_obj = pa.array(reading_obj, type=pa.int64()).take(dp_reading_arr)
    updated_at, _, _ = parse_timestamps(obj_updated, problems, "interval updated", required=False)
    created_at, _, _ = parse_timestamps(obj_created, problems, "interval created", required=False)

    columns = {
        "meter_uid": pa.array(obj_meter, type=pa.string()).take(dp_obj),
        "authorization_uid": _strings(obj_auth).take(dp_obj),
        "interval_uid": pa.array(obj_uid, type=pa.string()).take(dp_obj),
        "start_at": start_at.take(dp_reading_arr),
        "end_at": end_at.take(dp_reading_arr),
        "utc_offset_minutes": start_offset.take(dp_reading_arr),
        "end_utc_offset_minutes": end_offset.take(dp_reading_arr),
        "type": pc.fill_null(pc.utf8_lower(_strings(types)), "unknown"),
        "unit": pc.utf8_lower(_strings(units)),
        "value": _floats(values, problems),
        "meter_number": pc.fill_null(_strings(numbers), ""),
        "interval_updated_at": updated_at.take(dp_obj),
        "interval_created_at": created_at.take(dp_obj),
    }
    table = pa.table(columns, schema=READINGS_SCHEMA)
    if keep.null_count or not pc.all(keep).as_py():
        table = table.filter(pc.fill_null(keep, False))
    return table


def parse_timestamps(
    strings: list[Any], problems: ReadingProblems, what: str, required: bool = True
) -> tuple[pa.Array, pa.Array, pa.Array]:
    """ISO 8601 strings with offsets → (UTC instants, offsets in minutes, valid mask)."""
    raw = _strings(strings)
    try:
        utc = raw.cast(UTC_TS)
        local = pc.utf8_slice_codeunits(raw, 0, 19).cast(pa.timestamp("us"))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return _parse_timestamps_slowly(strings, problems, what, required)
    offset = _offset_minutes(local, utc)
    valid = pc.is_valid(utc)
    if required and utc.null_count:
        for _ in range(utc.null_count):
            problems.add(f"missing {what}", "interval readings")
    return utc, offset, valid


def _offset_minutes(local: pa.Array, utc: pa.Array) -> pa.Array:
    diff = pc.subtract(local.cast(pa.int64()), utc.cast(pa.int64()))
    return pc.divide(diff, 60_000_000).cast(pa.int16())


def _parse_timestamps_slowly(
    strings: list[Any], problems: ReadingProblems, what: str, required: bool
) -> tuple[pa.Array, pa.Array, pa.Array]:
    from datetime import datetime

    instants: list[datetime | None] = []
    offsets: list[int | None] = []
    for value in strings:
        parsed = None
        if isinstance(value, str):
            try:
                parsed = datetime.fromisoformat(value)
            except ValueError:
                parsed = None
        if parsed is None or parsed.tzinfo is None:
            if value is not None or required:
                problems.add(f"unreadable {what} {value!r}", "interval readings")
            instants.append(None)
            offsets.append(None)
            continue
        instants.append(parsed)
        delta = parsed.utcoffset()
        offsets.append(int(delta.total_seconds() // 60) if delta is not None else 0)
    utc = pa.array(instants, type=UTC_TS)
    return utc, pa.array(offsets, type=pa.int16()), pc.is_valid(utc)


def _strings(items: list[Any]) -> pa.Array:
    try:
        return pa.array(items, type=pa.string())
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array([None if v is None else str(v) for v in items], type=pa.string())


def _floats(items: list[Any], problems: ReadingProblems) -> pa.Array:
    try:
        return pa.array(items, type=pa.float64())
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array([_float_or_none(v, problems) for v in items], type=pa.float64())


def _float_or_none(value: Any, problems: ReadingProblems) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        problems.add(f"non-numeric datapoint value {value!r}", "interval readings")
        return None
