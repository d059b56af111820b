"""`uapi report` on a demo load: the account page holds what the tables hold, sections whose
data is missing say so, and optional columns (zones, flags, notes) show up when present."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from pipelines.cli import main
from pipelines.pipeline import Target
from report import build_report, open_warehouse
from report.charts import DAY_STATUSES, day_status
from report.data import Account, Unavailable


def build(db: Path, meters: list[str] | None = None) -> tuple[str, Account]:
    with open_warehouse(Target(db_path=db)) as warehouse:
        return build_report(warehouse, raw_schema="utilityapi", source=str(db), meter_uids=meters)


def sql(db: Path, statement: str) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(statement).fetchall()


def change(db: Path, *statements: str) -> None:
    with duckdb.connect(str(db)) as con:
        for statement in statements:
            con.execute(statement)


@pytest.fixture(scope="module")
def demo_report(demo_db: Path) -> tuple[str, Account]:
    return build(demo_db)


def test_account_lists_every_meter_and_the_command_that_activates_the_idle_ones(
    demo_db, demo_report
):
    page, account = demo_report
    listed = [uid for (uid,) in sql(demo_db, "select uid from utilityapi.meters order by uid")]
    idle = [
        uid
        for (uid,) in sql(
            demo_db, "select uid from utilityapi.meters where is_not_activated order by uid"
        )
    ]
    assert [meter.meter_uid for meter in account.meters] == listed
    assert idle and [meter.meter_uid for meter in account.not_activated] == idle
    assert f"uapi collect historical --meters {','.join(idle)}" in page
    with_data = sql(demo_db, "select distinct meter_uid from analytics.meter_daily_usage")
    assert sorted(data.meter.meter_uid for data in account.meter_data) == sorted(
        uid for (uid,) in with_data
    )


def test_coverage_and_last_data_per_meter_are_the_tables(demo_db, demo_report):
    _, account = demo_report
    expected = {
        uid: (coverage, last)
        for uid, coverage, last in sql(
            demo_db,
            "select meter_uid, sum(slots_present) / sum(slots_expected), "
            "max(local_date) filter (where slots_present > 0) "
            "from analytics.meter_daily_usage where channel = 'net' group by 1",
        )
    }
    shown = {
        meter.meter_uid: (meter.primary.coverage, meter.primary.last_local_date)
        for meter in account.meters
        if meter.primary
    }
    assert shown.keys() == expected.keys()
    for uid, (coverage, last) in expected.items():
        assert shown[uid][0] == pytest.approx(coverage) and shown[uid][1] == last


def test_calendar_marks_the_days_the_data_marks(demo_report):
    _, account = demo_report
    days = [day for data in account.meter_data for day in data.days]
    statuses = {DAY_STATUSES[day_status(day)][0] for day in days}
    # the demo has gaps, partial days, hourly fill-ins and re-published chunks
    assert {"partial", "spread", "republished", "complete"} <= statuses
    for day in days:
        if day.slots_present < day.slots_expected:
            assert day_status(day) <= 1, day


def test_meters_option_limits_the_report(demo_db, tmp_path, capsys):
    meters = [
        uid
        for (uid,) in sql(
            demo_db, "select distinct meter_uid from analytics.meter_daily_usage order by 1 limit 2"
        )
    ]
    out = tmp_path / "two.html"
    assert (
        main(["report", "--db", str(demo_db), "--meters", ",".join(meters), "--out", str(out)]) == 0
    )
    assert "Report of 2 meter(s), 2 with interval data" in capsys.readouterr().out
    page = out.read_text()
    assert page.count('<section class="meter"') == 2
    assert all(f'id="meter-{uid}"' in page for uid in meters)


def test_unknown_meter_is_a_usage_error(demo_db, tmp_path, capsys):
    code = main(
        [
            "report",
            "--db",
            str(demo_db),
            "--meters",
            "no-such-meter",
            "--out",
            str(tmp_path / "r.html"),
        ]
    )
    assert code == 2
    assert "--meters: no meter no-such-meter" in capsys.readouterr().err
    assert not (tmp_path / "r.html").exists()


def test_a_database_being_written_exits_75_and_writes_nothing(
    demo_copy, writer_holding, tmp_path, capsys
):
    out = tmp_path / "r.html"
    with writer_holding(demo_copy):
        assert main(["report", "--db", str(demo_copy), "--out", str(out)]) == 75
    assert "being written by another program" in capsys.readouterr().err
    assert not out.exists()


def test_missing_tables_and_columns_degrade_to_a_sentence(demo_copy):
    change(
        demo_copy,
        "drop table analytics.bill_reconciliation",
        "drop table if exists analytics.meter_monthly_peaks",
        "drop table analytics.meter_intervals_15min",
        "alter table utilityapi.meters drop column is_not_activated",
    )
    page, account = build(demo_copy)
    assert (
        "Bill reconciliation is not available in this database (no analytics.bill_reconciliation)"
        in page
    )
    assert (
        "The load shape is not available in this database (no analytics.meter_intervals_15min)"
        in page
    )
    assert (
        "Which meters are activated is not available in this database "
        "(no utilityapi.meters.is_not_activated)" in page
    )
    assert (
        "Monthly peaks are not available in this database (no analytics.meter_monthly_peaks)"
        in page
    )
    assert account.not_activated == []
    assert all(isinstance(data.bills, Unavailable) for data in account.meter_data)
    assert 'data-chart="bills"' not in page and 'data-chart="load-shape"' not in page
    assert page.count('data-chart="daily-usage"') == len(account.meter_data) > 0


def test_without_the_daily_table_the_report_still_lists_the_meters(demo_copy):
    change(demo_copy, "drop table analytics.meter_daily_usage")
    page, account = build(demo_copy)
    assert len(account.meters) == sql(demo_copy, "select count(*) from utilityapi.meters")[0][0]
    assert account.meter_data == []
    assert "not available in this database (no analytics.meter_daily_usage)" in page


def test_zones_flags_notes_and_peaks_show_when_the_tables_carry_them(enriched, demo_db):
    page, account = build(enriched.db)
    meter = enriched.meter
    data = next(d for d in account.meter_data if d.meter.meter_uid == meter)
    assert data.meter.time_zone == "America/Los_Angeles"
    assert "time zone America/Los_Angeles" in page
    flagged = next(d for d in data.days if d.local_date == enriched.flagged_day)
    assert DAY_STATUSES[day_status(flagged)][0] == "flagged"
    flagged_slots, strange_bills = sql(
        enriched.db,
        "select (select sum(slots_flagged) from analytics.meter_daily_usage "
        "where channel = 'net'), (select count(*) from analytics.bill_reconciliation "
        "where has_strange_note)",
    )[0]
    assert f"{flagged_slots:,} slots come from interval data the utility marked" in page
    assert f"Time zone problems: {meter} (offset_mismatch)." in page
    assert f"{strange_bills} bills carry a &#x27;strange&#x27; note." in page
    assert "bill_strange" in page  # listed among the bills to look at
    assert "not available in this database" not in page
    with_peaks = sql(
        enriched.db,
        "select count(distinct meter_uid) filter (where peak_kw is not null), "
        "count(distinct meter_uid) filter (where peak_kw is null) "
        "from analytics.meter_monthly_peaks",
    )[0]
    assert page.count('data-chart="monthly-peaks"') == with_peaks[0] > 0
    assert page.count("No peak demand: the utility reports none") == with_peaks[1] > 0
    methods = {peak.peak_method for peak in data.peaks}  # type: ignore[union-attr]
    assert methods == {"reported_demand", "interval_energy"}
