"""True meter values: pure functions of (meter, time) computed in integer milli-units.

Values are integers of Wh (or milli-therms) so that sums are exact: a bill total equals the sum
of its readings to the last decimal, and net = fwd - rev holds exactly after rounding.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from .catalog import MeterKind
from .localtime import Zone
from .rng import key, uniform_array

_TWO_PI = 2.0 * np.pi
_DAY0_2000 = 10957  # days from 1970-01-01 to 2000-01-01


@dataclass(frozen=True)
class ValueModel:
    """Parameters of one meter's consumption (and generation) curve."""

    stream: int
    kind: MeterKind
    zone: Zone
    base_kw: float
    solar_kw: float
    hot_climate: bool


class SlotValues(NamedTuple):
    """Integer milli-units per reading: energy in Wh (or milli-therms), demand in W."""

    net: np.ndarray
    fwd: np.ndarray
    rev: np.ndarray
    max_w: np.ndarray


def _bump(hours: np.ndarray, centre: float, width: float) -> np.ndarray:
    d = np.abs(hours - centre)
    d = np.minimum(d, 24.0 - d)
    return np.exp(-((d / width) ** 2))


def _load(model: ValueModel, starts: np.ndarray, duration: int) -> np.ndarray:
    """Consumption per slot in milli-units (Wh or milli-therms), before generation."""
    hours, days = model.zone.local_hours(starts + duration // 2)
    phase = _TWO_PI * ((days - _DAY0_2000) % 365.2425) / 365.2425
    summer = np.maximum(0.0, np.cos(phase - _TWO_PI * 200 / 365.2425))
    winter = np.maximum(0.0, np.cos(phase - _TWO_PI * 15 / 365.2425))
    noise = uniform_array(model.stream ^ key("noise", duration), starts // duration)
    kind = model.kind
    if kind.is_gas:
        shape = 0.55 + 0.7 * _bump(hours, 7.0, 2.0) + 0.5 * _bump(hours, 19.0, 2.5)
        level = 0.25 + 1.6 * winter
    elif kind.is_commercial:
        weekday = (days + 3) % 7
        open_hours = (hours >= 7.0) & (hours < 19.0) & (weekday < 5)
        shape = np.where(open_hours, 1.25, 0.45)
        level = 1.0 + (0.45 if model.hot_climate else 0.2) * summer
    else:
        shape = 0.5 + 0.3 * _bump(hours, 7.5, 1.5) + 1.0 * _bump(hours, 19.0, 2.5)
        level = 1.0 + (0.9 if model.hot_climate else 0.35) * summer + 0.15 * winter
    rate = model.base_kw * shape * level * (0.7 + 0.6 * noise)
    return np.rint(rate * duration / 3.6).astype(np.int64)


def _generation(model: ValueModel, starts: np.ndarray, duration: int) -> np.ndarray:
    hours, days = model.zone.local_hours(starts + duration // 2)
    phase = _TWO_PI * ((days - _DAY0_2000) % 365.2425) / 365.2425
    season = 0.6 + 0.4 * np.cos(phase - _TWO_PI * 172 / 365.2425)
    sun = np.clip(np.sin(np.pi * (hours - 6.0) / 13.5), 0.0, None) ** 1.5
    clouds = 0.35 + 0.65 * uniform_array(model.stream ^ key("clouds"), days)
    rate = model.solar_kw * sun * season * clouds
    return np.rint(rate * duration / 3.6).astype(np.int64)


def slot_values(
    model: ValueModel, starts: np.ndarray, duration: int, errors: np.ndarray | None = None
) -> SlotValues:
    """Values of readings starting at `starts` (epoch seconds) lasting `duration` seconds.

    `errors` marks slots published with small mistakes that a later re-publication corrects.
    A reading longer than the meter's native one (an hourly fill-in on a 15-minute meter) is the
    exact aggregate of the native readings it covers.
    """
    native = model.kind.duration
    if duration > native:
        per = duration // native
        sub = (starts[:, None] + np.arange(per, dtype=np.int64) * native).reshape(-1)
        sub_errors = None if errors is None else np.repeat(errors, per)
        fine = slot_values(model, sub, native, sub_errors)
        return SlotValues(
            fine.net.reshape(-1, per).sum(axis=1),
            fine.fwd.reshape(-1, per).sum(axis=1),
            fine.rev.reshape(-1, per).sum(axis=1),
            fine.max_w.reshape(-1, per).max(axis=1),
        )
    load = _load(model, starts, duration)
    if errors is not None and errors.any():
        wobble = uniform_array(model.stream ^ key("error"), starts // duration)
        # About half of the marked slots were off by 2-8 % in either direction.
        factor = np.where(wobble < 0.5, 1.0 + (wobble - 0.25) * 0.32, 1.0)
        factor = np.where(np.abs(factor - 1.0) < 0.02, 1.0 + np.sign(factor - 1.0) * 0.02, factor)
        load = np.where(errors & (wobble < 0.5), np.rint(load * factor).astype(np.int64), load)
    if model.solar_kw > 0:
        gen = _generation(model, starts, duration)
        fwd = np.maximum(load - gen, 0)
        rev = np.maximum(gen - load, 0)
    else:
        fwd = load
        rev = np.zeros_like(load)
    net = fwd - rev
    avg_w = np.maximum(load, 0) * 3600 // duration
    peak = uniform_array(model.stream ^ key("peak"), starts // duration)
    max_w = avg_w + np.floor(avg_w * 0.6 * peak).astype(np.int64)
    return SlotValues(net, fwd, rev, max_w)


def milli_texts(values: np.ndarray) -> list[str]:
    """Integers of milli-units → JSON numbers with at most 3 decimals (as orjson prints them)."""
    return [repr(v) for v in (values / 1000.0).tolist()]
