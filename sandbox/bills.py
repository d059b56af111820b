"""Monthly billing cycles and Bill objects.

A meter's cycle k runs from local midnight of boundary(k) to local midnight of boundary(k+1),
where boundary(k) is the meter's anchor day in month k moved 0-2 days later; consecutive bills
share the boundary and every cycle lasts 28-33 days. Month index k = year * 12 + month - 1.
"""

from __future__ import annotations

import calendar
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np

from .catalog import FILES_BASE
from .localtime import utc_iso_us
from .readings import slot_values
from .rng import randint, uniform

if TYPE_CHECKING:
    from .world import Meter

ESTIMATED_SHARE = 0.06
BILL_UID_MONTH0 = 2000 * 12  # bill uids count months from January 2000


def _month_days(k: int) -> int:
    year, month0 = divmod(k, 12)
    return calendar.monthrange(year, month0 + 1)[1]


def _raw_shift(meter: Meter, k: int) -> int:
    return randint(0, 2, meter.stream, "cycle", k)


def _shift(meter: Meter, k: int) -> int:
    shift = _raw_shift(meter, k)
    prev_days = _month_days(k - 1)
    if prev_days < 30:
        # After February keep the cycle at least 28 days long.
        shift = max(shift, _raw_shift(meter, k - 1) - (prev_days - 28))
    return shift


def boundary(meter: Meter, k: int) -> date:
    year, month0 = divmod(k, 12)
    return date(year, month0 + 1, meter.bill_anchor_day) + timedelta(days=_shift(meter, k))


def cycle(meter: Meter, k: int) -> tuple[int, int]:
    """(start, end) epoch seconds of cycle k."""
    found = meter.cycle_cache.get(k)
    if found is None:
        found = (
            meter.zone.midnight(boundary(meter, k)),
            meter.zone.midnight(boundary(meter, k + 1)),
        )
        meter.cycle_cache[k] = found
    return found


def statement_date(meter: Meter, k: int) -> date:
    return boundary(meter, k + 1) + timedelta(days=randint(2, 5, meter.stream, "statement", k))


def available_at(meter: Meter, k: int) -> int:
    """Epoch seconds when the utility has issued bill k (9:00 local on the statement date)."""
    return meter.zone.midnight(statement_date(meter, k)) + 9 * 3600


def cycle_containing(meter: Meter, epoch: int) -> int:
    day = meter.zone.local_date(epoch)
    k = day.year * 12 + day.month - 1
    while cycle(meter, k)[0] > epoch:
        k -= 1
    while cycle(meter, k)[1] <= epoch:
        k += 1
    return k


def bill_uid(meter: Meter, k: int) -> str:
    return f"{int(meter.uid) * 1000 + (k - BILL_UID_MONTH0)}"


def parse_bill_uid(uid: str) -> tuple[str, int] | None:
    if not uid.isdigit() or len(uid) < 4:
        return None
    number = int(uid)
    return str(number // 1000), number % 1000 + BILL_UID_MONTH0


def is_estimated(meter: Meter, k: int) -> bool:
    return uniform(meter.stream, "estimated", k) < ESTIMATED_SHARE


def true_totals(meter: Meter, k: int) -> tuple[int, int]:
    """(net milli-units over the cycle, peak demand W) from the true readings."""
    start, end = cycle(meter, k)
    duration = meter.kind.duration
    starts = np.arange(start, end, duration, dtype=np.int64)
    values = slot_values(meter.model, starts, duration)
    return int(values.net.sum()), int(values.max_w.max()) if len(starts) else 0


def _money(x: float) -> float:
    return round(x + 0.0, 2)


def build(meter: Meter, k: int, created_us: int) -> dict[str, Any]:
    """The Bill object for cycle k, as the API serves it."""
    start, end = cycle(meter, k)
    zone = meter.zone
    net_milli, peak_w = true_totals(meter, k)
    notes: list[dict[str, Any]] = []
    if is_estimated(meter, k):
        sign = 1 if uniform(meter.stream, "estimate-sign", k) < 0.5 else -1
        pct = 0.02 + 0.03 * uniform(meter.stream, "estimate-pct", k)
        net_milli = int(round(net_milli * (1 + sign * pct)))
        notes.append(
            {
                "type": "estimated",
                "msg": "This bill is based on an estimated meter read.",
                "ts": utc_iso_us(created_us),
            }
        )
    volume = net_milli / 1000.0
    unit = meter.kind.unit
    start_utc = utc_iso_us(start * 1_000_000)
    end_utc = utc_iso_us(end * 1_000_000)
    days = round((end - start) / 86400)
    items, tiers = _charges(meter, k, volume, peak_w / 1000.0, days)
    for item in items:
        item["start"], item["end"] = start_utc, end_utc
    line_items = [
        {key_: item[key_] for key_ in ("cost", "end", "name", "rate", "start", "unit", "volume")}
        for item in items
    ]
    total_cost = _money(sum(item["cost"] for item in items))
    statement = zone.midnight(statement_date(meter, k))
    base = dict(meter.base_block())
    base.update(
        {
            "bill_start_date": zone.iso(start),
            "bill_end_date": zone.iso(end),
            "bill_statement_date": zone.iso(statement),
            "bill_total_kwh": None if meter.kind.is_gas else volume,
            "bill_total_unit": unit,
            "bill_total_volume": volume,
            "bill_total_cost": total_cost,
        }
    )
    return {
        "uid": bill_uid(meter, k),
        "meter_uid": meter.uid,
        "authorization_uid": meter.auth_uid,
        "created": utc_iso_us(created_us),
        "updated": utc_iso_us(created_us),
        "notes": notes,
        "utility": meter.utility.uid,
        "blocks": ["base", "sources", "line_items", "tiers"],
        "base": base,
        "sources": [{"type": "pdf", "raw_url": f"{FILES_BASE}/pdf_bill?uid={bill_uid(meter, k)}"}],
        "line_items": line_items,
        "tiers": tiers,
    }


def _charges(
    meter: Meter, k: int, volume: float, peak_kw: float, days: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    kind = meter.kind
    unit = kind.unit
    if kind.is_gas:
        steps = [("Tier 1 Usage", 25.0, 1.8521), ("Tier 2 Usage", None, 2.3178)]
        fixed = ("Gas Customer Charge", 0.16438)
        tax = ("Gas Public Purpose Program Surcharge", 0.0712)
    elif kind.is_commercial:
        steps = [("Energy Charge", None, 0.14872)]
        fixed = ("Customer Charge", 4.59959)
        tax = ("Energy Commission Tax", 0.0003)
    else:
        steps = [
            ("Tier 1 Usage", 300.0, 0.1617),
            ("Tier 2 Usage", 200.0, 0.18491),
            ("Tier 3 Usage", None, 0.27322),
        ]
        fixed = ("Minimum Delivery Charge", 0.32854)
        tax = ("Energy Commission Tax", 0.0003)
    items: list[dict[str, Any]] = []
    tiers: list[dict[str, Any]] = []
    remaining = volume
    for level, (name, size, rate) in enumerate(steps, start=1):
        # Net-metered (negative) usage is credited entirely at the first tier.
        if remaining <= 0 and level > 1:
            break
        amount = remaining if size is None or remaining <= size else size
        amount = round(amount, 3)
        cost = _money(amount * rate)
        items.append({"name": name, "cost": cost, "volume": amount, "rate": rate, "unit": unit})
        tiers.append({"name": name, "level": level, "cost": cost, "volume": amount, "unit": unit})
        remaining = round(remaining - amount, 3)
    if kind.is_commercial:
        rate = 18.74
        items.append(
            {
                "name": "Demand Charge",
                "cost": _money(peak_kw * rate),
                "volume": round(peak_kw, 3),
                "rate": rate,
                "unit": "kw",
            }
        )
    items.append(
        {
            "name": fixed[0],
            "cost": _money(days * fixed[1]),
            "volume": float(days),
            "rate": fixed[1],
            "unit": "days",
        }
    )
    items.append(
        {
            "name": tax[0],
            "cost": _money(max(volume, 0.0) * tax[1]),
            "volume": None,
            "rate": None,
            "unit": None,
        }
    )
    return items, tiers
