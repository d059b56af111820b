"""Utility-local time: offsets with DST, local midnights, and the API's timestamp formats."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import numpy as np

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Offsets are tabulated for this span; sandbox worlds live well inside it.
_SCAN_START = datetime(1995, 1, 1, tzinfo=UTC)
_SCAN_END = datetime(2065, 1, 1, tzinfo=UTC)


def format_offset(seconds: int) -> str:
    sign = "-" if seconds < 0 else "+"
    minutes = abs(seconds) // 60
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


class Zone:
    """A time zone with a precomputed table of UTC-offset changes, for vectorised lookups."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.tz = ZoneInfo(name)
        epochs, offsets = self._scan()
        self._trans = np.array(epochs, dtype=np.int64)
        self._offsets = np.array(offsets, dtype=np.int64)
        self._suffix = {off: ".000000" + format_offset(off) for off in set(offsets)}

    def _offset_at(self, epoch: int) -> int:
        moment = _EPOCH + timedelta(seconds=epoch)
        delta = moment.astimezone(self.tz).utcoffset()
        return int(delta.total_seconds()) if delta is not None else 0

    def _scan(self) -> tuple[list[int], list[int]]:
        start = int(_SCAN_START.timestamp())
        end = int(_SCAN_END.timestamp())
        step = 7 * 86400  # DST changes are months apart, so weekly probes find each one
        epochs = [-(2**62)]
        offsets = [self._offset_at(start)]
        t = start
        while t < end:
            nxt = t + step
            if self._offset_at(nxt) != offsets[-1]:
                lo, hi = t, nxt  # offset(lo) is the old one, offset(hi) the new one
                while hi - lo > 1:
                    mid = (lo + hi) // 2
                    if self._offset_at(mid) == offsets[-1]:
                        lo = mid
                    else:
                        hi = mid
                epochs.append(hi)
                offsets.append(self._offset_at(hi))
            t = nxt
        return epochs, offsets

    def offsets(self, epochs: np.ndarray) -> np.ndarray:
        """UTC offsets in seconds for an array of epoch seconds."""
        idx = np.searchsorted(self._trans, epochs, side="right") - 1
        return self._offsets[idx]

    def offset(self, epoch: int) -> int:
        idx = int(np.searchsorted(self._trans, epoch, side="right")) - 1
        return int(self._offsets[idx])

    def iso_many(self, epochs: np.ndarray) -> list[str]:
        """`YYYY-MM-DDTHH:MM:SS.000000±HH:MM` in local time for whole-second epochs."""
        if len(epochs) == 0:
            return []
        offs = self.offsets(epochs)
        local = (epochs + offs).astype("datetime64[s]")
        texts = np.datetime_as_string(local, unit="s").tolist()
        suffix = self._suffix
        return [t + suffix[o] for t, o in zip(texts, offs.tolist(), strict=True)]

    def iso(self, epoch: int) -> str:
        return self.iso_many(np.array([epoch], dtype=np.int64))[0]

    def midnight(self, day: date) -> int:
        """Epoch of local midnight starting `day`."""
        return int(datetime(day.year, day.month, day.day, tzinfo=self.tz).timestamp())

    def local_date(self, epoch: int) -> date:
        return (_EPOCH + timedelta(seconds=epoch + self.offset(epoch))).date()

    def local_hours(self, epochs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(hour of day as float, local day number) for each epoch."""
        local = epochs + self.offsets(epochs)
        return (local % 86400) / 3600.0, local // 86400


@cache
def zone(name: str) -> Zone:
    return Zone(name)


def utc_iso_us(us: int) -> str:
    """A UTC timestamp from epoch microseconds, as the API prints system times."""
    return (_EPOCH + timedelta(microseconds=us)).isoformat(timespec="microseconds")


def to_us(moment: datetime) -> int:
    delta = moment - _EPOCH
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_us(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


def add_months(day: date, months: int) -> date:
    """Same day-of-month `months` later (or earlier), clamped to the month's last day."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    last = (date(year + (month == 12), month % 12 + 1, 1) - timedelta(days=1)).day
    return date(year, month, min(day.day, last))
