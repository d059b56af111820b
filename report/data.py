"""What the report shows, read from the warehouse into plain records.

Each section's data is either its records or `Unavailable`, naming the tables or columns this
database lacks, so a report on an older or newer build still renders and says what it cannot
show.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

from . import queries
from .catalog import Catalog
from .warehouse import Warehouse

# Columns each section needs; optional columns (time zones, flags, notes) are read through
# queries.optional() and only shrink what a section shows.
DAILY_COLUMNS = (
    "meter_uid",
    "channel",
    "local_date",
    "quantity",
    "unit",
    "slots_expected",
    "slots_present",
    "slots_spread",
    "coverage",
    "is_complete",
)
SLOT_COLUMNS = (
    "meter_uid",
    "channel",
    "interval_start_at",
    "interval_start_local",
    "local_date",
    "quantity",
    "unit",
    "is_gap",
)
BILL_COLUMNS = (
    "bill_uid",
    "meter_uid",
    "bill_start_at",
    "bill_end_at",
    "billed_cost",
    "billed_quantity",
    "billed_unit",
    "interval_quantity",
    "interval_unit",
    "quantity_difference_ratio",
    "interval_coverage",
)
OBJECT_COLUMNS = ("uid", "meter_uid", "first_start_at", "last_end_at")
TIME_ZONE_COLUMNS = ("meter_uid", "time_zone", "time_zone_status", "offset_mismatches")
PEAK_COLUMNS = (
    "meter_uid",
    "month_start_local",
    "peak_kw",
    "peak_method",
    "peak_interval_start_at",
)
# The channel whose series stands for a meter's usage, in order of preference.
PRIMARY_CHANNELS = ("net", "fwd", "gen", "rev")


@dataclass(frozen=True)
class Unavailable:
    """A section's data is not in this database."""

    missing: tuple[str, ...]

    def __str__(self) -> str:
        return f"not available in this database (no {', '.join(self.missing)})"


@dataclass(frozen=True)
class ChannelSummary:
    """A meter's daily series on one channel, summed up."""

    channel: str
    first_local_date: date | None
    last_local_date: date | None
    days: int
    incomplete_days: int
    slots_expected: int
    slots_present: int
    slots_spread: int
    slots_flagged: int | None
    time_zone: str | None
    unit: str | None
    units: int

    @property
    def coverage(self) -> float | None:
        return self.slots_present / self.slots_expected if self.slots_expected else None


@dataclass
class Meter:
    """A meter as listed by UtilityAPI, with what the analytics tables hold of it."""

    meter_uid: str
    utility: str | None = None
    authorization_uid: str | None = None
    service_class: str | None = None
    service_tariff: str | None = None
    is_not_activated: bool | None = None
    published_until: datetime | None = None
    channels: dict[str, ChannelSummary] = field(default_factory=dict)

    @property
    def primary(self) -> ChannelSummary | None:
        for name in PRIMARY_CHANNELS:
            if name in self.channels:
                return self.channels[name]
        return next(iter(self.channels.values()), None)

    @property
    def time_zone(self) -> str | None:
        return self.primary.time_zone if self.primary else None


@dataclass(frozen=True)
class Day:
    """One local day of one channel."""

    local_date: date
    quantity: float | None
    unit: str | None
    slots_expected: int
    slots_present: int
    slots_spread: int
    coverage: float
    is_complete: bool
    slots_flagged: int | None
    slots_republished: int | None = None


@dataclass(frozen=True)
class HourCell:
    local_date: date
    local_hour: int
    hourly_rate: float


@dataclass(frozen=True)
class Bill:
    bill_uid: str
    bill_start_at: datetime
    bill_end_at: datetime
    bill_start_local: date | None
    bill_end_local: date | None
    billed_cost: float | None
    billed_quantity: float | None
    billed_unit: str | None
    interval_quantity: float | None
    interval_unit: str | None
    quantity_difference_ratio: float | None
    interval_coverage: float | None
    is_estimated: bool | None
    has_strange_note: bool | None
    note_types: str | None

    @property
    def period(self) -> str:
        if self.bill_start_local and self.bill_end_local:
            return f"{self.bill_start_local} → {self.bill_end_local}"
        return f"{self.bill_start_at:%Y-%m-%d %H:%M} → {self.bill_end_at:%Y-%m-%d %H:%M} UTC"


@dataclass(frozen=True)
class MonthlyPeak:
    """A local month's peak demand; `peak_method` says how it was found (or that it could
    not be: hourly-only or non-kWh data)."""

    month_start_local: date
    peak_kw: float | None
    peak_method: str
    peak_interval_start_at: datetime | None


@dataclass(frozen=True)
class TimeZoneCheck:
    meter_uid: str
    time_zone: str | None
    time_zone_status: str
    offset_mismatches: int | None


@dataclass
class MeterData:
    """Everything the report shows for one meter that has data."""

    meter: Meter
    channel: str
    days: list[Day]
    load_shape: list[HourCell] | Unavailable
    bills: list[Bill] | Unavailable
    peaks: list[MonthlyPeak] | Unavailable
    solar: dict[str, list[Day]]
    flags: Unavailable | None
    republished: Unavailable | None


@dataclass
class Account:
    """The report's whole content."""

    meters: list[Meter]
    meter_data: list[MeterData]
    listing: Unavailable | None
    activation: Unavailable | None
    daily: Unavailable | None
    time_zones: list[TimeZoneCheck] | Unavailable

    @property
    def not_activated(self) -> list[Meter]:
        return [meter for meter in self.meters if meter.is_not_activated]


class UnknownMeters(ValueError):
    """Meters asked for with --meters that the database does not know."""


def read_account(
    warehouse: Warehouse, catalog: Catalog, meter_uids: Sequence[str] | None = None
) -> Account:
    """Read the report's content for the whole account, or only `meter_uids`."""
    listing = _lacking(catalog, (catalog.raw("meters"), ("uid",)))
    daily = _lacking(catalog, (queries.DAILY, DAILY_COLUMNS))
    meters = _meters(warehouse, catalog, listing, daily)
    if meter_uids:
        known = {meter.meter_uid for meter in meters}
        unknown = [uid for uid in meter_uids if uid not in known]
        if unknown:
            raise UnknownMeters(
                f"--meters: no meter {', '.join(unknown)} in this database "
                f"(it has {len(known)} meter(s))"
            )
        meters = [meter for meter in meters if meter.meter_uid in set(meter_uids)]
    with_data = [meter for meter in meters if meter.primary is not None]
    return Account(
        meters=meters,
        meter_data=[_meter_data(warehouse, catalog, meter) for meter in with_data],
        listing=listing,
        activation=listing or _lacking(catalog, (catalog.raw("meters"), ("is_not_activated",))),
        daily=daily,
        time_zones=_time_zones(warehouse, catalog),
    )


def _lacking(catalog: Catalog, *needs: tuple[str, Sequence[str]]) -> Unavailable | None:
    missing = [name for table, columns in needs for name in catalog.missing(table, columns)]
    return Unavailable(tuple(missing)) if missing else None


def _meters(
    warehouse: Warehouse, catalog: Catalog, listing: Unavailable | None, daily: Unavailable | None
) -> list[Meter]:
    """Listed meters, plus any the analytics tables hold that the listing no longer has."""
    meters: dict[str, Meter] = {}
    if listing is None:
        for row in warehouse.query(queries.meters(catalog)).records():
            meters[str(row["meter_uid"])] = Meter(
                meter_uid=str(row["meter_uid"]),
                utility=row["utility"],
                authorization_uid=row["authorization_uid"],
                service_class=row["service_class"],
                service_tariff=row["service_tariff"],
                is_not_activated=row["is_not_activated"],
                published_until=row["interval_coverage_end_at"],
            )
    if daily is None:
        for row in warehouse.query(queries.channel_summaries(catalog)).records():
            uid = str(row.pop("meter_uid"))
            meter = meters.setdefault(uid, Meter(meter_uid=uid))
            meter.channels[row["channel"]] = _channel_summary(row)
    return sorted(meters.values(), key=lambda meter: meter.meter_uid)


def _channel_summary(row: dict[str, Any]) -> ChannelSummary:
    # Postgres sums integers into numerics (Decimal): counts are whole numbers either way.
    counts = ("days", "incomplete_days", "slots_expected", "slots_present", "slots_spread", "units")
    values = {**row, **{name: int(row[name] or 0) for name in counts}}
    if row["slots_flagged"] is not None:
        values["slots_flagged"] = int(row["slots_flagged"])
    return ChannelSummary(**values)


def _meter_data(warehouse: Warehouse, catalog: Catalog, meter: Meter) -> MeterData:
    primary = meter.primary
    assert primary is not None  # only meters with a daily series get here
    by_channel: dict[str, list[Day]] = {}
    for row in warehouse.query(queries.meter_days(catalog, meter.meter_uid)).records():
        by_channel.setdefault(row.pop("channel"), []).append(Day(**row))
    days = by_channel.get(primary.channel, [])
    republished = _lacking(
        catalog, (catalog.raw("interval_objects"), OBJECT_COLUMNS), (queries.SLOTS, SLOT_COLUMNS)
    )
    if republished is None:
        days = _with_republished(warehouse, catalog, meter.meter_uid, primary.channel, days)
    return MeterData(
        meter=meter,
        channel=primary.channel,
        days=days,
        load_shape=_load_shape(warehouse, catalog, meter.meter_uid, primary),
        bills=_bills(warehouse, catalog, meter.meter_uid),
        peaks=_peaks(warehouse, catalog, meter.meter_uid),
        solar={name: by_channel[name] for name in ("rev", "fwd") if name in by_channel}
        if "rev" in by_channel
        else {},
        flags=_lacking(catalog, (queries.DAILY, ("slots_flagged",))),
        republished=republished,
    )


def _with_republished(
    warehouse: Warehouse, catalog: Catalog, meter_uid: str, channel: str, days: list[Day]
) -> list[Day]:
    sql = queries.republished_days(catalog, meter_uid, channel)
    counts = {row[0]: int(row[1]) for row in warehouse.query(sql).rows}
    return [replace(day, slots_republished=counts.get(day.local_date, 0)) for day in days]


def _load_shape(
    warehouse: Warehouse, catalog: Catalog, meter_uid: str, channel: ChannelSummary
) -> list[HourCell] | Unavailable:
    lacking = _lacking(catalog, (queries.SLOTS, SLOT_COLUMNS))
    if lacking is not None:
        return lacking
    if channel.unit is None:
        return []
    sql = queries.load_shape(meter_uid, channel.channel, channel.unit)
    return [
        HourCell(row["local_date"], int(row["local_hour"]), float(row["hourly_rate"]))
        for row in warehouse.query(sql).records()
    ]


def _bills(warehouse: Warehouse, catalog: Catalog, meter_uid: str) -> list[Bill] | Unavailable:
    lacking = _lacking(catalog, (queries.BILLS, BILL_COLUMNS))
    if lacking is not None:
        return lacking
    return [Bill(**row) for row in warehouse.query(queries.bills(catalog, meter_uid)).records()]


def _peaks(
    warehouse: Warehouse, catalog: Catalog, meter_uid: str
) -> list[MonthlyPeak] | Unavailable:
    lacking = _lacking(catalog, (queries.PEAKS, PEAK_COLUMNS))
    if lacking is not None:
        return lacking
    rows = warehouse.query(queries.monthly_peaks(meter_uid)).records()
    return [MonthlyPeak(**row) for row in rows]


def _time_zones(warehouse: Warehouse, catalog: Catalog) -> list[TimeZoneCheck] | Unavailable:
    lacking = _lacking(catalog, (queries.TIME_ZONES, TIME_ZONE_COLUMNS))
    if lacking is not None:
        return lacking
    return [TimeZoneCheck(**row) for row in warehouse.query(queries.time_zones()).records()]
