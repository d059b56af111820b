"""The readings' Parquet files, written on a thread of their own (sources/utilityapi/readings_files.py)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sources.utilityapi.readings import READINGS_SCHEMA
from sources.utilityapi.readings_files import FILE_SCHEMA, LOAD_ID_COLUMN, ReadingsFiles

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def readings(n: int, first: int = 0) -> pa.Table:
    starts = [T0 + timedelta(minutes=15 * i) for i in range(first, first + n)]
    return pa.table(
        {
            "meter_uid": ["m1"] * n,
            "authorization_uid": ["a1"] * n,
            "interval_uid": [f"i{i // 96}" for i in range(first, first + n)],
            "start_at": starts,
            "end_at": [s + timedelta(minutes=15) for s in starts],
            "utc_offset_minutes": [0] * n,
            "end_utc_offset_minutes": [0] * n,
            "type": ["net"] * n,
            "unit": ["kwh"] * n,
            "value": [float(i) for i in range(first, first + n)],
            "meter_number": [""] * n,
            "interval_updated_at": [T0] * n,
            "interval_created_at": [T0] * n,
        },
        schema=READINGS_SCHEMA,
    )


def test_the_files_hold_every_row_in_order_with_the_load_id(tmp_path):
    files = ReadingsFiles(tmp_path, "123.4", file_rows=250, row_group_rows=100)
    handed = []
    for first in range(0, 600, 60):
        handed += files.add(readings(60, first))
    handed += files.add(readings(30, 600))
    handed += files.close()

    # a file ends with the first group past 250 rows; the last holds what was left
    assert [f.rows for f in handed] == [300, 300, 30]
    assert [f.path.name for f in handed] == [f"123.4.{n}.parquet" for n in (1, 2, 3)]
    written = pa.concat_tables(pq.read_table(f.path) for f in handed)
    assert written.schema.equals(FILE_SCHEMA)
    assert written.drop_columns([LOAD_ID_COLUMN]).equals(readings(630))
    assert set(written[LOAD_ID_COLUMN].to_pylist()) == {"123.4"}
    groups = pq.ParquetFile(handed[0].path).metadata
    assert [groups.row_group(i).num_rows for i in range(groups.num_row_groups)] == [120, 120, 60]
    assert sorted(tmp_path.iterdir()) == sorted(f.path for f in handed)


def test_nothing_added_makes_no_file(tmp_path):
    files = ReadingsFiles(tmp_path, "1")
    assert files.add(readings(0)) == []
    assert files.close() == []
    assert list(tmp_path.iterdir()) == []


def test_a_write_that_fails_is_raised_and_leaves_no_file(tmp_path):
    files = ReadingsFiles(tmp_path, "1", row_group_rows=10)
    wrong = readings(20).drop_columns(["unit"])
    files.add(wrong)
    # the writer keeps taking tables after it failed, so a caller never blocks on it
    with pytest.raises(RuntimeError, match="could not write the readings' Parquet file"):
        for _ in range(50):
            files.add(readings(20))
    with pytest.raises(RuntimeError, match="could not write"):
        files.close()
    assert list(tmp_path.iterdir()) == []


def test_abort_removes_the_files_not_handed_back(tmp_path):
    files = ReadingsFiles(tmp_path, "1", file_rows=100, row_group_rows=50)
    handed = []
    for first in range(0, 250, 50):
        handed += files.add(readings(50, first))
    files.abort()
    # what `add` handed back is the caller's (dlt imports it); the rest is gone
    assert sorted(tmp_path.iterdir()) == sorted(f.path for f in handed)
    assert not any(t.name == "uapi-readings-files" for t in threading.enumerate())
