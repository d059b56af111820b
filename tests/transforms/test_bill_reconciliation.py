"""Bills against the interval data of their period."""

from __future__ import annotations

from datetime import date

import pytest

from tests.transforms import world
from tests.transforms.world import la


def _bill(world_conn, rows, meter: str) -> dict:
    [bill] = rows(
        world_conn, "select * from analytics.bill_reconciliation where meter_uid = ?", meter
    )
    return bill


def test_gap_shows_as_missing_energy_and_coverage(world_conn, rows) -> None:
    bill = _bill(world_conn, rows, world.COMMERCIAL)
    # the bill counts what the meter measured; the gap's four readings never arrived
    missing = [r for r in world.commercial(skip=False) if r["start"].startswith("2024-03-11T10:")]
    missing_kwh = sum(r["datapoints"][0]["value"] for r in missing)
    assert bill["billed_unit"] == bill["interval_unit"] == "kwh"
    assert bill["quantity_difference"] == pytest.approx(-missing_kwh, abs=1e-6)
    assert bill["kwh_difference"] == pytest.approx(-missing_kwh, abs=1e-6)
    # Mar 8 00:00 PST to Mar 12 00:00 PDT lasts 95 hours: 380 slots, 4 of them missing
    assert (bill["slots_expected"], bill["slots_present"]) == (380, 376)
    assert bill["interval_coverage"] == pytest.approx(376 / 380)
    assert not bill["is_interval_complete"]
    assert bill["bill_start_at"] == la(2024, 3, 8) and bill["bill_end_at"] == la(2024, 3, 12)


def test_gas_bill_compares_therms_with_therms(world_conn, rows) -> None:
    bill = _bill(world_conn, rows, world.GAS)
    assert (bill["billed_unit"], bill["interval_unit"]) == ("therms", "therms")
    assert bill["billed_kwh"] is None and bill["interval_kwh"] is None
    assert bill["quantity_difference"] == pytest.approx(0, abs=1e-6)
    assert bill["is_interval_complete"] and bill["slots_spread"] == bill["slots_expected"]


def test_bill_with_a_strange_note_shows_its_difference(world_conn, rows) -> None:
    bill = _bill(world_conn, rows, world.RESIDENTIAL)
    assert (bill["note_types"], bill["has_strange_note"]) == ("bill_strange,estimated", True)
    assert _bill(world_conn, rows, world.GAS)["has_strange_note"] is False
    assert bill["quantity_difference_ratio"] == pytest.approx(1 / 1.03 - 1, abs=1e-4)
    assert bill["slots_expected"] == 5 * 96 + 4  # includes the 25-hour fall-back day


def test_bill_without_interval_data(world_conn, rows) -> None:
    bill = _bill(world_conn, rows, world.NO_DATA)
    assert bill["billed_quantity"] == 500.0
    assert bill["interval_quantity"] is None and bill["quantity_difference"] is None
    assert (bill["slots_present"], bill["interval_coverage"]) == (0, 0.0)


def test_bill_sums_only_its_own_period(world_conn, rows) -> None:
    """Slots just outside [start, end) on the boundary days are not counted."""
    bill = _bill(world_conn, rows, world.COMMERCIAL)
    [grid] = rows(
        world_conn,
        "select sum(kwh) as kwh from analytics.meter_intervals_15min "
        "where meter_uid = ? and channel = 'net' and local_date between ? and ?",
        world.COMMERCIAL,
        date(2024, 3, 8),
        date(2024, 3, 11),
    )
    assert bill["interval_kwh"] == pytest.approx(grid["kwh"], abs=1e-9)
