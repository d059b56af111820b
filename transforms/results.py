"""What a transform run did, from the results dbt returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

# the source test on the raw key of interval_readings (models/staging/_sources.yml)
RAW_DUPLICATES_TEST = "source_unique_combination_utilityapi_interval_readings"


class TransformError(RuntimeError):
    """A model or an error-severity dbt test failed; the message names it and dbt's reason.

    Models built before the failure keep their new rows (each model is its own transaction);
    the failed model keeps its previous table, and the loads are not marked processed, so the
    next run recomputes the same meter-days.
    """

    def __init__(self, message: str, result: TransformResult | None = None) -> None:
        super().__init__(message)
        self.result = result


@dataclass(frozen=True)
class ModelResult:
    """One model (or seed) of a run."""

    name: str
    status: str  # "success", "error", "skipped"
    rows_affected: int | None
    seconds: float
    message: str | None = None


@dataclass(frozen=True)
class TestResult:
    """One dbt test of a run."""

    name: str
    status: str  # "pass", "warn", "fail", "error", "skipped"
    failures: int | None
    message: str | None
    seconds: float = 0.0


@dataclass(frozen=True)
class MeterDays:
    """Days of one meter that a run recomputed, inclusive."""

    meter_uid: str
    from_local_date: date
    to_local_date: date

    @property
    def days(self) -> int:
        return (self.to_local_date - self.from_local_date).days + 1


@dataclass
class TransformResult:
    """What a run did: its mode and why, each model and test, and what it recomputed."""

    mode: str  # "full", "incremental" or "noop"
    reason: str
    seconds: float = 0.0
    models: list[ModelResult] = field(default_factory=list)
    tests: list[TestResult] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    scope: list[MeterDays] = field(default_factory=list)  # meter-days recomputed, when known
    test_seconds: float = 0.0

    @property
    def meters_recomputed(self) -> list[str]:
        return sorted(scope.meter_uid for scope in self.scope)

    @property
    def meter_days(self) -> int:
        return sum(scope.days for scope in self.scope)

    @property
    def sql_seconds(self) -> float:
        """Time dbt spent running models, seeds and tests; the rest of `seconds` is dbt's own
        start-up (process, parsing, connecting) and ours."""
        return sum(m.seconds for m in self.models) + self.test_seconds

    def model(self, name: str) -> ModelResult:
        return next(m for m in self.models if m.name == name)


def node_results(results: Any) -> tuple[list[ModelResult], list[TestResult], float]:
    """Models and tests from dbt's results of a command, and the seconds the tests took."""
    models: list[ModelResult] = []
    tests: list[TestResult] = []
    test_seconds = 0.0
    for node_result in getattr(results, "results", None) or []:
        node = node_result.node
        status = _text(node_result.status)
        seconds = float(node_result.execution_time or 0.0)
        kind = _text(node.resource_type)
        if kind == "test":
            tests.append(
                TestResult(node.name, status, node_result.failures, node_result.message, seconds)
            )
            test_seconds += seconds
        elif kind in ("model", "seed"):
            models.append(
                ModelResult(node.name, status, _rows(node_result), seconds, node_result.message)
            )
    return models, tests, test_seconds


def warnings_of(tests: list[TestResult]) -> list[str]:
    """A sentence for each warn-severity test that found something."""
    warnings = []
    for test in tests:
        if test.status != "warn":
            continue
        if test.name.startswith(RAW_DUPLICATES_TEST):
            warnings.append(
                f"utilityapi.interval_readings holds {test.failures} datapoint key(s) "
                "(interval_uid, start_at, type, meter_number) loaded more than once; "
                "only the copy of the newest load is used"
            )
        else:
            warnings.append(f"dbt test {test.name} warns: {test.message}")
    return warnings


def failure_message(models: list[ModelResult], tests: list[TestResult], raw: Any) -> str:
    """What failed, in dbt's words."""
    failed = [f"model {m.name} failed: {m.message}" for m in models if m.status == "error"]
    failed += [
        f"test {t.name} {t.status}: {t.message}" for t in tests if t.status in ("fail", "error")
    ]
    if not failed:
        return f"dbt failed: {raw}"
    return "; ".join(failed)


def _rows(node_result: Any) -> int | None:
    rows = (node_result.adapter_response or {}).get("rows_affected")
    return rows if isinstance(rows, int) and rows >= 0 else None


def _text(value: Any) -> str:
    """dbt's enums (statuses, node types) as their plain names."""
    return str(getattr(value, "value", value))
