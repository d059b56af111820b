"""The report's charts, as Plotly figures built from the records of `report.data`.

Charts get data or are not drawn: the page shows a sentence instead of an empty chart, so an
empty chart in the page is a bug (the browser test fails on one).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import timedelta

import numpy as np
import plotly.graph_objects as go

from .data import Bill, Day, HourCell, Meter, MonthlyPeak

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
COMPLETE_COLOR = "#2b8cbe"
INCOMPLETE_COLOR = "#e6550d"
# Day statuses of the coverage calendar, worst first: a day shows the first that applies.
DAY_STATUSES: tuple[tuple[str, str, str], ...] = (
    ("no data", "#7f0000", "no reading on any slot of the day"),
    ("partial", "#f03b20", "some slots have no reading"),
    ("flagged", "#8856a7", "some slots come from data the utility marked with a note"),
    ("spread", "#fec44f", "some slots are shares of hourly or longer readings"),
    ("republished", "#74a9cf", "some slots were published more than once (latest used)"),
    ("complete", "#31a354", "every slot has its own reading"),
)


def unit_label(unit: str | None) -> str:
    """A unit as people write it (the API publishes lower case: kwh, kw, therms)."""
    return {"kwh": "kWh", "kw": "kW", "wh": "Wh", "ccf": "CCF", "mcf": "MCF"}.get(
        unit or "", unit or "?"
    )


def _layout(figure: go.Figure, *, height: int = 300, **layout: object) -> go.Figure:
    # The page applies one template to every chart (page.TEMPLATE): giving each figure its
    # own copy costs a deep copy per chart and repeats it in the page.
    figure.update_layout(
        height=height,
        margin={"l": 60, "r": 20, "t": 10, "b": 40},
        hoverlabel={"namelength": -1},
        **layout,
    )
    return figure


def data_spans(meters: Sequence[Meter]) -> go.Figure:
    """One bar per meter from its first to its last day with data."""
    spans = [
        (meter.meter_uid, meter.primary.first_local_date, meter.primary.last_local_date)
        for meter in meters
        if meter.primary is not None and meter.primary.first_local_date is not None
    ]
    spans.sort(key=lambda span: span[0], reverse=True)
    figure = go.Figure(
        go.Bar(
            orientation="h",
            y=[uid for uid, _, _ in spans],
            base=[first.isoformat() for _, first, _ in spans],
            # a date axis measures bar lengths in milliseconds; the last day counts whole
            x=[((last - first).days + 1) * 86_400_000 for _, first, last in spans],
            marker_color=COMPLETE_COLOR,
            customdata=[[first.isoformat(), last.isoformat()] for _, first, last in spans],
            hovertemplate="meter %{y}<br>%{customdata[0]} to %{customdata[1]}<extra></extra>",
        )
    )
    figure.update_xaxes(type="date", title="local date")
    figure.update_yaxes(type="category", title="meter")
    return _layout(figure, height=max(160, 26 * len(spans) + 60))


def daily_usage(days: Sequence[Day], unit: str) -> go.Figure:
    """Daily totals; days with missing slots stand out in another colour."""
    unit = unit_label(unit)
    figure = go.Figure(
        go.Bar(
            x=[day.local_date.isoformat() for day in days],
            y=_values(day.quantity for day in days),
            marker_color=[COMPLETE_COLOR if day.is_complete else INCOMPLETE_COLOR for day in days],
            customdata=[[f"{day.coverage:.1%}"] for day in days],
            hovertemplate=f"%{{x}}<br>%{{y:,.3f}} {unit}<br>coverage %{{customdata[0]}}"
            "<extra></extra>",
        )
    )
    figure.update_xaxes(title="local date")
    figure.update_yaxes(title=f"{unit} per day")
    return _layout(figure, bargap=0)


def load_shape(cells: Sequence[HourCell], unit: str) -> go.Figure:
    """Average rate per local hour (rows) and local day (columns)."""
    dates = sorted({cell.local_date for cell in cells})
    column = {day: index for index, day in enumerate(dates)}
    # numpy arrays reach the page as typed arrays (compact, and plotly skips checking each
    # value); NaN is an empty cell
    z = np.full((24, len(dates)), np.nan, dtype=np.float32)
    for cell in cells:
        z[cell.local_hour, column[cell.local_date]] = _round(cell.hourly_rate)
    rate = "kW" if unit == "kwh" else f"{unit_label(unit)}/h"
    figure = go.Figure(
        go.Heatmap(
            x=[day.isoformat() for day in dates],
            y=np.arange(24),
            z=z,
            colorscale="Viridis",
            colorbar={"title": {"text": rate}},
            hovertemplate=f"%{{x}} %{{y}}:00<br>%{{z:,.3f}} {rate}<extra></extra>",
        )
    )
    figure.update_xaxes(title="local date")
    figure.update_yaxes(title="local hour", dtick=3, autorange="reversed")
    return _layout(figure, height=340)


def day_status(day: Day) -> int:
    """Index into DAY_STATUSES of the worst that applies to `day`."""
    if day.slots_present == 0:
        return 0
    if not day.is_complete:
        return 1
    if day.slots_flagged:
        return 2
    if day.slots_spread:
        return 3
    if day.slots_republished:
        return 4
    return 5


def coverage_calendar(days: Sequence[Day]) -> go.Figure:
    """One cell per local day (weeks across, weekdays down), coloured by its worst status."""
    first_monday = min(day.local_date for day in days)
    first_monday -= timedelta(days=first_monday.weekday())
    weeks = (max(day.local_date for day in days) - first_monday).days // 7 + 1
    z = np.full((len(WEEKDAYS), weeks), np.nan, dtype=np.float32)
    text: list[list[str]] = [[""] * weeks for _ in WEEKDAYS]
    for day in days:
        week = (day.local_date - first_monday).days // 7
        z[day.local_date.weekday(), week] = day_status(day)
        text[day.local_date.weekday()][week] = _day_text(day)
    figure = go.Figure(
        go.Heatmap(
            x=[(first_monday + timedelta(weeks=week)).isoformat() for week in range(weeks)],
            y=list(WEEKDAYS),
            z=z,
            text=text,
            hovertemplate="%{text}<extra></extra>",
            colorscale=_discrete([color for _, color, _ in DAY_STATUSES]),
            zmin=-0.5,
            zmax=len(DAY_STATUSES) - 0.5,
            showscale=False,
            xgap=2,
            ygap=2,
        )
    )
    figure.update_xaxes(title="week of", type="date")
    figure.update_yaxes(autorange="reversed")
    return _layout(figure, height=230)


def _day_text(day: Day) -> str:
    parts = [
        f"{day.local_date} ({DAY_STATUSES[day_status(day)][0]})",
        f"{day.slots_present}/{day.slots_expected} slots ({day.coverage:.1%})",
        f"spread {day.slots_spread}",
    ]
    if day.slots_flagged is not None:
        parts.append(f"flagged {day.slots_flagged}")
    if day.slots_republished is not None:
        parts.append(f"republished {day.slots_republished}")
    return "<br>".join(parts)


def _discrete(colors: Sequence[str]) -> list[list[object]]:
    """A colour scale giving integer i (of zmin -0.5 .. zmax n-0.5) the i-th colour."""
    scale: list[list[object]] = []
    for index, color in enumerate(colors):
        scale.append([index / len(colors), color])
        scale.append([(index + 1) / len(colors), color])
    return scale


def bills(bills: Sequence[Bill]) -> go.Figure:
    """Billed quantity beside the interval data's total over the same period."""
    labels = [bill.period for bill in bills]
    unit = unit_label(next((bill.billed_unit for bill in bills if bill.billed_unit), None))
    interval = [
        _round(bill.interval_quantity) if bill.interval_unit == bill.billed_unit else None
        for bill in bills
    ]
    details = [
        [
            "n/a" if ratio is None else f"{ratio:+.2%}",
            "n/a" if coverage is None else f"{coverage:.1%}",
        ]
        for ratio, coverage in ((b.quantity_difference_ratio, b.interval_coverage) for b in bills)
    ]
    hover = (
        "%{x}<br>%{y:,.3f} " + unit + "<br>difference %{customdata[0]}"
        "<br>interval coverage %{customdata[1]}<extra>%{fullData.name}</extra>"
    )
    figure = go.Figure(
        [
            go.Bar(
                name="billed",
                x=labels,
                y=[_round(bill.billed_quantity) for bill in bills],
                marker_color="#636363",
                customdata=details,
                hovertemplate=hover,
            ),
            go.Bar(
                name="interval data",
                x=labels,
                y=interval,
                marker_color=COMPLETE_COLOR,
                customdata=details,
                hovertemplate=hover,
            ),
        ]
    )
    figure.update_xaxes(title="bill period (local dates)", type="category")
    figure.update_yaxes(title=f"{unit} per bill")
    return _layout(figure, barmode="group", legend={"orientation": "h", "y": 1.12})


PEAK_METHODS = {
    "reported_demand": ("demand the utility reports", "#756bb1"),
    "interval_energy": ("15-minute energy × 4", "#9ecae1"),
}


def monthly_peaks(peaks: Sequence[MonthlyPeak]) -> go.Figure:
    """Peak kW per local month, one colour per way it was found."""
    figure = go.Figure(
        [
            go.Bar(
                name=label,
                x=[peak.month_start_local.isoformat() for peak in found],
                y=_values(peak.peak_kw for peak in found),
                marker_color=color,
                customdata=[
                    [f"{peak.peak_interval_start_at:%Y-%m-%d %H:%M} UTC"]
                    if peak.peak_interval_start_at
                    else [""]
                    for peak in found
                ],
                hovertemplate="%{x|%B %Y}<br>%{y:,.2f} kW at %{customdata[0]}"
                "<extra>%{fullData.name}</extra>",
            )
            for method, (label, color) in PEAK_METHODS.items()
            if (found := [p for p in peaks if p.peak_method == method and p.peak_kw is not None])
        ]
    )
    figure.update_xaxes(title="local month", dtick="M1", tickformat="%b %Y")
    figure.update_yaxes(title="peak kW")
    # the legend names the method even when every month has the same one
    return _layout(
        figure, barmode="overlay", showlegend=True, legend={"orientation": "h", "y": 1.12}
    )


def solar(channels: dict[str, Sequence[Day]]) -> go.Figure:
    """Daily export to the grid (rev) and import from it (fwd)."""
    names = {"rev": "export (rev)", "fwd": "import (fwd)"}
    colors = {"rev": "#fdae6b", "fwd": "#6baed6"}
    figure = go.Figure(
        [
            go.Scatter(
                name=names[channel],
                x=[day.local_date.isoformat() for day in days],
                y=_values(day.quantity for day in days),
                mode="lines",
                line={"color": colors[channel], "width": 1.5},
                hovertemplate="%{x}<br>%{y:,.3f} kWh<extra>%{fullData.name}</extra>",
            )
            for channel, days in channels.items()
            if days
        ]
    )
    figure.update_xaxes(title="local date")
    figure.update_yaxes(title="kWh per day")
    return _layout(figure, showlegend=True, legend={"orientation": "h", "y": 1.12})


def _values(values: Iterable[float | None]) -> np.ndarray:
    """Values as a float array, missing ones NaN (a gap in the chart)."""
    return np.array([np.nan if v is None else round(float(v), 4) for v in values], dtype=float)


def _round(value: float | None) -> float | None:
    # Values are published to 3 decimals; more digits only make the page bigger.
    return None if value is None else round(float(value), 4)
