"""Interval objects → one pyarrow row per reading and datapoint (the `interval_readings` table)."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from .page_stream import ListingStream, parse_elements
from .pages import Page
from .records import shape_interval_object

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

# One row per reading and datapoint: the grain of interval_readings.
READINGS_KEY = ("interval_uid", "start_at", "type", "meter_number")

_LEGACY_KWH_UNIT = "kwh"

_DATAPOINT = pa.struct(
    [
        ("type", pa.string()),
        ("unit", pa.string()),
        ("value", pa.float64()),
        ("meter_number", pa.string()),
    ]
)
_READING = pa.struct(
    [
        ("start", pa.string()),
        ("end", pa.string()),
        ("kwh", pa.float64()),
        ("datapoints", pa.list_(_DATAPOINT)),
    ]
)
# Object metadata the warehouse keeps (interval_objects): quality notes and qualities.
_METADATA = [
    ("uid", pa.string()),
    ("meter_uid", pa.string()),
    ("authorization_uid", pa.string()),
    ("created", pa.string()),
    ("updated", pa.string()),
    ("notes", pa.list_(pa.struct([(k, pa.string()) for k in ("type", "msg", "ts")]))),
    ("base", pa.struct([("qualities", pa.list_(pa.string()))])),
    ("sources", pa.list_(pa.struct([("type", pa.string())]))),
]
_INTERVAL = pa.struct([*_METADATA, ("readings", pa.list_(_READING))])
# What a batch of well-formed Interval objects looks like (wrapped as {"intervals": [...]});
# anything else takes the tolerant path.
BATCH_SCHEMA = pa.schema([("intervals", pa.list_(_INTERVAL))])
# Bytes of whole Interval objects parsed at once: big enough that Arrow's per-call cost is
# small, small enough that a batch and its parse buffers stay a few MB.
BATCH_BYTES = 2 * 1024 * 1024


class ReadingProblems:
    """Counts of malformed readings seen while flattening, with a few examples for the report."""

    MAX_EXAMPLES = 5

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.examples: list[str] = []
        self._lock = threading.Lock()

    def add(self, kind: str, where: str, count: int = 1) -> None:
        with self._lock:
            self.counts[kind] = self.counts.get(kind, 0) + count
            if len(self.examples) < self.MAX_EXAMPLES:
                self.examples.append(f"{kind} in {where}")

    def take(self) -> tuple[dict[str, int], list[str]]:
        """The counts and examples so far, leaving none: each step reports what it saw."""
        with self._lock:
            taken = (self.counts, self.examples)
            self.counts, self.examples = {}, []
            return taken

    def __bool__(self) -> bool:
        return bool(self.counts)


@dataclass(frozen=True)
class IntervalsPage:
    """One intervals page: its readings (READINGS_SCHEMA) and its objects' metadata rows."""

    readings: pa.Table
    objects: list[dict[str, Any]]


def decode_intervals_page(content: bytes, problems: ReadingProblems) -> Page[IntervalsPage]:
    """A whole intervals page's bytes → its readings table, object rows and `next` link.

    The connector streams pages (`intervals.py` feeds `ListingStream` as bytes arrive); this
    decodes one held in memory the same way, batch by batch.
    """
    batches: list[IntervalsPage] = []
    stream = ListingStream(
        "intervals", lambda text, _: batches.append(decode_batch(text, problems)), BATCH_BYTES
    )
    stream.feed(content)
    end = stream.close()
    readings = pa.concat_tables([b.readings for b in batches]) if batches else None
    return Page(
        IntervalsPage(
            unique_readings(readings) if readings else READINGS_SCHEMA.empty_table(),
            [row for b in batches for row in b.objects],
        ),
        end.next,
        end.incomplete,
    )


def decode_batch(text: bytes, problems: ReadingProblems) -> IntervalsPage:
    """Whole Interval objects' bytes (comma separated) → their readings and object rows.

    Well-formed objects are parsed by Arrow's JSON reader straight into columns (it releases the
    GIL, so batches of several meters parse in parallel); anything unusual (numbers sent as
    strings, legacy kwh-only readings, missing fields) goes through the tolerant dict path.
    """
    try:
        readings, objects = _arrow_batch(text, problems)
    except (pa.ArrowInvalid, _Unusual):
        objects = [o for o in parse_elements(text) if isinstance(o, Mapping)]
        readings = readings_table(objects, problems)
    # In the fetching thread, so batches dedupe in parallel (Arrow releases the GIL).
    layout = _Layout.of(readings)
    rows = _object_rows(objects, readings, layout)
    return IntervalsPage(readings if layout else _first_of_each_key(readings), rows)


class _Unusual(Exception):
    """The batch parsed, but needs the tolerant path to be read right."""


def _arrow_batch(
    text: bytes, problems: ReadingProblems
) -> tuple[pa.Table, list[Mapping[str, Any]]]:
    """The readings of well-formed Interval objects, and the objects' metadata."""
    wrapped = b'{"intervals":[' + text + b"]}"
    parsed = pj.read_json(
        pa.BufferReader(wrapped),
        read_options=pj.ReadOptions(block_size=len(wrapped) + 1, use_threads=False),
        parse_options=pj.ParseOptions(
            explicit_schema=BATCH_SCHEMA,
            unexpected_field_behavior="ignore",
            newlines_in_values=True,
        ),
    )
    if parsed.num_rows != 1:
        raise _Unusual()
    intervals = pc.list_flatten(parsed["intervals"].combine_chunks())
    if intervals.field("uid").null_count or intervals.field("meter_uid").null_count:
        raise _Unusual()
    reading_lists = intervals.field("readings")
    readings = pc.list_flatten(reading_lists)
    datapoint_lists = readings.field("datapoints")
    lengths = pc.fill_null(pc.list_value_length(datapoint_lists), 0)
    if pc.any(pc.and_(pc.equal(lengths, 0), pc.is_valid(readings.field("kwh")))).as_py():
        raise _Unusual()
    datapoints = pc.list_flatten(datapoint_lists)
    table = _assemble(
        problems,
        objects=[
            intervals.field(n)
            for n in ("meter_uid", "authorization_uid", "uid", "updated", "created")
        ],
        starts=readings.field("start"),
        ends=readings.field("end"),
        reading_obj=pc.list_parent_indices(reading_lists),
        dp_reading=pc.list_parent_indices(datapoint_lists),
        datapoints=[datapoints.field(n) for n in ("type", "unit", "value", "meter_number")],
    )
    metadata = pa.StructArray.from_arrays(
        [intervals.field(name) for name, _ in _METADATA], [name for name, _ in _METADATA]
    )
    return table, metadata.to_pylist()


def _object_rows(
    objects: list[Mapping[str, Any]], readings: pa.Table, layout: _Layout | None
) -> list[dict[str, Any]]:
    """interval_objects rows, with the span and count of the readings received of each."""
    spans = _spans(readings, layout)
    rows = []
    for obj in objects:
        if obj.get("uid") is None or obj.get("meter_uid") is None:
            continue
        span = spans.get(str(obj["uid"]), {})
        rows.append(
            shape_interval_object(
                obj,
                reading_count=span.get("start_at_count_distinct", 0),
                first_start_at=span.get("start_at_min"),
                last_end_at=span.get("end_at_max"),
            )
        )
    return rows


def readings_table(
    intervals: Iterable[Mapping[str, Any]], problems: ReadingProblems | None = None
) -> pa.Table:
    """Flatten Interval objects (dicts) into READINGS_SCHEMA rows, one per reading and datapoint.

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
        objects=[
            _strings(column) for column in (obj_meter, obj_auth, obj_uid, obj_updated, obj_created)
        ],
        starts=_strings(starts),
        ends=_strings(ends),
        reading_obj=pa.array(reading_obj, type=pa.int64()),
        dp_reading=pa.array(dp_reading, type=pa.int64()),
        datapoints=[_strings(types), _strings(units), _floats(values, problems), _strings(numbers)],
    )


def _assemble(
    problems: ReadingProblems,
    *,
    objects: list[pa.Array],
    starts: pa.Array,
    ends: pa.Array,
    reading_obj: pa.Array,
    dp_reading: pa.Array,
    datapoints: list[pa.Array],
) -> pa.Table:
    """Columns of objects, readings and datapoints (linked by parent indices) → one table."""
    if len(dp_reading) == 0:
        return READINGS_SCHEMA.empty_table()
    obj_meter, obj_auth, obj_uid, obj_updated, obj_created = objects
    types, units, values, numbers = datapoints
    start_at, start_offset, start_ok = parse_timestamps(starts, problems, "reading start")
    end_at, end_offset, end_ok = parse_timestamps(ends, problems, "reading end")
    reading_ok = pc.and_(start_ok, end_ok)
    keep = reading_ok.take(dp_reading)
    dp_obj = reading_obj.take(dp_reading)
    updated_at, _, _ = parse_timestamps(obj_updated, problems, "interval updated", required=False)
    created_at, _, _ = parse_timestamps(obj_created, problems, "interval created", required=False)

    columns = {
        "meter_uid": obj_meter.take(dp_obj),
        "authorization_uid": obj_auth.take(dp_obj),
        "interval_uid": obj_uid.take(dp_obj),
        "start_at": start_at.take(dp_reading),
        "end_at": end_at.take(dp_reading),
        "utc_offset_minutes": start_offset.take(dp_reading),
        "end_utc_offset_minutes": end_offset.take(dp_reading),
        "type": pc.fill_null(pc.utf8_lower(types), "unknown"),
        "unit": pc.utf8_lower(units),
        "value": values,
        "meter_number": pc.fill_null(numbers, ""),
        "interval_updated_at": updated_at.take(dp_obj),
        "interval_created_at": created_at.take(dp_obj),
    }
    table = pa.table(columns, schema=READINGS_SCHEMA)
    if not pc.all(keep).as_py():
        table = table.filter(pc.fill_null(keep, False))
    return table


def parse_timestamps(
    strings: pa.Array, problems: ReadingProblems, what: str, required: bool = True
) -> tuple[pa.Array, pa.Array, pa.Array]:
    """ISO 8601 strings with offsets → (UTC instants, offsets in minutes, valid mask)."""
    try:
        utc = strings.cast(UTC_TS)
        local = pc.utf8_slice_codeunits(strings, 0, 19).cast(pa.timestamp("us"))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return _parse_timestamps_slowly(strings.to_pylist(), problems, what, required)
    offset = _offset_minutes(local, utc)
    if required and utc.null_count:
        problems.add(f"missing {what}", "interval readings", utc.null_count)
    return utc, offset, pc.is_valid(utc)


def _offset_minutes(local: pa.Array, utc: pa.Array) -> pa.Array:
    diff = pc.subtract(local.cast(pa.int64()), utc.cast(pa.int64()))
    return pc.divide(diff, 60_000_000).cast(pa.int16())


def _parse_timestamps_slowly(
    strings: list[Any], problems: ReadingProblems, what: str, required: bool
) -> tuple[pa.Array, pa.Array, pa.Array]:
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


def unique_readings(table: pa.Table) -> pa.Table:
    """One row per reading key: a payload repeating a datapoint must not duplicate rows."""
    if _Layout.of(table) is not None:
        return table
    return _first_of_each_key(table)


def _first_of_each_key(table: pa.Table) -> pa.Table:
    """unique_readings by group-by, for a table whose layout does not rule out repeats."""
    keys = list(READINGS_KEY)
    if table.group_by(keys, use_threads=False).aggregate([]).num_rows == table.num_rows:
        return table
    numbered = table.append_column("_row", pa.array(range(table.num_rows), type=pa.int64()))
    first = numbered.group_by(keys, use_threads=False).aggregate([("_row", "min")])["_row_min"]
    # the first row of each key, in table order (sort_indices alone gives positions in `first`)
    return table.take(first.take(pc.sort_indices(first)))


def _spans(readings: pa.Table, layout: _Layout | None) -> dict[str, dict[str, Any]]:
    """Per Interval object of a readings table: its first start, last end and distinct starts.

    With the table's `_Layout`, from where each object's rows begin (each of its readings has
    a start of its own); without, by a group-by.
    """
    if not readings.num_rows:
        return {}
    if layout is None:
        grouped = readings.group_by("interval_uid", use_threads=False).aggregate(
            [("start_at", "min"), ("end_at", "max"), ("start_at", "count_distinct")]
        )
        return {row["interval_uid"]: row for row in grouped.to_pylist()}
    first_rows = layout.object_rows
    starts = _micros(readings["start_at"])
    ends = _micros(readings["end_at"])
    uids = readings["interval_uid"].take(first_rows).to_pylist()
    first_starts = _instants(np.minimum.reduceat(starts, first_rows)).to_pylist()
    last_ends = _instants(np.maximum.reduceat(ends, first_rows)).to_pylist()
    counts = (np.diff(first_rows, append=readings.num_rows) // layout.datapoints).tolist()
    return {
        uid: {"start_at_min": start, "end_at_max": end, "start_at_count_distinct": count}
        for uid, start, end, count in zip(uids, first_starts, last_ends, counts, strict=True)
    }


def _micros(column: pa.ChunkedArray) -> np.ndarray:
    return column.cast(pa.int64()).to_numpy()


def _instants(micros: np.ndarray) -> pa.Array:
    return pa.array(micros, type=pa.int64()).cast(UTC_TS)


@dataclass(frozen=True)
class _Layout:
    """Where the objects of a readings table begin, when its rows come as the API sends them.

    That is: each object's rows together, each reading's datapoints together, every reading
    with the same datapoints (distinct types and meter numbers) in the same order, and within
    an object the readings' starts all rising or all falling. Such a table cannot repeat a key
    (`READINGS_KEY`), which a few comparisons of neighbouring rows prove; anything else (a
    payload repeating a datapoint or an object, readings out of order) is left to a group-by.
    """

    object_rows: np.ndarray  # the first row of each object
    datapoints: int  # rows per reading

    @classmethod
    def of(cls, table: pa.Table) -> _Layout | None:
        n = table.num_rows
        uid, start = table["interval_uid"], table["start_at"]
        if n == 0 or uid.null_count or start.null_count or table["end_at"].null_count:
            return None
        new_object = _differs(uid)
        new_reading = pc.or_(new_object, _differs(start))
        reading_rows = _positions(new_reading)
        k = int(reading_rows[1]) if len(reading_rows) > 1 else n
        if n % k or not np.array_equal(reading_rows, np.arange(0, n, k)):
            return None
        # every reading has the datapoints of the reading before it, in the same order
        for column in ("type", "meter_number"):
            values = table[column]
            if k < n and not _all_true(pc.equal(values.slice(k), values.slice(0, n - k))):
                return None
        pattern = table.slice(0, k).select(["type", "meter_number"]).to_pylist()
        if len({(p["type"], p["meter_number"]) for p in pattern}) < k:
            return None
        object_rows = _positions(new_object)
        if pc.count_distinct(uid.take(object_rows)).as_py() != len(object_rows):
            return None  # an object's rows are in two places
        steps = np.diff(_micros(start.take(reading_rows)))
        same_object = np.ones(len(steps), dtype=bool)
        same_object[object_rows[1:] // k - 1] = False
        steps = steps[same_object]
        if not ((steps > 0).all() or (steps < 0).all()):
            return None
        return cls(object_rows, k)


def _differs(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """Per row: whether it differs from the row before (the first row always does)."""
    n = len(column)
    later = pc.not_equal(column.slice(1), column.slice(0, n - 1))
    return pa.chunked_array([pa.array([True]), *later.chunks], type=pa.bool_())


def _positions(mask: pa.ChunkedArray) -> np.ndarray:
    return pc.indices_nonzero(pc.fill_null(mask, True)).to_numpy().astype(np.int64)


def _all_true(mask: pa.ChunkedArray) -> bool:
    return bool(pc.all(pc.fill_null(mask, False)).as_py())
