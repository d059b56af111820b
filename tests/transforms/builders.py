"""API-shaped Interval and Bill objects for transform tests, and a loader that writes them the
way `uapi load` does: dlt, merge on the contract keys, `_dlt_load_id` on every row, the raw
tables of the source's contract (interval_readings, interval_objects, bills, meters)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import dlt

from sources.utilityapi.readings import readings_table

LOS_ANGELES = ZoneInfo("America/Los_Angeles")
NEW_YORK = ZoneInfo("America/New_York")
PUBLISHED = datetime(2024, 12, 1, tzinfo=UTC)

Datapoints = Callable[[int, datetime, int], list[dict[str, Any]]]


def iso(moment: datetime) -> str:
    """The API's timestamp format: six fractional digits and an explicit offset."""
    return moment.isoformat(timespec="microseconds")


def local_starts(zone: ZoneInfo, first_day: date, days: int, minutes: int) -> list[datetime]:
    """Reading starts every `minutes` of UTC time across whole local days, as local datetimes."""
    start = datetime(first_day.year, first_day.month, first_day.day, tzinfo=zone)
    last = start + timedelta(days=days)  # wall-clock arithmetic: local midnight `days` later
    end_utc = last.astimezone(UTC)
    moment = start.astimezone(UTC)
    starts = []
    while moment < end_utc:
        starts.append(moment.astimezone(zone))
        moment += timedelta(minutes=minutes)
    return starts


def reading(start: datetime, minutes: int, datapoints: list[dict[str, Any]]) -> dict[str, Any]:
    """One Reading; `kwh` is the legacy copy of the net kWh datapoint, as the API sends it."""
    end = (start.astimezone(UTC) + timedelta(minutes=minutes)).astimezone(start.tzinfo)
    net = [d["value"] for d in datapoints if d["type"] == "net" and d["unit"] == "kwh"]
    return {
        "start": iso(start),
        "end": iso(end),
        "kwh": net[0] if len(net) == 1 else None,
        "datapoints": datapoints,
    }


def datapoint(kind: str, unit: str, value: float | None, meter_number: str = "MTR-1") -> dict:
    return {"type": kind, "unit": unit, "value": value, "meter_number": meter_number}


def interval(
    meter_uid: str,
    readings: list[dict[str, Any]],
    updated: datetime = PUBLISHED,
    uid: str | None = None,
    notes: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """One Interval object: a chunk of readings, latest first, uid `{meter}-{end}-{start}`."""
    ordered = sorted(readings, key=lambda r: datetime.fromisoformat(r["start"]), reverse=True)
    first = datetime.fromisoformat(ordered[-1]["start"])
    last = datetime.fromisoformat(ordered[0]["end"])
    return {
        "uid": uid or f"{meter_uid}-{int(last.timestamp())}-{int(first.timestamp())}",
        "meter_uid": meter_uid,
        "authorization_uid": f"auth-{meter_uid}",
        "created": iso(updated - timedelta(hours=1)),
        "updated": iso(updated),
        "notes": notes or [],
        "utility": "PG&E",
        "blocks": ["base", "sources", "readings"],
        "base": {"meter_numbers": [], "qualities": ["revenue"]},
        "sources": [{"type": "greenbutton_cmd", "raw_url": None}],
        "readings": ordered,
    }


def chunks(readings: list[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    for i in range(0, len(readings), size):
        yield readings[i : i + size]


def usage_kwh(i: int, minutes: int) -> float:
    """A deterministic, uneven consumption profile, rounded like the API's values."""
    return round((0.05 + ((i * 37) % 41) / 100) * minutes / 15, 3)


def net_kwh(meter_number: str = "MTR-1", demand: bool = False) -> Datapoints:
    def build(i: int, start: datetime, minutes: int) -> list[dict[str, Any]]:
        kwh = usage_kwh(i, minutes)
        points = [datapoint("net", "kwh", kwh, meter_number)]
        if demand:
            # the peak kW of an interval is above its average kW, and far from any kWh value
            points.append(datapoint("max", "kw", round(kwh * 60 / minutes * 1.5 + 100, 3)))
        return points

    return build


def solar() -> Datapoints:
    """fwd (import) and rev (export) in whole Wh, so net = fwd - rev holds exactly in decimal."""

    def build(i: int, start: datetime, minutes: int) -> list[dict[str, Any]]:
        hour = start.hour + start.minute / 60
        fwd_wh = 40 + (i * 13) % 90 if not 8 <= hour < 17 else (i * 7) % 15
        rev_wh = 0 if not 8 <= hour < 17 else 60 + (i * 11) % 120
        return [
            datapoint("net", "kwh", (fwd_wh - rev_wh) / 1000),
            datapoint("fwd", "kwh", fwd_wh / 1000),
            datapoint("rev", "kwh", rev_wh / 1000),
        ]

    return build


def gas_therms() -> Datapoints:
    def build(i: int, start: datetime, minutes: int) -> list[dict[str, Any]]:
        return [datapoint("net", "therms", round(0.02 + ((i * 29) % 17) / 100, 3))]

    return build


def series(
    zone: ZoneInfo,
    first_day: date,
    days: int,
    minutes: int,
    points: Datapoints,
    skip: Callable[[datetime], bool] = lambda start: False,
) -> list[dict[str, Any]]:
    """Readings of one meter over whole local days, leaving out those `skip` says are missing."""
    starts = local_starts(zone, first_day, days, minutes)
    return [reading(s, minutes, points(i, s, minutes)) for i, s in enumerate(starts) if not skip(s)]


def bill(
    meter_uid: str,
    start: datetime,
    end: datetime,
    volume: float | None,
    unit: str = "kwh",
    note_types: str = "",
    uid: str | None = None,
) -> dict[str, Any]:
    """A Bill flattened the way the loader writes `utilityapi.bills` (base block fields)."""
    return {
        "uid": uid or f"bill-{meter_uid}-{start.date().isoformat()}",
        "meter_uid": meter_uid,
        "authorization_uid": f"auth-{meter_uid}",
        "utility": "PG&E",
        "created_at": iso(PUBLISHED),
        "updated_at": iso(PUBLISHED),
        "bill_start_at": iso(start),
        "bill_end_at": iso(end),
        "bill_statement_at": iso(end + timedelta(days=2)),
        "bill_total_cost": None if volume is None else round(volume * 0.31, 2),
        "bill_total_volume": volume,
        "bill_total_unit": unit,
        "bill_total_kwh": volume if unit == "kwh" else None,
        "note_types": note_types,
        "has_strange_note": "strange" in note_types,
        "service_class": "gas" if unit == "therms" else "res-electric",
    }


def meter(uid: str, utility: str) -> dict[str, Any]:
    """A Meter as the loader writes `utilityapi.meters` (the columns the transforms read)."""
    return {"uid": uid, "authorization_uid": f"auth-{uid}", "utility": utility}


def interval_object_row(obj: dict[str, Any]) -> dict[str, Any]:
    """The row `utilityapi.interval_objects` holds for an Interval object."""
    starts = [datetime.fromisoformat(r["start"]) for r in obj["readings"]]
    ends = [datetime.fromisoformat(r["end"]) for r in obj["readings"]]
    types = sorted({note["type"] for note in obj["notes"]})
    return {
        "uid": obj["uid"],
        "meter_uid": obj["meter_uid"],
        "authorization_uid": obj["authorization_uid"],
        "created_at": obj["created"],
        "updated_at": obj["updated"],
        "notes": obj["notes"],
        "note_types": ",".join(types),
        "qualities": obj["base"]["qualities"],
        "reading_count": len(obj["readings"]),
        "first_start_at": iso(min(starts).astimezone(UTC)),
        "last_end_at": iso(max(ends).astimezone(UTC)),
    }


BILL_COLUMNS: dict[str, dict[str, Any]] = {
    "created_at": {"data_type": "timestamp"},
    "updated_at": {"data_type": "timestamp"},
    "bill_start_at": {"data_type": "timestamp"},
    "bill_end_at": {"data_type": "timestamp"},
    "bill_statement_at": {"data_type": "timestamp"},
    "bill_total_cost": {"data_type": "double"},
    "bill_total_volume": {"data_type": "double"},
    "bill_total_unit": {"data_type": "text"},
    "bill_total_kwh": {"data_type": "double"},
    "note_types": {"data_type": "text"},
    "has_strange_note": {"data_type": "bool"},
}

OBJECT_COLUMNS: dict[str, dict[str, Any]] = {
    "created_at": {"data_type": "timestamp"},
    "updated_at": {"data_type": "timestamp"},
    "notes": {"data_type": "json"},
    "note_types": {"data_type": "text"},
    "qualities": {"data_type": "json"},
    "first_start_at": {"data_type": "timestamp"},
    "last_end_at": {"data_type": "timestamp"},
}


class RawLoader:
    """Loads Interval objects, bills and meters into `utilityapi.*` with dlt (DuckDB unless
    another destination is given)."""

    def __init__(
        self,
        db_path: Path | None,
        pipelines_dir: Path,
        destination: Any = None,
        pipeline_name: str = "transform_tests",
    ) -> None:
        self.db_path = db_path
        self.pipeline = dlt.pipeline(
            pipeline_name=pipeline_name,
            destination=destination or dlt.destinations.duckdb(str(db_path)),
            dataset_name="utilityapi",
            pipelines_dir=str(pipelines_dir),
        )

    def load(
        self,
        intervals: Iterable[dict[str, Any]] = (),
        bills: Iterable[dict[str, Any]] = (),
        meters: Iterable[dict[str, Any]] = (),
        with_objects: bool = True,
    ) -> None:
        objects = list(intervals)
        table = readings_table(objects)
        bill_rows, meter_rows = list(bills), list(meters)
        resources = []
        if table.num_rows:
            resources.append(
                dlt.resource(
                    [table],
                    name="interval_readings",
                    write_disposition="merge",
                    primary_key=["interval_uid", "start_at", "type", "meter_number"],
                )
            )
        if objects and with_objects:
            resources.append(
                dlt.resource(
                    [interval_object_row(obj) for obj in objects],
                    name="interval_objects",
                    write_disposition="merge",
                    primary_key="uid",
                    columns=OBJECT_COLUMNS,
                )
            )
        if bill_rows:
            resources.append(
                dlt.resource(
                    bill_rows,
                    name="bills",
                    write_disposition="merge",
                    primary_key="uid",
                    columns=BILL_COLUMNS,
                )
            )
        if meter_rows:
            resources.append(
                dlt.resource(
                    meter_rows, name="meters", write_disposition="merge", primary_key="uid"
                )
            )
        with _dlt_load_id_on_arrow_rows():
            self.pipeline.run(resources)

    def append_copies(self, intervals: Iterable[dict[str, Any]]) -> None:
        """Load these objects' readings once more *without* merging: raw duplicates, as a
        replayed package or an append-only destination leaves them."""
        table = readings_table(list(intervals))
        with _dlt_load_id_on_arrow_rows():
            self.pipeline.run(
                dlt.resource([table], name="interval_readings", write_disposition="append")
            )


@contextmanager
def _dlt_load_id_on_arrow_rows() -> Iterator[None]:
    # dlt adds _dlt_load_id to dict rows only unless told to for arrow tables as well
    key = "NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_LOAD_ID"
    before = os.environ.get(key)
    os.environ[key] = "true"
    try:
        yield
    finally:
        if before is None:
            del os.environ[key]
        else:
            os.environ[key] = before
