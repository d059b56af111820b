"""Every SQL statement the report runs, in one place.

Written for DuckDB and Postgres alike (standard SQL: `filter` clauses, `extract`, `cast`), and
against the tables as they are: a column that may be missing from an older or newer build of
the analytics tables is selected through `optional()`, which gives a typed null instead, so the
statement still runs and the section says the data is not available.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from .warehouse import literal, literals

if TYPE_CHECKING:
    from .catalog import Catalog

ANALYTICS = "analytics"
DAILY = f"{ANALYTICS}.meter_daily_usage"
SLOTS = f"{ANALYTICS}.meter_intervals_15min"
BILLS = f"{ANALYTICS}.bill_reconciliation"
TIME_ZONES = f"{ANALYTICS}.meter_time_zones"
PEAKS = f"{ANALYTICS}.meter_monthly_peaks"


def optional(catalog: Catalog, table: str, column: str, sql_type: str, expression: str = "") -> str:
    """`expression` (default: the column) as `column`, or a null of `sql_type` when the
    column is missing."""
    if catalog.has(table, column):
        return f"{expression or column} as {column}"
    return f"cast(null as {sql_type}) as {column}"


def catalog(schemas: Iterable[str]) -> str:
    return f"""
select table_schema, table_name, column_name
from information_schema.columns
where lower(table_schema) in ({literals([s.lower() for s in schemas])})
"""


def meters(catalog: Catalog) -> str:
    """One row per meter listed by UtilityAPI (the raw `meters` table)."""
    table = catalog.raw("meters")

    def column(name: str, sql_type: str = "varchar") -> str:
        return optional(catalog, table, name, sql_type)

    return f"""
select
    uid as meter_uid,
    {column("utility")},
    {column("authorization_uid")},
    {column("service_class")},
    {column("service_tariff")},
    {column("is_not_activated", "boolean")},
    {column("interval_coverage_end_at", "timestamp")}
from {table}
order by uid
"""


def channel_summaries(catalog: Catalog) -> str:
    """One row per meter and channel: the span, coverage and unit of its daily series."""
    return f"""
with

days as (
    select * from {DAILY}
),

final as (
    select
        meter_uid,
        channel,
        min(local_date) filter (where slots_present > 0) as first_local_date,
        max(local_date) filter (where slots_present > 0) as last_local_date,
        count(*) as days,
        count(*) filter (where not is_complete) as incomplete_days,
        sum(slots_expected) as slots_expected,
        sum(slots_present) as slots_present,
        sum(slots_spread) as slots_spread,
        {optional(catalog, DAILY, "slots_flagged", "bigint", "sum(slots_flagged)")},
        {optional(catalog, DAILY, "time_zone", "varchar", "max(time_zone)")},
        min(unit) as unit,
        count(distinct unit) as units
    from days
    group by meter_uid, channel
)

select * from final
order by meter_uid, channel
"""


def meter_days(catalog: Catalog, meter_uid: str) -> str:
    """One row per channel and local date of one meter."""
    return f"""
select
    channel,
    local_date,
    quantity,
    unit,
    slots_expected,
    slots_present,
    slots_spread,
    coverage,
    is_complete,
    {optional(catalog, DAILY, "slots_flagged", "bigint")}
from {DAILY}
where meter_uid = {literal(meter_uid)}
order by channel, local_date
"""


def republished_days(catalog: Catalog, meter_uid: str, channel: str) -> str:
    """Per local date, the slots more than one Interval object covered: a re-published
    correction or a fill-in over existing data (the transforms kept one of them)."""
    return f"""
with

objects as (
    select uid, first_start_at, last_end_at
    from {catalog.raw("interval_objects")}
    where meter_uid = {literal(meter_uid)}
),

contested as (
    select
        greatest(objects.first_start_at, others.first_start_at) as from_at,
        least(objects.last_end_at, others.last_end_at) as to_at
    from objects
    inner join objects as others
        on objects.uid < others.uid
        and objects.first_start_at < others.last_end_at
        and others.first_start_at < objects.last_end_at
),

slots as (
    select distinct slots.local_date, slots.interval_start_at
    from {SLOTS} as slots
    inner join contested
        on slots.interval_start_at >= contested.from_at
        and slots.interval_start_at < contested.to_at
    where slots.meter_uid = {literal(meter_uid)}
        and slots.channel = {literal(channel)}
        and not slots.is_gap
),

final as (
    select local_date, count(*) as slots_republished
    from slots
    group by local_date
)

select * from final
order by local_date
"""


def load_shape(meter_uid: str, channel: str, unit: str) -> str:
    """Average rate per local date and local hour (quantity per hour: kW for kWh)."""
    return f"""
with

slots as (
    select
        local_date,
        cast(extract(hour from interval_start_local) as integer) as local_hour,
        quantity
    from {SLOTS}
    where meter_uid = {literal(meter_uid)}
        and channel = {literal(channel)}
        and unit = {literal(unit)}
        and not is_gap
),

final as (
    select
        local_date,
        local_hour,
        -- slots are 15 minutes: four times their mean is the hour's rate; on the fall-back
        -- day the repeated hour averages both of its occurrences
        avg(quantity) * 4 as hourly_rate,
        count(*) as slots
    from slots
    group by local_date, local_hour
)

select * from final
order by local_date, local_hour
"""


def bills(catalog: Catalog, meter_uid: str) -> str:
    """One row per bill of one meter against its interval data (net channel)."""
    raw_bills = catalog.raw("bills")
    has_local = catalog.has(raw_bills, "uid", "bill_start_local", "bill_end_local")
    local_join = (
        f"left join {raw_bills} as raw_bills on raw_bills.uid = bills.bill_uid" if has_local else ""
    )
    local_columns = (
        "raw_bills.bill_start_local, raw_bills.bill_end_local"
        if has_local
        else "cast(null as date) as bill_start_local, cast(null as date) as bill_end_local"
    )

    def column(name: str, sql_type: str) -> str:
        return optional(catalog, BILLS, name, sql_type, f"bills.{name}")

    return f"""
select
    bills.bill_uid,
    bills.bill_start_at,
    bills.bill_end_at,
    {local_columns},
    bills.billed_cost,
    bills.billed_quantity,
    bills.billed_unit,
    bills.interval_quantity,
    bills.interval_unit,
    bills.quantity_difference_ratio,
    bills.interval_coverage,
    {column("is_estimated", "boolean")},
    {column("has_strange_note", "boolean")},
    {column("note_types", "varchar")}
from {BILLS} as bills
{local_join}
where bills.meter_uid = {literal(meter_uid)}
order by bills.bill_start_at
"""


def monthly_peaks(meter_uid: str) -> str:
    """Peak demand per local month of one meter, with how it was found."""
    return f"""
select month_start_local, peak_kw, peak_method, peak_interval_start_at
from {PEAKS}
where meter_uid = {literal(meter_uid)}
order by month_start_local
"""


def time_zones() -> str:
    """Each meter's zone and whether the published offsets agree with it."""
    return f"""
select meter_uid, time_zone, time_zone_status, offset_mismatches
from {TIME_ZONES}
order by meter_uid
"""
