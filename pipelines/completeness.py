"""The completeness check after a load: the warehouse's counts against each meter's listing.

Which meters: those fetched this run, and those whose data was committed but never checked
(a run killed between its load and its check). It reads only the listing (already fetched)
and the warehouse, so a run with nothing new makes no API request for it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

import sqlglot
from dlt.common.schema.utils import has_table_seen_data
from dlt.pipeline.pipeline import Pipeline

from sources.utilityapi.completeness import COMPLETE, SHORT, Loaded, assess
from sources.utilityapi.planning import Kind, fingerprint
from sources.utilityapi.records import to_instant

logger = logging.getLogger(__name__)

TABLE = "meter_completeness"
RESOURCE_OF = {"bills": "bills", "intervals": "interval_readings"}
# Durations from epoch seconds: a difference of wall-clock timestamps would put the readings
# that straddle a DST change in another duration (sqlglot turns date_diff into that on Postgres).
READING_STARTS = """
select meter_uid, epoch(end_at) - epoch(start_at) as seconds,
    count(distinct start_at) as starts, min(start_at) as first_start_at,
    max(end_at) as last_end_at
from interval_readings
where meter_uid in ({uids})
group by meter_uid, epoch(end_at) - epoch(start_at)
"""
BILLS = """
select meter_uid, count(distinct uid) as bills, min(bill_start_at) as first_start_at,
    max(bill_end_at) as last_end_at
from bills
where meter_uid in ({uids})
group by meter_uid
"""
UIDS_PER_QUERY = 500
BILL_COLUMNS = ["meter_uid", "uid", "bill_start_at", "bill_end_at"]


def meter_state(pipeline: Pipeline, kind: Kind) -> dict[str, Any]:
    """The per-meter state the source committed for bills or intervals."""
    resources = pipeline.state.get("sources", {}).get("utilityapi", {}).get("resources", {})
    return dict(resources.get(RESOURCE_OF[kind], {}).get("meters", {}))


def previous_rows(pipeline: Pipeline) -> dict[tuple[str, str], dict[str, Any]]:
    """The completeness rows of earlier runs, by meter and kind."""
    if not _has_data(pipeline, TABLE):
        return {}
    query = f"select meter_uid, kind, listing_fingerprint, status, repaired from {TABLE}"
    rows = _reader(pipeline)(
        query, TABLE, ["meter_uid", "kind", "listing_fingerprint", "status", "repaired"]
    )
    return {
        (str(uid), str(kind)): {"fingerprint": fp, "status": status, "repaired": repaired}
        for uid, kind, fp, status, repaired in rows
    }


def to_check(
    listing: Iterable[Mapping[str, Any]],
    kind: Kind,
    state: Mapping[str, Any],
    fetched: set[str],
    previous: Mapping[tuple[str, str], Mapping[str, Any]],
) -> list[Mapping[str, Any]]:
    """Meters whose committed data for `kind` is current and not yet checked as it is now.

    A meter whose listing changed but was not fetched (deferred, failed) is left for the run
    that fetches it: its warehouse data is behind the listing by design.
    """
    chosen = []
    for meter in listing:
        uid = str(meter.get("uid"))
        digest = fingerprint(meter, kind)
        row = previous.get((uid, kind))
        if uid in fetched:
            chosen.append(meter)
        elif row is not None and row["fingerprint"] == digest:
            continue  # checked already, as the listing is now
        elif _nothing_to_fetch(meter, kind) or (state.get(uid) or {}).get("fingerprint") == digest:
            chosen.append(meter)
    return chosen


def loaded(pipeline: Pipeline, kind: Kind, meter_uids: list[str]) -> dict[str, Loaded]:
    """What the warehouse holds per meter (see `Loaded`)."""
    if not meter_uids or not _has_data(pipeline, RESOURCE_OF[kind]):
        return {}
    return _loaded(_reader(pipeline), kind, meter_uids)


class StepCounts:
    """What the warehouse holds for each step's meters, read as soon as that step commits.

    A step is loaded on a thread while the next one is fetched (overlap.py); reading its
    meters' counts on that thread, right after its load, takes the check's warehouse queries
    off the end of the run (0.8 s of a 10.6 M-reading backfill's tail, reading every meter at
    the end). The counts stay true until the check: a run fetches each meter once per kind,
    and nothing else writes the raw tables while it holds the writer lock. A read that fails is
    logged and left to the check, which reads what was not read here.
    """

    def __init__(self) -> None:
        # kind -> meter -> what its step's load left (None: nothing)
        self._found: dict[str, dict[str, Loaded | None]] = {}

    def reader(
        self, pipeline: Pipeline, step_meters: Mapping[str, list[str]], tables: Iterable[str]
    ) -> Callable[[], None] | None:
        """What to run after the step's load: read its meters of each kind whose table the
        step wrote. Built on the thread that owns the pipeline; None when nothing to read."""
        written = set(tables)
        wanted = {
            kind: list(uids)
            for kind, uids in step_meters.items()
            if uids and kind in RESOURCE_OF and RESOURCE_OF[kind] in written
        }
        if not wanted or pipeline.destination.destination_name == "filesystem":
            return None
        query = _reader(pipeline)

        def read() -> None:
            for kind, uids in wanted.items():
                try:
                    found = _loaded(query, kind, uids)  # type: ignore[arg-type]
                except Exception as exc:  # noqa: BLE001 - the check reads these meters again
                    logger.warning("could not count the step's %s yet: %s", kind, exc)
                    continue
                known = self._found.setdefault(kind, {})
                known.update({uid: found.get(uid) for uid in uids})

        return read

    def loaded(self, pipeline: Pipeline, kind: Kind, meter_uids: list[str]) -> dict[str, Loaded]:
        """As `loaded`, reading the warehouse only for meters not read after their step."""
        known = self._found.get(kind, {})
        found = {uid: n for uid in meter_uids if (n := known.get(uid)) is not None}
        found.update(loaded(pipeline, kind, [uid for uid in meter_uids if uid not in known]))
        return found


Query = Callable[[str, str, list[str]], list[tuple]]


def _loaded(query: Query, kind: Kind, meter_uids: list[str]) -> dict[str, Loaded]:
    table = RESOURCE_OF[kind]
    found: dict[str, Loaded] = {}
    for i in range(0, len(meter_uids), UIDS_PER_QUERY):
        chunk = meter_uids[i : i + UIDS_PER_QUERY]
        uids = ", ".join(_literal(uid) for uid in chunk)
        template = READING_STARTS if kind == "intervals" else BILLS
        columns = ["meter_uid", "start_at", "end_at"] if kind == "intervals" else BILL_COLUMNS
        rows = query(template.format(uids=uids), table, columns)
        if kind == "intervals":
            found.update(_primary_duration(rows))
        else:
            found.update(
                {str(uid): Loaded(int(n), _utc(first), _utc(last)) for uid, n, first, last in rows}
            )
    return found


def assess_meters(
    meters: Iterable[Mapping[str, Any]],
    kind: Kind,
    found: Mapping[str, Loaded],
    state: Mapping[str, Any],
    *,
    now: datetime,
    repaired: set[str] = frozenset(),  # type: ignore[assignment]
) -> list[dict[str, Any]]:
    rows = []
    for meter in meters:
        uid = str(meter.get("uid"))
        window = to_instant((state.get(uid) or {}).get("window_start"))
        rows.append(
            assess(
                meter, kind, found.get(uid), now=now, window_start=window, repaired=uid in repaired
            )
        )
    return rows


def needs_repair(
    rows: Iterable[Mapping[str, Any]], previous: Mapping[tuple[str, str], Any]
) -> set[str]:
    """Short meters not already repaired once for the data the listing shows now."""
    short = set()
    for row in rows:
        if row["status"] != SHORT:
            continue
        before = previous.get((row["meter_uid"], row["kind"]))
        tried = (
            before and before["repaired"] and before["fingerprint"] == row["listing_fingerprint"]
        )
        if not tried:
            short.add(row["meter_uid"])
    return short


def summary(rows: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """For the run report: how many of each status, and every shortfall in full."""
    counts: dict[str, int] = {}
    shortfalls = []
    for row in rows:
        counts[row["status"]] = counts.get(row["status"], 0) + 1
        if row["status"] == SHORT:
            shortfalls.append(
                {
                    "meter_uid": row["meter_uid"],
                    "kind": row["kind"],
                    "expected": row["expected_count"],
                    "loaded": row["loaded_count"],
                    "detail": row["detail"],
                    "repaired": row["repaired"],
                }
            )
    return {"checked": counts, "shortfalls": shortfalls, "complete": counts.get(COMPLETE, 0)}


def _has_data(pipeline: Pipeline, table: str) -> bool:
    """Whether rows were ever loaded into `table` (dlt creates a table with its first rows)."""
    schema = pipeline.default_schema
    return table in schema.tables and has_table_seen_data(schema.tables[table])


def _nothing_to_fetch(meter: Mapping[str, Any], kind: Kind) -> bool:
    """Not activated or empty: nothing is ever fetched, but the row says why."""
    from sources.utilityapi.planning import COUNT_FIELD
    from sources.utilityapi.records import is_not_activated

    return is_not_activated(meter) or not meter.get(COUNT_FIELD[kind])


def _primary_duration(rows: list[tuple]) -> dict[str, Loaded]:
    """Per meter, the duration with the most reading starts: what `interval_count` counts."""
    best: dict[str, tuple] = {}
    for uid, _seconds, starts, first, last in rows:
        key = str(uid)
        if key not in best or starts > best[key][0]:
            best[key] = (starts, first, last)
    return {uid: Loaded(int(n), _utc(first), _utc(last)) for uid, (n, first, last) in best.items()}


def _reader(pipeline: Pipeline) -> Query:
    """Runs DuckDB-dialect SQL over one raw table, in the warehouse (transpiled to its dialect).

    Delta tables of the filesystem destination are read with the deltalake library in a
    local DuckDB: dlt's own reader would download DuckDB's delta extension, which a machine
    without internet access cannot.
    """
    if pipeline.destination.destination_name == "filesystem":

        def from_delta(sql: str, table: str, columns: list[str]) -> list[tuple]:
            import duckdb
            from dlt.common.libs.deltalake import get_delta_tables

            # only the columns the check needs; deltalake's own filters trip over its string views
            delta = get_delta_tables(pipeline, table)[table]
            with duckdb.connect() as con:
                con.register(table, delta.to_pyarrow_table(columns=columns))
                return con.execute(sql).fetchall()

        return from_delta
    dataset = pipeline.dataset()
    dialect = dataset.destination_dialect

    def from_warehouse(sql: str, table: str, columns: list[str]) -> list[tuple]:
        query = (
            sql if dialect == "duckdb" else sqlglot.transpile(sql, read="duckdb", write=dialect)[0]
        )
        return dataset.query(query).fetchall()

    return from_warehouse


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _utc(value: Any) -> datetime | None:
    return to_instant(value) if value is not None else None
