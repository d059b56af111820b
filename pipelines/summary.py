"""The end-of-run summary a person reads and the JSON run report a scheduler reads."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from .outcome import Outcome
from .pipeline import LoadResult, Target

REPORT_RETENTION_DAYS = 30.0


def activation_command(meter_uids: list[str]) -> str:
    return f"uapi collect historical --meters {','.join(meter_uids)}"


def report_dict(result: LoadResult, *, base_url: str, target: Target) -> dict[str, Any]:
    """The JSON run report of a load that committed something; it never holds the token."""
    outcome = result.outcome
    report = result.report
    return {
        "status": outcome.status,
        "exit_code": outcome.exit_code,
        "finished_at": datetime.now(UTC).isoformat(),
        **_where(base_url, target),
        "duration_seconds": round(result.duration_seconds, 3),
        "rows_loaded": result.row_counts,
        "load_ids": result.load_ids,
        "steps": [
            {"load_id": s.load_id, "rows": s.row_counts, "seconds": round(s.seconds, 3)}
            for s in result.steps
        ],
        "leftover_packages": result.leftovers,
        "stopped_by": result.failure,
        "shortfalls": report.shortfalls,
        "meters_remaining": report.remaining,
        **report.as_dict(),
        "transform": _transform_dict(result),
        "activate_not_activated": activation_command([m.uid for m in report.not_activated])
        if report.not_activated
        else None,
    }


def failure_dict(
    outcome: Outcome, message: str, *, base_url: str | None, target: Target | None, extra: Any
) -> dict[str, Any]:
    """The JSON report of a run that committed nothing (failed, locked or bad input)."""
    return {
        "status": outcome.status,
        "exit_code": outcome.exit_code,
        "finished_at": datetime.now(UTC).isoformat(),
        "error": message,
        **(_where(base_url, target) if target is not None else {}),
        **(extra or {}),
    }


def _where(base_url: str | None, target: Target) -> dict[str, Any]:
    return {
        "base_url": base_url,
        "destination": target.destination,
        "database": str(target.db_path) if target.is_duckdb else None,
        "dataset": target.dataset,
        # the filesystem destination's analytics tables live in a DuckDB file of their own
        **({"analytics_database": str(target.analytics_db)} if target.analytics_db else {}),
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


def reports_dir(target: Target) -> Path:
    base = target.db_path.parent if target.is_duckdb else target.working_dir
    return base / "reports"


def write_report(
    report: dict[str, Any],
    folder: Path,
    *,
    keep_days: float = REPORT_RETENTION_DAYS,
    now: datetime | None = None,
) -> Path:
    """Write the report (readable by its owner only) and prune reports older than `keep_days`."""
    now = now or datetime.now(UTC)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = folder / f"load-{now.strftime('%Y%m%dT%H%M%S%fZ')}.json"
    text = json.dumps(report, indent=2, default=str)
    _write_private(path, text)
    _write_private(folder / "last-load.json", text)
    prune_reports(folder, keep_days, now)
    return path


def prune_reports(folder: Path, keep_days: float, now: datetime) -> list[Path]:
    """Delete run reports written more than `keep_days` before `now` (by their name's time)."""
    cutoff = now - timedelta(days=keep_days)
    removed = []
    for path in folder.glob("load-*.json"):
        try:
            written = datetime.strptime(path.stem[len("load-") :], "%Y%m%dT%H%M%S%fZ")
        except ValueError:
            continue
        if written.replace(tzinfo=UTC) < cutoff:
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.chmod(path, 0o600)


def format_summary(report: dict[str, Any]) -> str:
    where = report["database"] or report["destination"]
    lines = [
        f"Loaded UtilityAPI ({report['base_url']}) into {where} "
        f"(dataset {report['dataset']}) in {report['duration_seconds']:.1f} s: "
        f"{report['status'].upper()}",
        "",
    ]
    lines += _leftover_lines(report)
    lines += _request_lines(report.get("requests") or {})
    lines += ["", "Rows loaded:"]
    rows = report.get("rows_loaded") or {}
    if not rows:
        lines.append("  none (nothing new)")
    for table, count in sorted(rows.items()):
        lines.append(f"  {table:<36} {count:>12,}")
    steps = report.get("steps") or []
    if len(steps) > 1:
        lines.append(f"  committed in {len(steps)} checkpoint steps")
    lines += ["", f"Meters listed: {report.get('meters_listed', 0)}"]
    for kind, plan in (report.get("plans") or {}).items():
        lines.append(_plan_line(kind, plan))
    lines += _completeness_lines(report.get("completeness") or {})
    lines += _not_activated_lines(report)
    lines += _shortfall_lines(report)
    problems = report.get("problems") or {}
    if problems:
        lines += ["", "Data problems (rows kept, values dropped or coerced):"]
        for table, detail in problems.items():
            for kind, count in detail["counts"].items():
                lines.append(f"  {table}: {count} x {kind}")
    return "\n".join(lines)


def _leftover_lines(report: dict[str, Any]) -> list[str]:
    leftovers = report.get("leftover_packages") or []
    if not leftovers:
        return []
    return [
        "Packages left by an earlier run (completed exactly once, or discarded to be fetched "
        "again):",
        *(f"  {line}" for line in leftovers),
        "",
    ]


def _request_lines(requests: dict[str, Any]) -> list[str]:
    lines = [
        f"Requests: {requests.get('total_requests', 0)}"
        f"   429s: {requests.get('rate_limited', 0)}"
        f"   retries: {sum(requests.get('retries', {}).values())}"
    ]
    for endpoint, count in requests.get("requests", {}).items():
        lines.append(f"  {endpoint:<36} {count:>8,}")
    return lines


def _plan_line(kind: str, plan: dict[str, Any]) -> str:
    reasons = ", ".join(f"{n} {why}" for why, n in plan.get("reasons", {}).items())
    line = (
        f"  {kind}: fetched {plan['fetched']}"
        + (f" ({reasons})" if reasons else "")
        + f", unchanged {plan['unchanged']}, no data yet {plan['empty']}"
    )
    if plan.get("failed"):
        line += f", FAILED {len(plan['failed'])}"
    if plan.get("deferred"):
        line += f", deferred (fetched < 1 min ago) {len(plan['deferred'])}"
    return line


def _completeness_lines(completeness: dict[str, Any]) -> list[str]:
    checked = completeness.get("checked") or {}
    if not checked:
        return []
    counts = ", ".join(f"{status} {n}" for status, n in sorted(checked.items()))
    lines = [f"  checked against the listing's counts and coverage: {counts}"]
    for short in completeness.get("shortfalls") or []:
        repaired = " after one repair" if short["repaired"] else ""
        lines.append(
            f"  SHORT{repaired}: {short['kind']} of meter {short['meter_uid']}: "
            f"UtilityAPI lists {short['expected']:,}, the warehouse holds {short['loaded']:,} "
            f"({short['detail']})"
        )
    return lines


def _not_activated_lines(report: dict[str, Any]) -> list[str]:
    not_activated = report.get("not_activated_meters") or []
    if not not_activated:
        return []
    lines = [
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
    return lines


def _shortfall_lines(report: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    for kind, plan in (report.get("plans") or {}).items():
        for uid, error in (plan.get("failed") or {}).items():
            lines.append(f"  {kind} of meter {uid} failed: {error}")
        if plan.get("deferred"):
            lines.append(
                f"  {kind} of meters {', '.join(plan['deferred'])} were fetched less than a "
                "minute ago (UtilityAPI asks for at most one request per meter per minute); "
                "the next run gets them"
            )
    for resource, error in (report.get("failed_resources") or {}).items():
        lines.append(f"  {resource} failed: {error}")
    for listing, objects in (report.get("quarantined") or {}).items():
        for uid, reason in objects.items():
            lines.append(f"  {listing} {uid} set aside, not loaded: {reason}")
    if report.get("meters_remaining"):
        lines.append(f"  {report['meters_remaining']} meter(s) not reached; the next run resumes")
    if report.get("stopped_by"):
        lines.append(f"  the load stopped early: {report['stopped_by']}")
    if not lines:
        return []
    return ["", "Not complete (the next run retries these):", *lines]


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
