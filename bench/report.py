"""Headline figures from the raw runs, and the markdown table of bench/results.md."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

MIB = 1024 * 1024


@dataclass(frozen=True)
class Figure:
    key: str
    label: str
    values: list[float]
    unit: str = ""
    target: str = ""
    check: Callable[[float], bool] | None = None
    digits: int = 2

    def as_dict(self) -> dict[str, Any]:
        med = self.median
        return {
            "label": self.label,
            "median": med,
            "min": min(self.values) if self.values else None,
            "max": max(self.values) if self.values else None,
            "runs": self.values,
            "unit": self.unit,
            "target": self.target or None,
            "met": self.check(med) if self.check and med is not None else None,
            "digits": self.digits,
        }

    @property
    def median(self) -> float | None:
        return statistics.median(self.values) if self.values else None


HEADLINES = (
    "backfill_ratio_to_floor",
    "requests_to_fewest_ratio",
    "unchanged_meter_requests",
    "speedup_vs_rest_api",
    "ratio_to_duckdb_json",
    "memory_growth",
    "peak_rss_mib_10m",
    "transform_ratio",
)


def summarize(results: dict[str, Any]) -> dict[str, Any]:
    figures = {f.key: f for f in _figures(results)}
    summary: dict[str, Any] = {
        key: figures[key].median if key in figures else None for key in HEADLINES
    }
    summary["generated_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    summary["figures"] = {key: f.as_dict() for key, f in figures.items()}
    summary.update(results)
    return summary


def _figures(r: dict[str, Any]) -> list[Figure]:
    back = r["backfill_runs"]
    b = [run["backfill"] for run in back]
    floor = r["backfill_world"]["min_requests"]
    tp = r["throughput"]
    ours = [x["readings_per_second"] for x in tp["ours"]]
    rest = [x["readings_per_second"] for x in tp["rest_api"]]
    duck = [x["readings_per_second"] for x in tp["duckdb_json"]]
    small = [x["peak_rss_bytes"] for x in r["memory_small_runs"]]
    big = [x["peak_rss_bytes"] for x in b]
    huge = [x["peak_rss_bytes"] for x in r.get("memory_large_runs", [])]
    sizes = list(zip(small, big, huge, strict=True)) if huge else list(zip(small, big, strict=True))
    figs = [
        Figure("backfill_readings", "1 · readings loaded", [x["readings"] for x in b], digits=0),
        Figure(
            "backfill_requests", "1 · requests made", [x["client_requests"] for x in b], digits=0
        ),
        Figure(
            "backfill_min_requests",
            "1 · fewest requests the data allows (1000/page)",
            [floor] * len(b),
            digits=0,
        ),
        Figure(
            "requests_to_fewest_ratio",
            "1 · requests made ÷ fewest possible",
            [x["client_requests"] / floor for x in b],
            "×",
            "≤ 5",
            lambda v: v <= 5,
        ),
        Figure(
            "backfill_mib",
            "1 · MiB received",
            [x.get("bytes_received", 0) / MIB for x in b],
            digits=0,
        ),
        Figure("backfill_wall", "1 · wall time", [x["wall_seconds"] for x in b], "s", digits=1),
        Figure(
            "backfill_request_floor",
            "1 · requests ÷ 50/s",
            [x.get("request_floor_seconds", x["floor_seconds"]) for x in b],
            "s",
            digits=1,
        ),
        Figure(
            "backfill_bytes_floor",
            "1 · bytes ÷ 50 MB/s (one shared link)",
            [x.get("bytes_floor_seconds", 0.0) for x in b],
            "s",
            digits=1,
        ),
        Figure(
            "backfill_floor",
            "1 · floor: max(requests ÷ 50/s, bytes ÷ 50 MB/s) + 250 ms",
            [x["floor_seconds"] for x in b],
            "s",
            digits=1,
        ),
        Figure(
            "backfill_ratio_to_floor",
            "1 · wall ÷ floor",
            [x["ratio_to_floor"] for x in b],
            "×",
            "≤ 1.10",
            lambda v: v <= 1.10,
        ),
        Figure(
            "backfill_client_cpu",
            "1 · client CPU time (all threads)",
            [x["cpu_seconds"] for x in b],
            "s",
            digits=1,
        ),
        Figure(
            "backfill_sandbox_cpu",
            "1 · sandbox CPU time (its own process)",
            [x["sandbox_cpu_seconds"] for x in b],
            "s",
            digits=1,
        ),
        Figure(
            "backfill_other_cpu",
            "1 · CPU used by other processes on the machine meanwhile",
            [x.get("other_cpu_seconds", 0.0) for x in b],
            "s",
            digits=1,
        ),
        Figure("backfill_429", "1 · 429 answers", [x["status_429"] for x in b], digits=0),
        Figure(
            "unchanged_meter_requests",
            "2 · bills/intervals requests for unchanged meters (both incremental runs)",
            [
                run["nothing_new"]["unchanged_meter_requests"]
                + run["k_new"]["unchanged_meter_requests"]
                for run in back
            ],
            target="0",
            check=lambda v: v == 0,
            digits=0,
        ),
        Figure(
            "nothing_new_requests",
            "2 · requests, run with nothing new",
            [sum(run["nothing_new"]["sandbox_requests_by_endpoint"].values()) for run in back],
            digits=0,
        ),
        Figure(
            "k_new_meters",
            "2 · meters whose listing changed (k run)",
            [len(run["k_new"]["meters_with_new_data"]) for run in back],
            digits=0,
        ),
        Figure(
            "k_new_requests",
            "2 · requests, run with k meters changed",
            [sum(run["k_new"]["sandbox_requests_by_endpoint"].values()) for run in back],
            digits=0,
        ),
        Figure(
            "ours_readings_per_second",
            "3 · connector readings/s (run_load, end to end)",
            ours,
            "/s",
            digits=0,
        ),
        Figure(
            "ours_other_cpu",
            "3 · CPU used by other processes during the connector's runs",
            [x.get("other_cpu_seconds", 0.0) for x in tp["ours"]],
            "s",
            digits=1,
        ),
        Figure(
            "rest_api_readings_per_second",
            "3 · rest_api_source datapoint rows/s",
            rest,
            "/s",
            digits=0,
        ),
        Figure(
            "duckdb_json_readings_per_second",
            "3 · DuckDB read_json flattening rows/s",
            duck,
            "/s",
            digits=0,
        ),
        Figure(
            "speedup_vs_rest_api",
            "3 · connector ÷ rest_api_source",
            [a / b_ for a, b_ in zip(ours, rest, strict=True)],
            "×",
            "≥ 100",
            lambda v: v >= 100,
        ),
        Figure(
            "ratio_to_duckdb_json",
            "3 · connector ÷ DuckDB JSON",
            [a / b_ for a, b_ in zip(ours, duck, strict=True)],
            "×",
            "≥ 1.0",
            lambda v: v >= 1.0,
        ),
        Figure(
            "rest_api_lost_rows",
            "3 · rest_api incremental: rows lost vs sandbox",
            [tp["rest_api_incremental"]["lost_rows"]],
            digits=0,
        ),
        Figure(
            "rest_api_duplicated_rows",
            "3 · rest_api incremental: rows duplicated",
            [tp["rest_api_incremental"]["duplicated_rows"]],
            digits=0,
        ),
        Figure(
            "memory_small_readings",
            "4 · readings, ≈1 M load",
            [x["readings"] for x in r["memory_small_runs"]],
            digits=0,
        ),
        Figure(
            "memory_small_rss",
            "4 · peak RSS, ≈1 M readings",
            [v / MIB for v in small],
            "MiB",
            digits=0,
        ),
        Figure(
            "peak_rss_mib_10m",
            "4 · peak RSS, ≈10 M readings (scenario 1)",
            [v / MIB for v in big],
            "MiB",
            "≤ 600",
            lambda v: v <= 600,
            digits=0,
        ),
        Figure(
            "memory_large_readings",
            "4 · readings, ≈30 M load",
            [x["readings"] for x in r.get("memory_large_runs", [])],
            digits=0,
        ),
        Figure(
            "memory_huge_rss",
            "4 · peak RSS, ≈30 M readings",
            [v / MIB for v in huge],
            "MiB",
            digits=0,
        ),
        Figure(
            "memory_other_cpu",
            "4 · CPU used by other processes during the ≈1 M and ≈30 M loads",
            [
                x.get("other_cpu_seconds", 0.0)
                for x in [*r["memory_small_runs"], *r.get("memory_large_runs", [])]
            ],
            "s",
            digits=1,
        ),
        Figure(
            "memory_growth",
            "4 · peak RSS largest ÷ smallest of the three sizes",
            [max(run) / min(run) for run in sizes],
            "×",
            "≤ 1.3",
            lambda v: v <= 1.3,
        ),
    ]
    figs += _transform_figures(back)
    return figs


def _transform_figures(back: list[dict[str, Any]]) -> list[Figure]:
    done = [run["after_backfill"] for run in back if "transform_seconds" in run["after_backfill"]]
    if not done:
        return []
    inc = [run["after_increment"] for run in back if "meter_days" in run["after_increment"]]
    figs = [
        Figure(
            "transform_seconds",
            "5 · transforms full build",
            [x["transform_seconds"] for x in done],
            "s",
        ),
        Figure(
            "ctas_seconds",
            "5 · DuckDB create table as select * (raw readings)",
            [x["ctas_seconds"] for x in done],
            "s",
        ),
        Figure(
            "transform_ratio",
            "5 · build ÷ copy",
            [x["transform_seconds"] / x["ctas_seconds"] for x in done],
            "×",
            "≤ 3",
            lambda v: v <= 3,
        ),
    ]
    if all("transform_models_seconds" in x for x in done):
        figs += [
            Figure(
                "transform_models_seconds",
                "5 · of the build: the models' SQL",
                [x["transform_models_seconds"] for x in done],
                "s",
            ),
            Figure(
                "transform_tests_seconds",
                "5 · of the build: the dbt tests",
                [x["transform_tests_seconds"] for x in done],
                "s",
            ),
            Figure(
                "transform_dbt_fixed_seconds",
                "5 · of the build: dbt's fixed cost (process, parse, per-node)",
                [x["transform_dbt_fixed_seconds"] for x in done],
                "s",
            ),
            Figure(
                "transform_models_ratio",
                "5 · models' SQL ÷ copy",
                [x["transform_models_seconds"] / x["ctas_seconds"] for x in done],
                "×",
            ),
            Figure(
                "transform_sql_ratio",
                "5 · models' and tests' SQL (the build without dbt's fixed cost) ÷ copy",
                [
                    (x["transform_models_seconds"] + x["transform_tests_seconds"])
                    / x["ctas_seconds"]
                    for x in done
                ],
                "×",
            ),
        ]
    if inc:
        figs += [
            Figure(
                "transform_incremental_seconds",
                "5 · incremental transform after the k-meter load",
                [x["seconds"] for x in inc],
                "s",
            ),
            Figure(
                "transform_incremental_meters",
                "5 · meters recomputed (k run)",
                [len(x["meters_recomputed"]) for x in inc],
                digits=0,
            ),
            Figure(
                "transform_extra_meters",
                "5 · meters recomputed that the load did not touch",
                [len(x["extra_meters"]) for x in inc],
                target="0",
                check=lambda v: v == 0,
                digits=0,
            ),
            Figure(
                "loaded_meter_days",
                "5 · meter-days the load wrote (7-day lookback)",
                [x["loaded_meter_days"] for x in inc],
                digits=0,
            ),
            Figure(
                "transform_incremental_meter_days",
                "5 · meter-days recomputed",
                [x["meter_days"] for x in inc],
                digits=0,
            ),
            Figure(
                "transform_meter_days_beyond_scope",
                "5 · meter-days recomputed beyond loaded + 3/meter margin",
                [x["meter_days_beyond_scope"] for x in inc],
                target="0",
                check=lambda v: v == 0,
                digits=0,
            ),
            Figure(
                "total_meter_days",
                "5 · meter-days in the database",
                [x["total_meter_days"] for x in inc],
                digits=0,
            ),
        ]
    return figs


def _fmt(value: float | None, digits: int) -> str:
    if value is None:
        return "–"
    if digits == 0:
        return f"{value:,.0f}"
    return f"{value:,.{digits}f}"


def markdown(s: dict[str, Any]) -> str:
    m = s["machine"]
    v = m["versions"]
    lines = [
        "# Benchmark results",
        "",
        f"Generated by `python -m bench` ({s['mode']}, {s['runs']} run(s) per scenario) on "
        f"{s['generated_at']} in {s['total_seconds']:.0f} s, commit {m['commit']}.",
        "",
        f"Machine: {m['cpu_model']}, {m['cores']} cores, {m['ram_gib']} GiB RAM, {m['os']}; "
        f"Python {m['python']}, dlt {v['dlt']}, duckdb {v['duckdb']}, pyarrow {v['pyarrow']}, "
        f"httpx {v['httpx']}, orjson {v['orjson']}.",
        "",
        f"Worlds (sandbox seed 7, clock fixed at 2026-06-01): scenarios 1, 2, 4 (large), 5: "
        f"{_world(s['backfill_world'])}; scenario 4: {_world(s['memory_small_world'])} and "
        f"{_world(s['memory_large_world'])}; "
        f"scenario 3: {_world(s['throughput_world'])}, rest_api_source on "
        f"{len(s['throughput']['rest_api_meters'])} of its meters.",
        "",
        "| figure | median | min – max | target | met |",
        "|---|---:|---:|---:|:-:|",
    ]
    for f in s["figures"].values():
        digits = f.get("digits", 2)
        met = {True: "yes", False: "**no**", None: ""}[f["met"]]
        unit = f" {f['unit']}" if f["unit"] and f["unit"] not in ("×", "/s") else f["unit"]
        lines.append(
            f"| {f['label']} | {_fmt(f['median'], digits)}{unit} | "
            f"{_fmt(f['min'], digits)} – {_fmt(f['max'], digits)} | {f['target'] or ''} | {met} |"
        )
    lines += ["", "## Headline medians (results.json top level)", ""]
    for key in HEADLINES:
        lines.append(f"- `{key}`: {_fmt(s.get(key), 3)}")
    lines += ["", *_details(s), ""]
    return "\n".join(lines)


def _world(w: dict[str, Any]) -> str:
    return f"{w['meters']} meters × {w['days']} days"


def _details(s: dict[str, Any]) -> list[str]:
    first = s["backfill_runs"][0]
    b = first["backfill"]
    objects = s["backfill_world"]["objects"]
    out = [
        "## Details (first run)",
        "",
        "Scenario 1 — objects the world serves: "
        + ", ".join(f"{k} {v:,}" for k, v in objects.items())
        + f"; fewest requests at 1000 per page: {s['backfill_world']['min_requests']}.",
        "",
        "Requests by endpoint (client / sandbox log): "
        + _endpoints(b["requests"]["requests"], b["sandbox_requests_by_endpoint"]),
        "",
        "dlt steps (s): " + ", ".join(f"{k} {v:.1f}" for k, v in b["steps"].items()),
        "",
        "Scenario 2 — run with nothing new: "
        + _endpoints(
            first["nothing_new"]["client_requests_by_endpoint"],
            first["nothing_new"]["sandbox_requests_by_endpoint"],
        ),
        "",
        f"Run with {len(first['k_new']['meters_with_new_data'])} meters changed: "
        + _endpoints(
            first["k_new"]["client_requests_by_endpoint"],
            first["k_new"]["sandbox_requests_by_endpoint"],
        ),
        "",
    ]
    inc = s["throughput"]["rest_api_incremental"]
    out += [
        f"Scenario 3 — rest_api_source incremental run a day later: sandbox serves "
        f"{inc['truth_rows']:,} datapoint rows for its meters, the baseline holds "
        f"{inc['loaded_rows']:,}: {inc['lost_rows']:,} lost, {inc['duplicated_rows']:,} "
        f"duplicated, {inc['rows_not_served']:,} no longer served.",
        "",
        f"Pages saved for DuckDB: {s['throughput']['pages']['files']:,} files, "
        f"{s['throughput']['pages']['bytes'] / MIB:,.0f} MiB.",
    ]
    return out


def _endpoints(client: dict[str, int], sandbox: dict[str, int]) -> str:
    keys = sorted(set(client) | set(sandbox))
    return ", ".join(f"`{k}` {client.get(k, 0)}/{sandbox.get(k, 0)}" for k in keys) or "none"
