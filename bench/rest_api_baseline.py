"""The generic alternative: dlt's own `rest_api_source` set up for UtilityAPI as a user would.

Bearer auth, the `next` link paginator, meters → intervals per meter (the parent's `uid` bound
to the `meters` query param), `data_selector: intervals`, and incremental loading the way dlt's
docs show it: a cursor on the objects' `updated` sent as the `start` param, `merge` on `uid`.
Run as `python -m bench.rest_api_baseline '<json spec>'` so it has its own process.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import dlt
import duckdb
from dlt.sources.rest_api import rest_api_source

from .child import peak_rss_bytes

DATASET = "rest_api"
PIPELINE = "rest_api_baseline"
DATAPOINTS = f"{DATASET}.intervals__readings__datapoints"


def source_config(base_url: str, token: str, meter_uids: list[str]) -> dict[str, Any]:
    return {
        "client": {
            "base_url": base_url.rstrip("/") + "/",
            "auth": {"type": "bearer", "token": token},
            "paginator": {"type": "json_link", "next_url_path": "next"},
        },
        "resource_defaults": {"primary_key": "uid", "write_disposition": "merge"},
        "resources": [
            {
                "name": "meters",
                "endpoint": {
                    "path": "meters",
                    "data_selector": "meters",
                    # Only some meters: at this baseline's speed the whole world takes minutes.
                    "params": {"uids": ",".join(meter_uids)},
                },
            },
            {
                "name": "intervals",
                "endpoint": {
                    "path": "intervals",
                    "data_selector": "intervals",
                    "params": {
                        "meters": "{resources.meters.uid}",
                        "start": {
                            "type": "incremental",
                            "cursor_path": "updated",
                            "initial_value": "2000-01-01T00:00:00+00:00",
                        },
                    },
                },
            },
        ],
    }


def run(spec: dict[str, Any]) -> dict[str, Any]:
    db_path = Path(spec["db_path"])
    pipeline = dlt.pipeline(
        pipeline_name=PIPELINE,
        pipelines_dir=str(db_path.with_name(db_path.name + ".pipelines")),
        destination=dlt.destinations.duckdb(str(db_path)),
        dataset_name=DATASET,
    )
    source = rest_api_source(source_config(spec["base_url"], spec["token"], spec["meter_uids"]))
    started = time.perf_counter()
    pipeline.run(source)
    wall = time.perf_counter() - started
    rows = dict(pipeline.last_trace.last_normalize_info.row_counts)
    return {
        "wall_seconds": wall,
        "datapoint_rows": rows.get("intervals__readings__datapoints", 0),
        "row_counts": {k: v for k, v in rows.items() if not k.startswith("_dlt")},
        "peak_rss_bytes": peak_rss_bytes(),
    }


def loaded_keys(db_path: Path) -> tuple[int, set[tuple[Any, ...]]]:
    """Datapoint rows in the baseline's tables and their distinct reading keys."""
    with duckdb.connect(str(db_path), read_only=True) as conn:
        rows = conn.execute(
            f"""
            select i.uid, r.start, d.type, coalesce(d.meter_number, '')
            from {DATASET}.intervals as i
            join {DATASET}.intervals__readings as r on r._dlt_parent_id = i._dlt_id
            join {DATAPOINTS} as d on d._dlt_parent_id = r._dlt_id
            """
        ).fetchall()
    return len(rows), {_key(*row) for row in rows}


def _key(uid: Any, start: Any, type_: Any, number: Any) -> tuple[str, str, str, str]:
    # dlt may have typed `start` as a timestamp: compare instants as UTC ISO strings.
    stamp = start.isoformat() if hasattr(start, "isoformat") else str(start)
    return (str(uid), _utc(stamp), str(type_), str(number))


def _utc(stamp: str) -> str:
    from datetime import UTC, datetime

    return datetime.fromisoformat(stamp).astimezone(UTC).isoformat()


def main() -> None:
    print(json.dumps(run(json.loads(sys.argv[1]))), flush=True)


if __name__ == "__main__":
    main()
