"""The end-of-run summary a person reads, the JSON report a scheduler reads, and progress."""

from __future__ import annotations

import json
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from sources.utilityapi import LoadReport

from .pipeline import LoadResult


def activation_command(meter_uids: list[str]) -> str:
    return f"uapi collect historical --meters {','.join(meter_uids)}"


def report_dict(
    result: LoadResult, *, base_url: str, db_path: Path, dataset: str
) -> dict[str, Any]:
    """The JSON run report; it never holds the token."""
    return {
        "finished_at": datetime.now(UTC).isoformat(),
        "status": "ok",
        "base_url": base_url,
        "database": str(db_path),
        "dataset": dataset,
        "duration_seconds": round(result.duration_seconds, 3),
        "rows_loaded": result.row_counts,
        "load_ids": result.load_ids,
        **result.report.as_dict(),
        "transform": _transform_dict(result),
        "activate_not_activated": activation_command([m.uid for m in result.report.not_activated])
        if result.report.not_activated
        else None,
    }


def _transform_dict(result: LoadResult) -> dict[str, Any] | None:
    summary = result.transform
    if result.transform_error:
        return {"error": result.transform_error}
    if summary is None:
        return {"skipped": result.transform_skipped} if result.transform_skipped else None
    return {
        "mode": summary.mode,
        "reason": summary.reason,
        "seconds": round(summary.seconds, 3),
        "meters_recomputed": len(summary.scope),
        "meter_days": summary.meter_days,
        "models": {m.name: m.status for m in summary.models},
        "tests_failed": [t.name for t in summary.tests if t.status in ("fail", "error")],
        "warnings": summary.warnings,
    }


def write_report(report: dict[str, Any], db_path: Path) -> Path:
    folder = Path(db_path).parent / "reports"
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    path = folder / f"load-{stamp}.json"
    text = json.dumps(report, indent=2, default=str)
    path.write_text(text)
    (folder / "last-load.json").write_text(text)
    return path


def format_summary(report: dict[str, Any]) -> str:
    lines = [
        f"Loaded UtilityAPI ({report['base_url']}) into {report['database']} "
        f"(dataset {report['dataset']}) in {report['duration_seconds']:.1f} s",
        "",
    ]
    requests = report.get("requests") or {}
    by_endpoint = requests.get("requests", {})
    lines.append(
        f"Requests: {requests.get('total_requests', 0)}"
        f"   429s: {requests.get('rate_limited', 0)}"
        f"   retries: {sum(requests.get('retries', {}).values())}"
    )
    for endpoint, count in by_endpoint.items():
        lines.append(f"  {endpoint:<36} {count:>8,}")
    lines += ["", "Rows loaded:"]
    rows = report.get("rows_loaded") or {}
    if not rows:
        lines.append("  none (nothing new)")
    for table, count in sorted(rows.items()):
        lines.append(f"  {table:<36} {count:>12,}")
    lines += ["", f"Meters listed: {report.get('meters_listed', 0)}"]
    for kind, plan in (report.get("plans") or {}).items():
        reasons = ", ".join(f"{n} {why}" for why, n in plan.get("reasons", {}).items())
        lines.append(
            f"  {kind}: fetched {plan['fetched']}"
            + (f" ({reasons})" if reasons else "")
            + f", unchanged {plan['unchanged']}, no data yet {plan['empty']}"
            + (
                f", deferred (fetched < 1 min ago) {len(plan['deferred'])}"
                if plan["deferred"]
                else ""
            )
        )
    not_activated = report.get("not_activated_meters") or []
    if not_activated:
        lines += [
            "",
            f"Not activated ({len(not_activated)}): these meters have no data until a historical "
            "collection runs (each collection is charged):",
        ]
        for meter in not_activated:
            lines.append(
                f"  {meter['uid']}  utility {meter.get('utility')}  "
                f"authorization {meter.get('authorization_uid')}"
            )
        lines.append(f"  Activate them with: {report['activate_not_activated']}")
    problems = report.get("problems") or {}
    if problems:
        lines += ["", "Data problems (rows kept, values dropped or coerced):"]
        for table, detail in problems.items():
            for kind, count in detail["counts"].items():
                lines.append(f"  {table}: {count} x {kind}")
    return "\n".join(lines)


def format_transform(summary: Any) -> str:
    """What a transform run did: mode, why, what it recomputed, each model and the warnings."""
    lines = [f"transform: {summary.mode} ({summary.reason}) in {summary.seconds:.2f}s"]
    if summary.scope:
        lines.append(f"  recomputed {len(summary.scope)} meters, {summary.meter_days} meter-days")
    for model in summary.models:
        rows = "" if model.rows_affected is None else f"{model.rows_affected:>10} rows"
        lines.append(f"  {model.name:<28} {model.status:<8} {rows:>15} {model.seconds:6.2f}s")
    if summary.tests:
        passed = sum(1 for t in summary.tests if t.status == "pass")
        lines.append(f"  dbt tests: {passed} of {len(summary.tests)} passed")
    for warning in summary.warnings:
        lines.append(f"  warning: {warning}")
    return "\n".join(lines)


class Progress:
    """A one-line progress display on a terminal, refreshed every second while a load runs."""

    def __init__(self, report: LoadReport, stream: TextIO | None = None) -> None:
        self._report = report
        self._stream = stream or sys.stderr
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._enabled = self._stream.isatty()

    def __enter__(self) -> Progress:
        if self._enabled:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._enabled:
            self._stop.set()
            self._thread.join()
            self._stream.write("\r\033[K")
            self._stream.flush()

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            stats = self._report.client_stats.as_dict() if self._report.client_stats else {}
            rows = self._report.rows_fetched
            self._stream.write(
                f"\r\033[Krequests {stats.get('total_requests', 0):,}  "
                f"429s {stats.get('rate_limited', 0)}  "
                f"readings {rows.get('interval_readings', 0):,}  bills {rows.get('bills', 0):,}"
            )
            self._stream.flush()
