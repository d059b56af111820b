"""The report in a real browser: Debian's headless Chromium, network off, fresh profile.

It must draw every chart with data, log no JavaScript error and request nothing beyond its own
file. The screenshots README shows come from here: run with UAPI_UPDATE_SCREENSHOTS=1 to
rewrite docs/report.png and docs/report-meter.png.
"""

from __future__ import annotations

import os
import shutil
from collections import Counter
from pathlib import Path

import duckdb
import plotly.graph_objects as go
import pytest

from pipelines.cli import main
from report.page import Page
from tests.support import browser

DOCS = Path(__file__).resolve().parents[2] / "docs"
SOLAR_METER = "section.meter:has([data-chart=solar])"


@pytest.fixture(scope="module")
def report_file(demo_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report") / "report.html"
    assert main(["report", "--db", str(demo_db), "--out", str(out)]) == 0
    return out


def test_report_draws_every_chart_offline_without_errors(report_file, demo_db, tmp_path):
    shots = {"#account": tmp_path / "account.png", SOLAR_METER: tmp_path / "meter.png"}
    visit = browser.visit(report_file, tmp_path / "profile", screenshots=shots)

    assert visit.errors == []
    assert visit.remote_requests == []
    assert visit.empty_charts == []
    placed = report_file.read_text().count('<div class="chart"')
    assert visit.charts_rendered == placed == len(visit.charts)
    assert Counter(chart["name"] for chart in visit.charts) == expected_charts(demo_db)
    assert visit.missing == []
    for path in shots.values():
        assert path.stat().st_size > 20_000  # a picture of charts, not a blank page
    if os.environ.get("UAPI_UPDATE_SCREENSHOTS") == "1":
        shutil.copyfile(shots["#account"], DOCS / "report.png")
        shutil.copyfile(shots[SOLAR_METER], DOCS / "report-meter.png")


def expected_charts(db: Path) -> Counter[str]:
    """The charts the demo's data calls for, counted straight from the tables."""
    with duckdb.connect(str(db), read_only=True) as con:
        meters, solar = con.execute(
            "select count(distinct meter_uid), count(distinct meter_uid) filter "
            "(where channel = 'rev') from analytics.meter_daily_usage"
        ).fetchone()
        (billed,) = con.execute(
            "select count(distinct meter_uid) from analytics.bill_reconciliation"
        ).fetchone()
        peaks = _meters_with_peaks(con)
    assert meters and solar and billed
    return Counter(
        {
            "data-spans": 1,
            "daily-usage": meters,
            "load-shape": meters,
            "coverage-calendar": meters,
            "bills": billed,
            "solar": solar,
            "monthly-peaks": peaks,
        }
    )


def _meters_with_peaks(con: duckdb.DuckDBPyConnection) -> int:
    """Meters with a peak in analytics.meter_monthly_peaks (builds before it have none)."""
    (exists,) = con.execute(
        "select count(*) from information_schema.tables "
        "where table_schema = 'analytics' and table_name = 'meter_monthly_peaks'"
    ).fetchone()
    if not exists:
        return 0
    return con.execute(
        "select count(distinct meter_uid) from analytics.meter_monthly_peaks "
        "where peak_kw is not null"
    ).fetchone()[0]


def test_newer_marts_draw_too(enriched, tmp_path):
    """Zones, flags, notes and peaks as the dbt marts add them: drawn, no error."""
    out = tmp_path / "enriched.html"
    gas = "select min(meter_uid) from analytics.meter_daily_usage where unit = 'therms'"
    with duckdb.connect(str(enriched.db), read_only=True) as con:
        meters = [enriched.meter, con.execute(gas).fetchone()[0]]
    assert (
        main(["report", "--db", str(enriched.db), "--meters", ",".join(meters), "--out", str(out)])
        == 0
    )
    visit = browser.visit(out, tmp_path / "profile")
    assert visit.errors == [] and visit.remote_requests == [] and visit.empty_charts == []
    names = Counter(chart["name"] for chart in visit.charts)
    assert names["monthly-peaks"] == 1  # the gas meter has no peak: a sentence, not a chart
    assert (
        visit.charts_rendered == sum(names.values()) == out.read_text().count('<div class="chart"')
    )


def page_with(tmp_path: Path, figures: dict[str, go.Figure], extra: str = "") -> Path:
    page = Page()
    body = "".join(page.chart(name, figure) for name, figure in figures.items()) + extra
    path = tmp_path / "page.html"
    path.write_text(page.document("check", body))
    return path


GOOD = go.Figure(go.Bar(x=["a", "b"], y=[1.0, 2.0]))


def test_the_check_fails_on_an_empty_chart(tmp_path):
    empty = go.Figure(go.Bar(x=[], y=[]))
    visit = browser.visit(page_with(tmp_path, {"good": GOOD, "empty": empty}), tmp_path / "p")
    assert visit.errors == []
    assert [chart["name"] for chart in visit.empty_charts] == ["empty"]


def test_the_check_fails_on_a_chart_of_nothing_but_gaps(tmp_path):
    gaps = go.Figure(go.Heatmap(z=[[None, None], [None, None]]))
    visit = browser.visit(page_with(tmp_path, {"good": GOOD, "gaps": gaps}), tmp_path / "p")
    assert [chart["name"] for chart in visit.empty_charts] == ["gaps"]


def test_the_check_fails_on_a_javascript_error(tmp_path):
    broken = "<script>document.body.dataset.total = chartCount();</script>"
    visit = browser.visit(page_with(tmp_path, {"good": GOOD}, broken), tmp_path / "p")
    assert any("chartCount" in error for error in visit.errors)


def test_the_check_fails_on_a_request_off_the_file(tmp_path):
    cdn = '<script src="https://cdn.plot.ly/plotly-3.0.1.min.js"></script>'
    visit = browser.visit(page_with(tmp_path, {"good": GOOD}, cdn), tmp_path / "p")
    assert visit.remote_requests == ["https://cdn.plot.ly/plotly-3.0.1.min.js"]
