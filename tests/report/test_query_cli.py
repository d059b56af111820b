"""`uapi query` against a demo load: what it prints, and how it refuses."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import duckdb

from pipelines.cli import main

SQL = (
    "select meter_uid, count(*) as days, sum(kwh) as kwh, min(local_date) as first_day "
    "from analytics.meter_daily_usage where channel = 'net' group by meter_uid order by meter_uid"
)


def direct(db: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_json_holds_every_row_and_value(demo_db, capsys):
    assert main(["query", SQL, "--db", str(demo_db), "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    expected = direct(demo_db, SQL)
    assert [(r["meter_uid"], r["days"], r["kwh"], r["first_day"]) for r in rows] == [
        (uid, days, kwh, first.isoformat()) for uid, days, kwh, first in expected
    ]
    assert any(r["kwh"] is None for r in rows)  # the gas meters: null, not 0


def test_csv_has_a_header_and_empty_cells_for_null(demo_db, capsys):
    assert main(["query", SQL, "--db", str(demo_db), "--format", "csv"]) == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert rows[0] == ["meter_uid", "days", "kwh", "first_day"]
    expected = direct(demo_db, SQL)
    assert len(rows) == len(expected) + 1
    assert [row[0] for row in rows[1:]] == [uid for uid, *_ in expected]
    assert {row[2] for row in rows[1:] if row[0] in gas_meters(demo_db)} == {""}


def gas_meters(db: Path) -> set[str]:
    sql = "select distinct meter_uid from analytics.meter_daily_usage where unit = 'therms'"
    return {uid for (uid,) in direct(db, sql)}


def test_table_aligns_columns_and_counts_rows(demo_db, capsys):
    assert main(["query", SQL, "--db", str(demo_db)]) == 0
    lines = capsys.readouterr().out.splitlines()
    expected = direct(demo_db, SQL)
    assert lines[0].split() == ["meter_uid", "days", "kwh", "first_day"]
    assert lines[-1] == f"({len(expected)} rows)"
    body = lines[2:-1]
    assert len(body) == len(expected)
    # the dashes under each name span its column; numbers are right-aligned in theirs
    spans = [match.span() for match in re.finditer("-+", lines[1])]
    for line, (uid, days, _, _) in zip(body, expected, strict=True):
        assert line[slice(*spans[0])].rstrip() == uid
        assert line[slice(*spans[1])] == str(days).rjust(spans[1][1] - spans[1][0])


def test_bad_sql_exits_2_with_the_database_message(demo_db, capsys):
    code = main(["query", "selct * from analytics.meter_daily_usage", "--db", str(demo_db)])
    out, err = capsys.readouterr()
    assert code == 2
    assert 'syntax error at or near "selct"' in err
    assert "Traceback" not in err and out == ""


def test_unknown_table_exits_2(demo_db, capsys):
    assert main(["query", "select * from analytics.nope", "--db", str(demo_db)]) == 2
    assert "nope does not exist" in capsys.readouterr().err


def test_a_query_cannot_change_the_database(demo_db, capsys):
    code = main(["query", "drop table analytics.meter_daily_usage", "--db", str(demo_db)])
    assert code == 2
    assert "read-only" in capsys.readouterr().err
    assert direct(demo_db, "select count(*) from analytics.meter_daily_usage")[0][0] > 0


def test_a_missing_database_says_to_load_first(tmp_path, capsys):
    assert main(["query", "select 1", "--db", str(tmp_path / "none.duckdb")]) == 1
    assert "run `uapi load` first" in capsys.readouterr().err


def test_a_database_being_written_exits_75_with_what_to_do(demo_copy, writer_holding, capsys):
    with writer_holding(demo_copy):
        code = main(["query", "select 1", "--db", str(demo_copy)])
    assert code == 75
    err = capsys.readouterr().err
    assert "being written by another program" in err and "Retry" in err
    assert main(["query", "select 1 as one", "--db", str(demo_copy)]) == 0
