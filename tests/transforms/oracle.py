"""The resolution rules of the README, written once more in plain Python over the API objects,
so tests compare the SQL with an independent reading of the same rules."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

SLOT = timedelta(minutes=15)
ENERGY_TYPES = ("net", "fwd", "rev", "gen")


@dataclass(frozen=True)
class Slot:
    quantity: float
    unit: str
    local_date: date
    duration_minutes: int
    interval_uid: str


def resolved_slots(intervals: list[dict[str, Any]]) -> dict[tuple[str, str, datetime], Slot]:
    """(meter, channel, slot start UTC) -> the winning reading's share of that slot."""
    candidates: dict[tuple[str, str, datetime], list[tuple[tuple, Slot]]] = defaultdict(list)
    readings = _latest_copy_of_each_reading(intervals)
    for (uid, _start, kind), (obj, r, points) in readings.items():
        start = datetime.fromisoformat(r["start"])
        end = datetime.fromisoformat(r["end"])
        minutes = int((end - start).total_seconds() // 60)
        blank = [p["value"] for p in points if p.get("meter_number", "") == ""]
        values = blank or [p["value"] for p in points]
        quantity = sum(values)
        n = minutes // 15
        for k in range(n):
            slot = start.astimezone(UTC) + k * SLOT
            local = (slot + start.utcoffset()).replace(tzinfo=None)
            rank = (minutes, -datetime.fromisoformat(obj["updated"]).timestamp(), _desc(uid))
            key = (obj["meter_uid"], kind, slot)
            candidates[key].append(
                (rank, Slot(quantity / n, points[0]["unit"], local.date(), minutes, uid))
            )
    return {key: min(options, key=lambda o: o[0])[1] for key, options in candidates.items()}


def daily_totals(intervals: list[dict[str, Any]]) -> dict[tuple[str, str, date], float]:
    totals: dict[tuple[str, str, date], float] = defaultdict(float)
    for (meter, channel, _slot), s in resolved_slots(intervals).items():
        totals[(meter, channel, s.local_date)] += s.quantity
    return dict(totals)


def _latest_copy_of_each_reading(intervals: list[dict[str, Any]]) -> dict:
    """Like the loader's merge: a re-fetched object (same uid) replaces its earlier copy."""
    readings: dict[tuple[str, str, str], tuple] = {}
    objects = {obj["uid"]: obj for obj in intervals}
    for obj in objects.values():
        for r in obj["readings"]:
            by_kind: dict[str, list] = defaultdict(list)
            for p in r["datapoints"]:
                if p["type"] in ENERGY_TYPES and p["unit"] != "kw" and p["value"] is not None:
                    by_kind[p["type"]].append(p)
            for kind, points in by_kind.items():
                readings[(obj["uid"], r["start"], kind)] = (obj, r, points)
    return readings


def _desc(text: str) -> tuple[int, ...]:
    return tuple(-ord(c) for c in text) + (0,)
