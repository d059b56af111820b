"""The meters the transform tests load: each shows one thing raw UtilityAPI data does."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from tests.transforms.builders import (
    LOS_ANGELES,
    NEW_YORK,
    PUBLISHED,
    bill,
    chunks,
    datapoint,
    gas_therms,
    interval,
    meter,
    net_kwh,
    reading,
    series,
    solar,
    usage_kwh,
)

COMMERCIAL = "m-com15"  # 15-minute kWh with kW demand, across spring forward, one gap
RESIDENTIAL = "m-res60"  # hourly kWh across fall back
SOLAR = "m-solar"  # 15-minute net, fwd and rev
GAS = "m-gas"  # hourly therms, New York
MIXED = "m-mixed"  # re-published overlapping chunks, an hourly fill-in, an unfilled gap
MULTI = "m-multi"  # one service, two physical meters, some readings with a service total
NO_DATA = "m-nodata"  # bills but no intervals
DST_GAP = "m-dstgap"  # 15-minute kWh, a gap right after the spring-forward change

UTILITIES = {
    COMMERCIAL: "PG&E",
    RESIDENTIAL: "PG&E",
    SOLAR: "SCE",
    GAS: "EVRSRCMA",
    MIXED: "PG&E",
    MULTI: "SDG&E",
    NO_DATA: "PG&E",
    DST_GAP: "PG&E",
}
STRANGE = [{"type": "interval_strange", "message": "values look odd", "ts": "2024-12-02"}]

SPRING_FORWARD = date(2024, 3, 10)
FALL_BACK = date(2024, 11, 3)


def la(*args: int) -> datetime:
    return datetime(*args, tzinfo=LOS_ANGELES)


def _commercial_missing(start: datetime) -> bool:
    return start.date() == date(2024, 3, 11) and start.hour == 10


def _mixed_missing(start: datetime) -> bool:
    if start.date() == date(2024, 1, 7):
        return start.hour in (19, 20) or (start.hour == 21 and start.minute >= 30)
    return start.date() == date(2024, 1, 8) and start.hour == 3


def commercial(skip: bool = True) -> list[dict[str, Any]]:
    return series(
        LOS_ANGELES,
        date(2024, 3, 8),
        5,
        15,
        net_kwh(demand=True),
        _commercial_missing if skip else lambda s: False,
    )


def mixed(skip: bool = True) -> list[dict[str, Any]]:
    return series(
        LOS_ANGELES, date(2024, 1, 5), 4, 15, net_kwh(), _mixed_missing if skip else lambda s: False
    )


def by_day(readings: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    days: dict[str, list[dict[str, Any]]] = {}
    for r in readings:
        days.setdefault(r["start"][:10], []).append(r)
    return list(days.values())


def mixed_republished() -> dict[str, Any]:
    """A later, corrected publication of Jan 6 12:00 to Jan 7 12:00, under its own uid."""
    starts = [la(2024, 1, 6, 12) + timedelta(minutes=15 * i) for i in range(96)]
    readings = [
        reading(s, 15, [datapoint("net", "kwh", round(usage_kwh(i, 15) + 0.5, 3))])
        for i, s in enumerate(starts)
    ]
    # the utility flagged this publication: its slots carry the note type
    return interval(MIXED, readings, updated=PUBLISHED + timedelta(days=1), notes=STRANGE)


FILL_IN_KWH = (2.0, 2.4, 2.8, 3.2)


def mixed_fill_in() -> dict[str, Any]:
    """Hourly readings 18:00-22:00 on Jan 7, published with allow_mixed over the 15-min data."""
    readings = [
        reading(la(2024, 1, 7, 18 + i), 60, [datapoint("net", "kwh", kwh)])
        for i, kwh in enumerate(FILL_IN_KWH)
    ]
    return interval(MIXED, readings, updated=PUBLISHED + timedelta(days=2))


def multi() -> list[dict[str, Any]]:
    starts = series(LOS_ANGELES, date(2024, 1, 5), 1, 15, net_kwh())
    readings = []
    for i, base in enumerate(starts):
        start = datetime.fromisoformat(base["start"])
        a, b = usage_kwh(i, 15), usage_kwh(i + 5, 15)
        points = [datapoint("net", "kwh", a, "MTR-A"), datapoint("net", "kwh", b, "MTR-B")]
        if i < 8:
            points.append(datapoint("net", "kwh", round(a + b, 3), ""))
        readings.append(reading(start, 15, points))
    return readings


def _dst_gap_missing(start: datetime) -> bool:
    """The hour right after the spring-forward change (03:00-03:45 PDT) never arrived."""
    return start.date() == SPRING_FORWARD and start.hour == 3


def dst_gap() -> list[dict[str, Any]]:
    return series(LOS_ANGELES, SPRING_FORWARD, 1, 15, net_kwh(), _dst_gap_missing)


def initial_meters() -> list[dict[str, Any]]:
    return [meter(uid, utility) for uid, utility in UTILITIES.items()]


def initial_intervals() -> list[dict[str, Any]]:
    objects = []
    objects += [interval(COMMERCIAL, c) for c in chunks(commercial(), 96)]
    res = series(LOS_ANGELES, date(2024, 11, 1), 5, 60, net_kwh())
    objects += [interval(RESIDENTIAL, c) for c in chunks(res, 48)]
    objects += [
        interval(SOLAR, c)
        for c in chunks(series(LOS_ANGELES, date(2024, 6, 1), 3, 15, solar()), 96)
    ]
    objects += [
        interval(GAS, c)
        for c in chunks(series(NEW_YORK, date(2024, 1, 10), 3, 60, gas_therms()), 72)
    ]
    objects += [interval(MIXED, c) for c in by_day(mixed())]
    objects += [mixed_republished(), mixed_fill_in()]
    objects += [interval(MULTI, multi())]
    objects += [interval(DST_GAP, dst_gap())]
    return objects


def true_total(readings: list[dict[str, Any]], start: datetime, end: datetime) -> float:
    """What the utility measured over [start, end): every reading, including unpublished ones."""
    total = 0.0
    for r in readings:
        if start <= datetime.fromisoformat(r["start"]) < end:
            total += sum(d["value"] for d in r["datapoints"] if d["type"] == "net")
    return round(total, 3)


def initial_bills() -> list[dict[str, Any]]:
    ny = NEW_YORK
    res = series(LOS_ANGELES, date(2024, 11, 1), 5, 60, net_kwh())
    gas = series(ny, date(2024, 1, 10), 3, 60, gas_therms())
    return [
        bill(
            COMMERCIAL,
            la(2024, 3, 8),
            la(2024, 3, 12),
            true_total(commercial(skip=False), la(2024, 3, 8), la(2024, 3, 12)),
        ),
        bill(
            RESIDENTIAL,
            la(2024, 11, 1),
            la(2024, 11, 6),
            round(1.03 * true_total(res, la(2024, 11, 1), la(2024, 11, 6)), 3),
            note_types="bill_strange,estimated",
        ),
        bill(
            GAS,
            datetime(2024, 1, 10, tzinfo=ny),
            datetime(2024, 1, 13, tzinfo=ny),
            true_total(gas, datetime(2024, 1, 10, tzinfo=ny), datetime(2024, 1, 13, tzinfo=ny)),
            unit="therms",
        ),
        bill(NO_DATA, la(2024, 1, 1), la(2024, 2, 1), 500.0),
    ]


def second_load_intervals() -> list[dict[str, Any]]:
    """A later load touching three meters: a day after a gap, corrections, a backfill."""
    later = PUBLISHED + timedelta(days=10)
    new_day = series(LOS_ANGELES, date(2024, 3, 16), 1, 15, net_kwh(demand=True))
    correction = [
        reading(
            la(2024, 1, 6) + timedelta(minutes=15 * i),
            15,
            [datapoint("net", "kwh", round(usage_kwh(i, 15) + 0.25, 3))],
        )
        for i in range(24)
    ]
    # the same Interval object as before (same uid), re-fetched with changed values
    jan_8 = [r for r in mixed() if r["start"].startswith("2024-01-08")]
    refetched = interval(
        MIXED,
        [
            {
                **r,
                "kwh": None,
                "datapoints": [{**d, "value": d["value"] * 2} for d in r["datapoints"]],
            }
            for r in jan_8
        ],
        updated=later,
    )
    backfill = series(LOS_ANGELES, date(2024, 5, 29), 1, 15, solar())
    return [
        interval(COMMERCIAL, new_day, updated=later),
        interval(MIXED, correction, updated=later),
        refetched,
        interval(SOLAR, backfill, updated=later),
    ]


def second_load_bills() -> list[dict[str, Any]]:
    return [
        bill(COMMERCIAL, la(2024, 3, 12), la(2024, 3, 17), 150.0),
        bill(
            GAS,
            datetime(2024, 1, 13, tzinfo=NEW_YORK),
            datetime(2024, 2, 13, tzinfo=NEW_YORK),
            80.0,
            unit="therms",
        ),
    ]
