"""Example: load UtilityAPI into DuckDB with the `utilityapi` source (what `dlt init` copies).

Set the token in .dlt/secrets.toml ([sources.utilityapi] api_token) or in the environment
(SOURCES__UTILITYAPI__API_TOKEN); every other setting of the source (rate_limit, lookback_days,
checkpoint_meters, ...) can go in .dlt/config.toml under [sources.utilityapi].
"""

import dlt
from utilityapi import LoadReport, utilityapi


def load_all() -> None:
    """Authorizations, meters, bills and interval readings; only what changed since last time."""
    pipeline = dlt.pipeline(
        # the DuckDB file is named after the pipeline; a file named like the dataset would make
        # DuckDB unable to tell the schema from the database
        pipeline_name="uapi",
        destination="duckdb",
        dataset_name="utilityapi",
    )
    report = LoadReport()
    source = utilityapi(report=report)
    print(pipeline.run(source))
    # With checkpoint_meters set, each run commits that many meters; run again until done.
    while report.remaining:
        print(pipeline.run(source.with_resources("bills", "interval_readings")))
    print(report.as_dict()["plans"])


if __name__ == "__main__":
    load_all()
