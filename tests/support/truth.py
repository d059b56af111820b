"""An independent truth for load tests: the rows a load must hold, from the API's JSON alone.

Everything here is plain Python over the JSON the sandbox serves (pages fetched over HTTP, or
`sb.truth` dicts): `datetime.fromisoformat`, no import from `sources/`, so a bug in the loader's
parsing cannot cancel out in its own test. `compare` reports, per key, what is missing, extra or
duplicated in a warehouse table and, column by column, what differs.

    rows = interval_rows(sb.truth.intervals(meter_uid))
    result = compare_table(con, "utilityapi.interval_readings", rows, READINGS_KEY)
    assert result.ok, result.summary()
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import httpx

READING_COLUMNS = (
    "meter_uid",
    "authorization_uid",
    "interval_uid",
    "start_at",
    "end_at",
    "utc_offset_minutes",
    "end_utc_offset_minutes",
    "type",
    "unit",
    "value",
    "meter_number",
    "interval_updated_at",
    "interval_created_at",
)
# One row per reading and datapoint of an Interval object (the raw table's grain).
READINGS_KEY = ("interval_uid", "start_at", "type", "meter_number")
# One row per reading start, type and meter number of a meter, whichever object carried it.
RESOLVED_KEY = ("meter_uid", "start_at", "end_at", "type", "meter_number")

# The bill's base block, lifted to columns: local dates become instants (+ local date and the
# start's offset), totals numbers; every other base attribute is kept as sent.
BILL_BASE_TEXT = (
    "service_identifier",
    "service_tariff",
    "service_class",
    "service_address",
    "billing_contact",
    "billing_address",
    "billing_account",
    "bill_total_unit",
)
BILL_NUMBERS = ("bill_total_cost", "bill_total_volume", "bill_total_kwh")
BILL_DATES = ("bill_start_date", "bill_end_date", "bill_statement_date")
# Lists kept whole in JSON columns; other nested blocks (tou, demand, suppliers…) go to
# `other_blocks`; these three become child tables.
BILL_JSON = ("notes", "blocks")
BILL_CHILDREN = ("line_items", "tiers", "sources")
BILL_COLUMNS = (
    "uid",
    "meter_uid",
    "authorization_uid",
    "utility",
    "created_at",
    "updated_at",
    *BILL_BASE_TEXT,
    "meter_numbers",
    *BILL_JSON,
    "other_blocks",
    "note_types",
    "has_strange_note",
    "bill_start_at",
    "bill_start_local",
    "bill_utc_offset_minutes",
    "bill_end_at",
    "bill_end_local",
    "bill_statement_at",
    *BILL_NUMBERS,
)
BILLS_KEY = ("uid",)
# Child tables of bills: one row per element of the bill's list, in the order sent.
BILL_CHILD_KEY = ("bill_uid", "position")


# --- fetching the JSON --------------------------------------------------------------------------


def fetch_all(client: httpx.Client, path: str, key: str, **params: Any) -> list[dict[str, Any]]:
    """Every object of a listing, following `next`; an object listed twice is kept once."""
    found: dict[str, dict[str, Any]] = {}
    url: str | None = path
    query: dict[str, Any] | None = params
    while url is not None:
        response = client.get(url, params=query)
        response.raise_for_status()
        body = response.json()
        for item in body[key]:
            found.setdefault(str(item["uid"]), item)
        url, query = body["next"], None
    return list(found.values())


# --- expected rows ------------------------------------------------------------------------------


def instant(text: str | None) -> datetime | None:
    """An ISO 8601 timestamp with an offset as an aware UTC datetime."""
    if text is None:
        return None
    return datetime.fromisoformat(text).astimezone(UTC)


def offset_minutes(text: str) -> int:
    offset = datetime.fromisoformat(text).utcoffset()
    if offset is None:
        raise ValueError(f"timestamp without an offset: {text!r}")
    return int(offset.total_seconds() // 60)


def interval_rows(objects: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """interval_readings rows of Interval objects: one per reading and datapoint.

    A reading without datapoints but with the legacy `kwh` is one `net` row in `kwh`; type and
    unit are lower case; a missing meter_number is ''.
    """
    rows = []
    for obj in objects:
        for reading in obj.get("readings") or ():
            datapoints = reading.get("datapoints") or ()
            if not datapoints and reading.get("kwh") is not None:
                datapoints = ({"type": "net", "unit": "kwh", "value": reading["kwh"]},)
            for dp in datapoints:
                rows.append(_reading_row(obj, reading, dp))
    return rows


def _reading_row(
    obj: Mapping[str, Any], reading: Mapping[str, Any], dp: Mapping[str, Any]
) -> dict[str, Any]:
    unit = dp.get("unit")
    value = dp.get("value")
    return {
        "meter_uid": str(obj["meter_uid"]),
        "authorization_uid": obj.get("authorization_uid"),
        "interval_uid": str(obj["uid"]),
        "start_at": instant(reading["start"]),
        "end_at": instant(reading["end"]),
        "utc_offset_minutes": offset_minutes(reading["start"]),
        "end_utc_offset_minutes": offset_minutes(reading["end"]),
        "type": str(dp.get("type") or "unknown").lower(),
        "unit": unit.lower() if isinstance(unit, str) else None,
        "value": None if value is None else float(value),
        "meter_number": dp.get("meter_number") or "",
        "interval_updated_at": instant(obj.get("updated")),
        "interval_created_at": instant(obj.get("created")),
    }


def resolved(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The final readings: per RESOLVED_KEY, the row of the latest-updated object (ties: the
    greater interval uid), as a consumer resolves re-publications and re-keyed objects."""
    best: dict[tuple[Any, ...], Mapping[str, Any]] = {}
    for row in rows:
        key = tuple(row[c] for c in RESOLVED_KEY)
        held = best.get(key)
        if held is None or _rank(row) > _rank(held):
            best[key] = row
    return [dict(row) for row in best.values()]


def _rank(row: Mapping[str, Any]) -> tuple[datetime, str]:
    return (row["interval_updated_at"], row["interval_uid"])


def bill_rows(bills: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """bills rows: identity, `created_at`/`updated_at`, the base block lifted (dates as UTC
    instants plus the local date, and the start's offset), totals as numbers, notes and blocks
    as JSON, what the notes say (`note_types`, `has_strange_note`) and any other nested block
    in `other_blocks`."""
    rows = []
    for bill in bills:
        base = dict(bill.get("base") or {})
        start, end = base.get("bill_start_date"), base.get("bill_end_date")
        other = {
            k: v
            for k, v in bill.items()
            if isinstance(v, dict | list) and k not in ("base", *BILL_JSON, *BILL_CHILDREN)
        }
        row: dict[str, Any] = {
            "uid": str(bill["uid"]),
            "meter_uid": str(bill["meter_uid"]),
            "authorization_uid": bill.get("authorization_uid"),
            "utility": bill.get("utility"),
            "created_at": instant(bill.get("created")),
            "updated_at": instant(bill.get("updated")),
            **dict.fromkeys((*BILL_BASE_TEXT, "meter_numbers")),
            **{
                name: value
                for name, value in base.items()
                if name not in BILL_DATES and name not in BILL_NUMBERS
            },
            **{name: bill.get(name) for name in BILL_JSON},
            "other_blocks": other or None,
            **_note_columns(bill.get("notes")),
            "bill_start_at": instant(start),
            "bill_start_local": _local_date(start),
            "bill_utc_offset_minutes": None if start is None else offset_minutes(start),
            "bill_end_at": instant(end),
            "bill_end_local": _local_date(end),
            "bill_statement_at": instant(base.get("bill_statement_date")),
        }
        for name in BILL_NUMBERS:
            value = base.get(name)
            row[name] = None if value is None else float(value)
        rows.append(row)
    return rows


def _note_columns(notes: Any) -> dict[str, Any]:
    """`note_types`: the distinct note types, lower case, sorted, comma-joined ('' for none);
    `has_strange_note`: one of them says the data failed a check (`…strange…`)."""
    types = sorted({str(n["type"]).strip().lower() for n in notes or () if n.get("type")})
    return {"note_types": ",".join(types), "has_strange_note": any("strange" in t for t in types)}


def bill_child_rows(bills: Iterable[Mapping[str, Any]], child: str) -> list[dict[str, Any]]:
    """Rows of a bill's child table (`line_items`, `tiers`, `sources`): every key of each
    element, `start`/`end` as UTC instants `start_at`/`end_at`, amounts as numbers."""
    rows = []
    for bill in bills:
        for position, item in enumerate(bill.get(child) or ()):
            row: dict[str, Any] = {"bill_uid": str(bill["uid"]), "position": position}
            for name, value in item.items():
                if name in ("start", "end"):
                    row[f"{name}_at"] = instant(value)
                elif name in ("cost", "volume", "rate") and value is not None:
                    row[name] = float(value)
                else:
                    row[name] = value
            rows.append(row)
    return rows


def bill_child_relation(schema: str, child: str) -> str:
    """A query over a dlt child table of bills with BILL_CHILD_KEY, for `compare_table`."""
    return (
        f"(select parent.uid as bill_uid, child._dlt_list_idx as position, child.* "
        f"from {schema}.bills__{child} as child "
        f"join {schema}.bills as parent on child._dlt_parent_id = parent._dlt_id)"
    )


def _local_date(text: str | None) -> date | None:
    return None if text is None else datetime.fromisoformat(text).date()


# --- comparing with a table ---------------------------------------------------------------------


@dataclass
class Comparison:
    """How a table's rows differ from the expected ones, by key and by column."""

    key: tuple[str, ...]
    expected_rows: int
    actual_rows: int
    missing: list[tuple[Any, ...]] = field(default_factory=list)
    extra: list[tuple[Any, ...]] = field(default_factory=list)
    # Keys held more than once, with how many times.
    duplicated: dict[tuple[Any, ...], int] = field(default_factory=dict)
    # Per column: (key, expected, actual) where a row with the key holds another value.
    changed: dict[str, list[tuple[tuple[Any, ...], Any, Any]]] = field(default_factory=dict)
    # Expected columns the table does not have (not compared).
    absent_columns: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (
            self.missing or self.extra or self.duplicated or self.changed or self.absent_columns
        )

    def changed_counts(self) -> dict[str, int]:
        return {column: len(diffs) for column, diffs in self.changed.items()}

    def summary(self, examples: int = 3) -> str:
        """One line of counts, then a few examples of each kind of difference."""
        lines = [
            f"{self.expected_rows} expected, {self.actual_rows} loaded: {len(self.missing)} "
            f"missing, {len(self.extra)} extra, {len(self.duplicated)} duplicated, changed "
            f"{self.changed_counts() or 'none'}, absent columns {self.absent_columns or 'none'}"
        ]
        for name, keys in (("missing", self.missing), ("extra", self.extra)):
            lines += [f"  {name} {k}" for k in keys[:examples]]
        lines += [f"  duplicated {k} x{n}" for k, n in list(self.duplicated.items())[:examples]]
        for column, diffs in self.changed.items():
            lines += [f"  {column} {k}: {e!r} != {a!r}" for k, e, a in diffs[:examples]]
        return "\n".join(lines)


def compare(
    expected: Iterable[Mapping[str, Any]],
    actual: Iterable[Mapping[str, Any]],
    key: Sequence[str],
    columns: Sequence[str] | None = None,
) -> Comparison:
    """Compare rows by `key`; every expected column (or `columns`) is checked for equality.

    Timestamps are compared as UTC instants (a naive one is read as UTC); numbers exactly.
    Expected rows must be unique by key (a ValueError says which are not).
    """
    key = tuple(key)
    wanted = _index(expected, key, "expected")
    held: dict[tuple[Any, ...], list[Mapping[str, Any]]] = {}
    actual_count = 0
    present: set[str] = set()
    for row in actual:
        actual_count += 1
        present |= set(row)
        held.setdefault(tuple(_norm(row[c]) for c in key), []).append(row)
    names = list(columns) if columns is not None else _columns(wanted.values())
    result = Comparison(key, len(wanted), actual_count)
    if actual_count:
        result.absent_columns = [c for c in names if c not in present]
    checked = [c for c in names if c not in key and c not in result.absent_columns]
    result.missing = sorted((k for k in wanted if k not in held), key=repr)
    result.extra = sorted((k for k in held if k not in wanted), key=repr)
    result.duplicated = {k: len(rows) for k, rows in held.items() if len(rows) > 1}
    for k, row in wanted.items():
        for other in held.get(k, ()):
            for column in checked:
                if _norm(row.get(column)) != _norm(other.get(column)):
                    result.changed.setdefault(column, []).append(
                        (k, row.get(column), other.get(column))
                    )
    return result


def _index(
    rows: Iterable[Mapping[str, Any]], key: tuple[str, ...], what: str
) -> dict[tuple[Any, ...], Mapping[str, Any]]:
    index: dict[tuple[Any, ...], Mapping[str, Any]] = {}
    counts: Counter[tuple[Any, ...]] = Counter()
    for row in rows:
        k = tuple(_norm(row[c]) for c in key)
        counts[k] += 1
        index[k] = row
    repeated = [k for k, n in counts.items() if n > 1]
    if repeated:
        raise ValueError(f"{what} rows repeat {len(repeated)} keys, e.g. {repeated[0]}")
    return index


def _columns(rows: Iterable[Mapping[str, Any]]) -> list[str]:
    names: dict[str, None] = {}
    for row in rows:
        names.update(dict.fromkeys(row))
    return list(names)


def _norm(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value


def table_rows(con: Any, relation: str, columns: Sequence[str] | None = None) -> Iterator[dict]:
    """Rows of a DuckDB table or view (or a parenthesised query) as dicts, with UTC timestamps
    and JSON columns decoded."""
    con.execute("set TimeZone = 'UTC'")
    selected = "*" if columns is None else ", ".join(f'"{c}"' for c in columns)
    cursor = con.execute(f"select {selected} from {relation}")
    names = [d[0] for d in cursor.description]
    json_columns = {d[0] for d in cursor.description if str(d[1]) == "JSON"}
    while batch := cursor.fetchmany(10_000):
        for values in batch:
            row = dict(zip(names, values, strict=True))
            for name in json_columns:
                if isinstance(row[name], str):
                    row[name] = json.loads(row[name])
            yield row


def compare_table(
    con: Any,
    relation: str,
    expected: Iterable[Mapping[str, Any]],
    key: Sequence[str],
    columns: Sequence[str] | None = None,
) -> Comparison:
    """`compare` against a DuckDB table, view or parenthesised query (dlt's `_dlt_*` columns
    and any other column not expected are ignored)."""
    expected = list(expected)
    names = list(columns) if columns is not None else _columns(expected)
    present = {d[0] for d in con.execute(f"select * from {relation} limit 0").description}
    result = compare(
        expected, table_rows(con, relation, [c for c in names if c in present]), key, names
    )
    result.absent_columns = [c for c in names if c not in present]
    return result
