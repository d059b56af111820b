"""Which Interval objects a meter serves: published chunks, corrected re-publications, fill-ins.

- Primary chunks are the spans the meter published (see world.Meter.chunk_*).
- Gaps: on a few UTC days per meter, 1-4 whole hours of readings are missing from every chunk.
- Re-publications: on a few days a 24-hour span (noon to noon UTC) is published again, 1-3 days
  after it was first fully published, with corrected values and a later `updated`. The first
  publication of those readings carries small errors; consumers resolve by latest `updated`.
- Fill-ins: on 15-minute meters of kinds that have them, each gap is covered by an hourly chunk
  spanning the gap plus an hour either side, two hours after the span is published. They are only
  served with allow_mixed=true.
All three are pure functions of the meter and its published spans, so nothing is stored.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from typing import NamedTuple

import numpy as np

from .rng import key, uniform_array
from .world import Meter

US = 1_000_000
HOUR = 3600
DAY = 86400


class ObjRef(NamedTuple):
    """One Interval object: untrimmed span, meter, kind ('p'rimary, 'r'epublished, 'f'ill-in)."""

    start: int
    end: int
    meter_uid: str
    kind: str
    created_us: int
    duration: int
    updated_us: int  # later than created_us only for objects that grew in place

    @property
    def uid(self) -> str:
        return f"{self.meter_uid}-{self.end}-{self.start}"

    @property
    def sort_key(self) -> tuple[int, int, str]:
        return (self.start, self.end, self.meter_uid)


def parse_interval_uid(uid: str) -> tuple[int, int, str] | None:
    """The sort key (start, end, meter) encoded in an Interval uid, or None if malformed."""
    parts = uid.rsplit("-", 2)
    if len(parts) != 3 or not parts[1].isdigit() or not parts[2].isdigit():
        return None
    return int(parts[2]), int(parts[1]), parts[0]


def _days_with(meter: Meter, what: str, rate: float, start: int, end: int) -> np.ndarray:
    days = np.arange(start // DAY - 2, end // DAY + 2, dtype=np.int64)
    if rate <= 0 or len(days) == 0:
        return days[:0]
    return days[uniform_array(meter.stream ^ key(what), days) < rate]


def gaps(meter: Meter, rate: float, start: int, end: int) -> list[tuple[int, int]]:
    """Missing spans (hour-aligned) overlapping [start, end)."""
    found = []
    for d in _days_with(meter, "gap", rate, start, end).tolist():
        first = 1 + int(uniform_array(meter.stream ^ key("gap-start"), np.array([d]))[0] * 18)
        hours = 1 + int(uniform_array(meter.stream ^ key("gap-len"), np.array([d]))[0] * 4)
        gs = d * DAY + first * HOUR
        ge = gs + hours * HOUR
        if ge > start and gs < end:
            found.append((gs, ge))
    return found


def zones(meter: Meter, rate: float, start: int, end: int) -> list[tuple[int, int]]:
    """Spans that get re-published, overlapping [start, end) and not before the meter's floor."""
    floor = meter.history_floor
    found = []
    for d in _days_with(meter, "republish", rate, start, end).tolist():
        zs, ze = d * DAY + 12 * HOUR, d * DAY + 36 * HOUR
        if ze > start and zs < end and floor is not None and zs >= floor:
            found.append((zs, ze))
    return found


def present_starts(
    meter: Meter, start: int, end: int, duration: int, missing: list[tuple[int, int]]
) -> np.ndarray:
    """Starts of readings of `duration` within [start, end), without those inside `missing`."""
    first = -(-start // duration) * duration
    starts = np.arange(first, end - duration + 1, duration, dtype=np.int64)
    if missing and len(starts):
        keep = np.ones(len(starts), dtype=bool)
        for gs, ge in missing:
            keep &= ~((starts < ge) & (starts + duration > gs))
        starts = starts[keep]
    return starts


def covered_since(meter: Meter, start: int, end: int) -> int | None:
    """When [start, end) became fully published (the latest of its chunks' parts), or None."""
    cs, ce = meter.chunk_start, meter.chunk_end
    i = bisect_right(cs, start) - 1
    if i < 0 or ce[i] <= start:
        return None
    latest = published_at(meter, i, min(end, ce[i]))
    while ce[i] < end:
        i += 1
        if i >= len(cs) or cs[i] != ce[i - 1]:
            return None
        latest = max(latest, published_at(meter, i, min(end, ce[i])))
    return latest


def published_at(meter: Meter, i: int, upto: int) -> int:
    """When chunk i first reached `upto`: its creation, unless it grew in place since."""
    for end, at in meter.chunk_growth.get(meter.chunk_start[i], ()):
        if end >= upto:
            return at
    return meter.chunk_created[i]


def _is_primary_span(meter: Meter, start: int, end: int) -> bool:
    i = bisect_left(meter.chunk_start, start)
    return (
        i < len(meter.chunk_start) and meter.chunk_start[i] == start and meter.chunk_end[i] == end
    )


def _republish_delay_us(meter: Meter, zs: int) -> int:
    u = uniform_array(meter.stream ^ key("republish-delay"), np.array([zs]))[0]
    return int((DAY + u * 2.5 * DAY) * US)


def objects(
    meter: Meter,
    gap_rate: float,
    republish_rate: float,
    now_us: int,
    start: int | None,
    end: int | None,
    allow_mixed: bool,
    *,
    start_on_object: bool = False,
) -> list[ObjRef]:
    """Interval objects of a meter visible at `now_us` with readings inside [start, end).

    `start_on_object` keeps only objects whose first reading starts on/after `start`.
    """
    cs, ce, cc, cu = meter.chunk_start, meter.chunk_end, meter.chunk_created, meter.chunk_updated
    if not cs:
        return []
    lo = cs[0] if start is None else max(start, cs[0])
    hi = ce[-1] if end is None else min(end, ce[-1])
    if hi <= lo:
        return []
    dur = meter.duration
    refs: list[ObjRef] = []
    i = bisect_right(ce, lo)
    while i < len(cs) and cs[i] < hi:
        if cc[i] <= now_us:
            refs.append(ObjRef(cs[i], ce[i], meter.uid, "p", cc[i], dur, cu[i]))
        i += 1
    for zs, ze in zones(meter, republish_rate, lo, hi):
        since = covered_since(meter, zs, ze)
        if since is None:
            continue
        created = since + _republish_delay_us(meter, zs)
        if created > now_us:
            continue
        if _is_primary_span(meter, zs, ze):
            ze -= dur  # keep uids unique: a different span than any primary chunk
        refs.append(ObjRef(zs, ze, meter.uid, "r", created, dur, created))
    if allow_mixed and meter.kind.fill_ins:
        for gs, ge in gaps(meter, gap_rate, lo - HOUR, hi + HOUR):
            fs, fe = gs - HOUR, ge + HOUR
            if fe <= lo or fs >= hi:
                continue
            since = covered_since(meter, fs, fe)
            if since is None or since + 2 * HOUR * US > now_us:
                continue
            shown = since + 2 * HOUR * US
            refs.append(ObjRef(fs, fe, meter.uid, "f", shown, HOUR, shown))
    if start_on_object and start is not None:
        refs = [r for r in refs if r.start >= start or _first_reading(meter, r, gap_rate) >= start]
    if start is None and end is None:
        return [
            r
            for r in refs
            if r.end - r.start > 4 * HOUR or _count(meter, r, r.start, r.end, gap_rate) > 0
        ]
    return [r for r in refs if _count(meter, r, max(r.start, lo), min(r.end, hi), gap_rate) > 0]


def _first_reading(meter: Meter, ref: ObjRef, gap_rate: float) -> int:
    """Start of the object's earliest reading (its end when it has none)."""
    missing = [] if ref.kind == "f" else gaps(meter, gap_rate, ref.start, ref.end)
    starts = present_starts(meter, ref.start, ref.end, ref.duration, missing)
    return int(starts[0]) if len(starts) else ref.end


def _count(meter: Meter, ref: ObjRef, start: int, end: int, gap_rate: float) -> int:
    missing = [] if ref.kind == "f" else gaps(meter, gap_rate, start, end)
    return len(present_starts(meter, start, end, ref.duration, missing))


def reading_count(meter: Meter, gap_rate: float) -> int:
    """Primary-duration readings the meter has published (its interval_count)."""
    total = 0
    for s, e in meter.coverage():
        slots = (e - s) // meter.duration
        missing = sum(
            (min(ge, e) - max(gs, s)) // meter.duration
            for gs, ge in gaps(meter, gap_rate, s, e)
            if min(ge, e) > max(gs, s)
        )
        total += slots - missing
    return total
