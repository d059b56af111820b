"""The account page's data-quality summary: short statements an analyst can check.

Each finding states a count and what it means for the numbers; nothing is hidden when its data
is missing: the finding says the database does not have it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from .data import Account, Bill, Unavailable

# A bill is checked against interval data only when that data covers its period this well.
RECONCILE_MIN_COVERAGE = 0.99
# Interval totals further than this from the bill are worth a look.
RECONCILE_TOLERANCE = 0.02
# A meter whose data ends this long before the account's newest data is behind.
STALE_AFTER = timedelta(days=3)

Level = Literal["ok", "warn", "info"]


@dataclass(frozen=True)
class Finding:
    level: Level
    text: str


def findings(account: Account) -> list[Finding]:
    """The summary, in the order an analyst checks data: coverage, sources, bills, zones."""
    if account.daily is not None:
        return [Finding("warn", f"Interval coverage is {account.daily}.")]
    return [
        *_coverage(account),
        *_flags(account),
        *_republished(account),
        *_bills(account),
        *_time_zones(account),
        *_staleness(account),
    ]


def bill_needs_attention(bill: Bill) -> bool:
    """The interval data covers the bill's period but its total disagrees with the bill."""
    ratio, coverage = bill.quantity_difference_ratio, bill.interval_coverage
    return (
        ratio is not None
        and coverage is not None
        and coverage >= RECONCILE_MIN_COVERAGE
        and abs(ratio) > RECONCILE_TOLERANCE
    )


def _coverage(account: Account) -> list[Finding]:
    channels = [meter.primary for meter in account.meters if meter.primary is not None]
    expected = sum(channel.slots_expected for channel in channels)
    present = sum(channel.slots_present for channel in channels)
    spread = sum(channel.slots_spread for channel in channels)
    incomplete = sum(channel.incomplete_days for channel in channels)
    days = sum(channel.days for channel in channels)
    if not expected:
        return [Finding("warn", "No interval data is loaded yet.")]
    missing = expected - present
    return [
        Finding(
            "ok" if not incomplete else "warn",
            f"{incomplete:,} of {days:,} meter-days are incomplete: {missing:,} of "
            f"{expected:,} 15-minute slots have no reading ({missing / expected:.2%}). "
            "Daily totals of incomplete days are sums of what was published, not estimates.",
        ),
        Finding(
            "info",
            f"{spread:,} slots ({spread / present:.1%} of those with data) are even shares of "
            "hourly or longer readings: their energy is right, their shape within the hour is "
            "not measured.",
        ),
    ]


def _flags(account: Account) -> list[Finding]:
    if not account.meter_data:
        return []
    unavailable = account.meter_data[0].flags
    if unavailable is not None:
        return [Finding("info", f"Quality notes on interval data: {unavailable}.")]
    channels = [meter.primary for meter in account.meters if meter.primary is not None]
    flagged = sum(channel.slots_flagged or 0 for channel in channels)
    return [
        Finding(
            "warn" if flagged else "ok",
            f"{flagged:,} slots come from interval data the utility marked with a note."
            if flagged
            else "No interval data carries a quality note from the utility.",
        )
    ]


def _republished(account: Account) -> list[Finding]:
    if not account.meter_data:
        return []
    unavailable = account.meter_data[0].republished
    if unavailable is not None:
        return [Finding("info", f"Re-published interval data: {unavailable}.")]
    days = sum(
        1 for data in account.meter_data for day in data.days if (day.slots_republished or 0) > 0
    )
    return [
        Finding(
            "info",
            f"{days:,} meter-days had more than one publication (corrections or fill-ins); "
            "the latest, finest one is used.",
        )
    ]


def _bills(account: Account) -> list[Finding]:
    unavailable = next(
        (data.bills for data in account.meter_data if isinstance(data.bills, Unavailable)), None
    )
    if unavailable is not None:
        return [Finding("warn", f"Bill reconciliation is {unavailable}.")]
    bills = [bill for data in account.meter_data for bill in data.bills]  # type: ignore[union-attr]
    covered = [
        bill
        for bill in bills
        if bill.interval_coverage is not None and bill.interval_coverage >= RECONCILE_MIN_COVERAGE
    ]
    off = [bill for bill in covered if bill_needs_attention(bill)]
    found = [
        Finding(
            "warn" if off else "ok",
            f"{len(off)} of {len(covered)} bills whose period the interval data covers "
            f"(≥ {RECONCILE_MIN_COVERAGE:.0%}) differ from it by more than "
            f"{RECONCILE_TOLERANCE:.0%}; {len(bills) - len(covered)} of {len(bills)} bills "
            "cannot be checked (interval data missing for part of the period).",
        )
    ]
    strange = [bill for bill in bills if bill.has_strange_note]
    if strange:
        found.append(Finding("warn", f"{len(strange)} bills carry a 'strange' note."))
    estimated = [bill for bill in bills if bill.is_estimated]
    if estimated:
        found.append(Finding("info", f"{len(estimated)} bills are marked estimated."))
    return found


def _time_zones(account: Account) -> list[Finding]:
    if isinstance(account.time_zones, Unavailable):
        return [Finding("info", f"Time zone checks are {account.time_zones}.")]
    shown = {meter.meter_uid for meter in account.meters}
    checks = [check for check in account.time_zones if check.meter_uid in shown]
    wrong = [check for check in checks if check.time_zone_status != "ok"]
    if not wrong:
        return [
            Finding(
                "ok",
                f"Every meter's published offsets agree with its time zone ({len(checks)} "
                "checked).",
            )
        ]
    listed = ", ".join(f"{check.meter_uid} ({check.time_zone_status})" for check in wrong)
    return [Finding("warn", f"Time zone problems: {listed}.")]


def _staleness(account: Account) -> list[Finding]:
    ends = {
        meter.meter_uid: meter.primary.last_local_date
        for meter in account.meters
        if meter.primary is not None and meter.primary.last_local_date is not None
    }
    if not ends:
        return []
    newest = max(ends.values())
    behind = sorted(uid for uid, end in ends.items() if newest - end > STALE_AFTER)
    if not behind:
        return [
            Finding("ok", f"Every meter has data up to within {STALE_AFTER.days} days of {newest}.")
        ]
    return [
        Finding(
            "warn",
            f"{len(behind)} meter(s) have no data in the {STALE_AFTER.days} days before {newest}: "
            f"{', '.join(behind)}.",
        )
    ]
