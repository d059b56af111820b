"""The report as one self-contained HTML page: Plotly's JavaScript is embedded, nothing is
fetched, so it opens from a file, an e-mail attachment or a machine without network.

Every value from the database is escaped; the charts' JSON is placed in the page so that no
string in it can close the script element.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Sequence
from datetime import datetime

import plotly.io
from plotly.offline import get_plotlyjs

from . import charts
from .data import Account, Bill, Meter, MeterData, Unavailable
from .quality import Finding, bill_needs_attention, findings

PLOTLY_CONFIG = {"displaylogo": False, "responsive": True}
TEMPLATE = "plotly_white"
STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 0; color: #222; background: #fafafa; }
header, section { max-width: 1200px; margin: 0 auto; padding: 8px 24px; }
header { border-bottom: 1px solid #ddd; }
section { background: #fff; margin-top: 16px; border: 1px solid #e5e5e5; border-radius: 6px; }
h1 { font-size: 22px; margin: 12px 0 4px; } h2 { font-size: 19px; margin: 14px 0 6px; }
h3 { font-size: 15px; margin: 18px 0 4px; }
nav { max-width: 1200px; margin: 8px auto 0; padding: 0 24px; font-size: 13px; }
nav a { margin-right: 10px; }
table { border-collapse: collapse; font-size: 13px; }
th, td { padding: 3px 10px 3px 0; text-align: left; border-bottom: 1px solid #eee; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.muted, .note { color: #666; } .note { font-style: italic; }
.cards { display: flex; gap: 12px; flex-wrap: wrap; margin: 8px 0; }
.card { border: 1px solid #e5e5e5; border-radius: 6px; padding: 6px 12px; min-width: 110px; }
.card b { display: block; font-size: 20px; }
li.warn::marker { content: "⚠ "; color: #d95f0e; } li.ok::marker { content: "✓ "; color: #31a354; }
li.info::marker { content: "• "; color: #666; }
code, pre { background: #f3f3f3; padding: 1px 4px; border-radius: 3px; }
pre { padding: 8px; overflow-x: auto; }
.legend span { display: inline-block; margin-right: 14px; font-size: 12px; }
.legend i { display: inline-block; width: 11px; height: 11px; margin-right: 4px;
            vertical-align: -1px; border-radius: 2px; }
"""
# Draws every chart, then records on <body> how many were drawn: the browser test waits for it.
RENDER_SCRIPT = """
(function () {
  const figures = JSON.parse(document.getElementById("report-figures").textContent);
  const template = JSON.parse(document.getElementById("report-template").textContent);
  const drawn = Object.entries(figures).map(([id, figure]) =>
    Plotly.newPlot(id, figure.data, {...figure.layout, template: template}, %s));
  Promise.all(drawn).then(() => { document.body.dataset.chartsRendered = String(drawn.length); });
})();
"""


class Page:
    """Collects sections and the figures they place, then renders the document."""

    def __init__(self) -> None:
        self.figures: dict[str, str] = {}

    def chart(self, name: str, figure: object) -> str:
        chart_id = f"chart-{len(self.figures) + 1}"
        self.figures[chart_id] = plotly.io.to_json(figure, validate=False)
        return f'<div class="chart" id="{chart_id}" data-chart="{_e(name)}"></div>'

    def document(self, title: str, body: str) -> str:
        figures = "{" + ",".join(f'"{key}":{value}' for key, value in self.figures.items()) + "}"
        # "</" cannot end the JSON's script element; "<\/" is the same string in JSON. Plotly
        # escapes it too; the page does not rely on that.
        figures = figures.replace("</", "<\\/")
        template = json.dumps(plotly.io.templates[TEMPLATE].to_plotly_json())
        return (
            "<!doctype html>\n<html lang=en><head><meta charset=utf-8>"
            '<meta name=viewport content="width=device-width, initial-scale=1">'
            f"<title>{_e(title)}</title><style>{STYLE}</style>"
            f"<script>{get_plotlyjs()}</script></head>\n<body>\n{body}\n"
            f'<script type="application/json" id="report-figures">{figures}</script>\n'
            f'<script type="application/json" id="report-template">{template}</script>\n'
            f"<script>{RENDER_SCRIPT % json.dumps(PLOTLY_CONFIG)}</script>\n</body></html>\n"
        )


def render(account: Account, *, source: str, generated_at: datetime) -> str:
    """The whole report for `account`, read from `source` (a label for the reader)."""
    page = Page()
    sections = [
        _header(account, source, generated_at),
        _nav(account),
        _account(page, account),
        *(_meter_section(page, data) for data in account.meter_data),
    ]
    return page.document("UtilityAPI data report", "\n".join(sections))


def _header(account: Account, source: str, generated_at: datetime) -> str:
    return (
        "<header><h1>UtilityAPI data report</h1>"
        f'<p class="muted">{_e(source)} · generated {generated_at:%Y-%m-%d %H:%M} UTC · '
        f"{len(account.meters)} meter(s). Dates and hours are the utility's local time.</p>"
        "</header>"
    )


def _nav(account: Account) -> str:
    links = ['<a href="#account">Account</a>'] + [
        f'<a href="#meter-{_e(data.meter.meter_uid)}">{_e(data.meter.meter_uid)}</a>'
        for data in account.meter_data
    ]
    return f"<nav>{' '.join(links)}</nav>"


def _account(page: Page, account: Account) -> str:
    parts = ['<section id="account"><h2>Account</h2>', _cards(account)]
    parts.append("<h3>Data quality</h3>" + _findings(findings(account)))
    parts.append("<h3>Meters</h3>" + _meters_table(account))
    spans = [meter for meter in account.meters if meter.primary and meter.primary.first_local_date]
    parts.append("<h3>Data per meter: first to last day</h3>")
    parts.append(page.chart("data-spans", charts.data_spans(spans)) if spans else _note("No data."))
    parts.append("<h3>Meters not activated</h3>" + _not_activated(account))
    parts.append("</section>")
    return "\n".join(parts)


def _cards(account: Account) -> str:
    firsts = [m.primary.first_local_date for m in account.meters if m.primary]
    lasts = [m.primary.last_local_date for m in account.meters if m.primary]
    span = (
        f"{min(d for d in firsts if d)} → {max(d for d in lasts if d)}"
        if any(firsts) and any(lasts)
        else "none"
    )
    bills = sum(len(d.bills) for d in account.meter_data if isinstance(d.bills, list))
    cards = [
        ("meters", f"{len(account.meters)}"),
        ("with interval data", f"{len(account.meter_data)}"),
        ("not activated", f"{len(account.not_activated)}"),
        ("bills", f"{bills:,}"),
        ("local days with data", span),
    ]
    return (
        '<div class="cards">'
        + "".join(f'<div class="card"><b>{_e(v)}</b>{_e(k)}</div>' for k, v in cards)
        + "</div>"
    )


def _findings(found: Sequence[Finding]) -> str:
    items = "".join(f'<li class="{f.level}">{_e(f.text)}</li>' for f in found)
    return f"<ul>{items}</ul>"


def _meters_table(account: Account) -> str:
    if account.listing is not None:
        lead = _note(f"The meter listing is {account.listing}; meters below come from the data.")
    else:
        lead = ""
    header = (
        "meter",
        "utility",
        "time zone",
        "channels",
        "first data",
        "last data",
        "published until (UTC)",
        "coverage",
        "incomplete days",
    )
    rows = [_meter_row(meter, linked=meter.primary is not None) for meter in account.meters]
    return lead + _table(header, rows)


def _meter_row(meter: Meter, *, linked: bool) -> list[str]:
    primary = meter.primary
    uid = _e(meter.meter_uid)
    published = meter.published_until
    return [
        f'<a href="#meter-{uid}">{uid}</a>' if linked else uid,
        _e(meter.utility or ""),
        _e(meter.time_zone or ("not available" if primary else "")),
        _e(", ".join(sorted(meter.channels))),
        _e(primary.first_local_date or "") if primary else "",
        _e(primary.last_local_date or "") if primary else "no data",
        _e(f"{published:%Y-%m-%d %H:%M}" if published else ""),
        _num(f"{primary.coverage:.2%}" if primary and primary.coverage is not None else ""),
        _num(f"{primary.incomplete_days:,}" if primary else ""),
    ]


def _not_activated(account: Account) -> str:
    if account.activation is not None:
        return _note(f"Which meters are activated is {account.activation}.")
    meters = account.not_activated
    if not meters:
        return "<p>None: every listed meter has been activated.</p>"
    rows = [[_e(m.meter_uid), _e(m.utility or ""), _e(m.authorization_uid or "")] for m in meters]
    command = f"uapi collect historical --meters {','.join(m.meter_uid for m in meters)}"
    return (
        "<p>These meters have no data until a historical collection runs for them "
        "(UtilityAPI charges for each collection; the command lists the meters and asks "
        "before anything is sent):</p>"
        + _table(("meter", "utility", "authorization"), rows)
        + f"<pre>{_e(command)}</pre>"
    )


def _meter_section(page: Page, data: MeterData) -> str:
    meter = data.meter
    primary = meter.primary
    unit = (primary.unit if primary else None) or "?"
    facts = [
        meter.utility or "utility unknown",
        f"time zone {meter.time_zone}" if meter.time_zone else "time zone not available",
        f"channel {data.channel} in {charts.unit_label(unit)}",
        *(x for x in (meter.service_class, meter.service_tariff) if x),
    ]
    parts = [
        f'<section class="meter" id="meter-{_e(meter.meter_uid)}">'
        f"<h2>Meter {_e(meter.meter_uid)}</h2><p class=muted>{_e(' · '.join(facts))}</p>",
        "<h3>Daily usage</h3>",
        page.chart("daily-usage", charts.daily_usage(data.days, unit))
        if data.days
        else _note("No days."),
        '<p class="legend">'
        f'<span><i style="background:{charts.COMPLETE_COLOR}"></i>complete day</span>'
        f'<span><i style="background:{charts.INCOMPLETE_COLOR}"></i>slots missing</span></p>',
        "<h3>Load shape: average rate by local hour</h3>",
        _load_shape(page, data, unit),
        "<h3>Coverage calendar</h3>",
        page.chart("coverage-calendar", charts.coverage_calendar(data.days))
        if data.days
        else _note("No days."),
        _calendar_legend(data),
        "<h3>Bills against interval data</h3>",
        _bills(page, data.bills),
        "<h3>Monthly peak demand</h3>",
        _peaks(page, data),
    ]
    if data.solar:
        parts += [
            "<h3>Solar: export and import per day</h3>",
            page.chart("solar", charts.solar(data.solar)),
        ]
    parts.append("</section>")
    return "\n".join(parts)


def _load_shape(page: Page, data: MeterData, unit: str) -> str:
    if isinstance(data.load_shape, Unavailable):
        return _note(f"The load shape is {data.load_shape}.")
    if not data.load_shape:
        return _note("No 15-minute data in a single unit for this meter.")
    return page.chart("load-shape", charts.load_shape(data.load_shape, unit))


def _peaks(page: Page, data: MeterData) -> str:
    if isinstance(data.peaks, Unavailable):
        return _note(f"Monthly peaks are {data.peaks}.")
    known = [peak for peak in data.peaks if peak.peak_kw is not None]
    if not known:
        return _note(
            "No peak demand: the utility reports none, and the data has no whole 15-minute "
            "kWh readings to derive one from (hourly-only or non-kWh data)."
        )
    return page.chart("monthly-peaks", charts.monthly_peaks(known))


def _calendar_legend(data: MeterData) -> str:
    items = "".join(
        f'<span title="{_e(meaning)}"><i style="background:{color}"></i>{_e(name)}</span>'
        for name, color, meaning in charts.DAY_STATUSES
    )
    notes = [str(x) for x in (data.flags, data.republished) if x is not None]
    caveat = _note("Flags and re-publications: " + "; ".join(notes) + ".") if notes else ""
    return f'<p class="legend">{items}</p>{caveat}'


def _bills(page: Page, bills: list[Bill] | Unavailable) -> str:
    if isinstance(bills, Unavailable):
        return _note(f"Bill reconciliation is {bills}.")
    if not bills:
        return _note("No bills loaded for this meter.")
    chart = page.chart("bills", charts.bills(bills))
    flagged = [bill for bill in bills if bill_needs_attention(bill) or bill.has_strange_note]
    if not flagged:
        return chart + "<p>Every bill whose period the interval data covers agrees with it.</p>"
    rows = [
        [
            _e(bill.bill_uid),
            _e(bill.period),
            _num(f"{_fmt(bill.billed_quantity, ',.3f')} {charts.unit_label(bill.billed_unit)}"),
            _num(_fmt(bill.interval_quantity, ",.3f")),
            _num(_fmt(bill.quantity_difference_ratio, "+.2%")),
            _e(bill.note_types or ""),
        ]
        for bill in flagged
    ]
    header = ("bill", "period", "billed", "interval data", "difference", "notes")
    return chart + "<p>Bills to look at:</p>" + _table(header, rows)


def _table(header: Iterable[str], rows: Iterable[list[str]]) -> str:
    head = "".join(f"<th>{_e(name)}</th>" for name in header)
    body = "".join(
        "<tr>"
        + "".join(cell if cell.startswith("<td") else f"<td>{cell}</td>" for cell in row)
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _fmt(value: float | None, spec: str, missing: str = "") -> str:
    return missing if value is None else format(value, spec)


def _num(text: str) -> str:
    return f'<td class="num">{_e(text)}</td>'


def _note(text: str) -> str:
    return f'<p class="note">{_e(text)}</p>'


def _e(value: object) -> str:
    return html.escape(str(value))
