"""Mutation testing of the modules where a silent bug costs most, one module at a time.

    python -m tests.support.mutate                 # every module below (what `make mutate` runs)
    python -m tests.support.mutate planning lock   # some of them
    python -m tests.support.mutate --keep planning # reuse the last run's results (mutmut's cache)
    python -m tests.support.mutate limiter --tests tests/source/test_client.py  # other tests

For each module, mutmut (3.x) plants small bugs one at a time (a `<` made `<=`, a constant
changed, a call dropped…) and runs the tests that exercise the mutated function; a mutant the
tests do not notice *survived*. Each module gets its own work folder, `.mutmut/<module>/`, with
a mutmut configuration naming only that module and the tests chosen for it below (fast ones
that use the real parts: the sandbox over loopback, the real client), so its results and cache
stay apart from the others'. Each run starts afresh (mutmut keeps a mutant's verdict until its
code changes, so after new tests an old "survived" would stay); `--keep` reuses them. The
summary goes to `.mutmut/report.md`; survivors can be read
with `cd .mutmut/<module> && mutmut show <name>` (or `mutmut browse`).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WORK = ROOT / ".mutmut"
# Copied into each work folder (as symlinks mutmut copies from): the code and the tests.
CODE = ("sources", "pipelines", "sandbox", "transforms")
TESTS = "tests"


@dataclass(frozen=True)
class Target:
    module: str
    tests: tuple[str, ...]
    # e.g. a per-test timeout, so a mutant that deadlocks fails fast instead of waiting for
    # mutmut's own (much longer) timeout
    pytest_args: tuple[str, ...] = ()


TARGETS: dict[str, Target] = {
    "planning": Target(
        "sources/utilityapi/planning.py",
        ("tests/source/test_planning.py", "tests/source/test_incremental_requests.py"),
    ),
    "limiter": Target(
        "sources/utilityapi/limiter.py",
        ("tests/source/test_limiter.py", "tests/source/test_client.py"),
    ),
    "readings": Target(
        "sources/utilityapi/readings.py",
        ("tests/source/test_readings.py", "tests/source/test_readings_truth.py"),
    ),
    "notifications": Target(
        "sources/utilityapi/notifications.py",
        ("tests/pipelines/test_webhook_signatures.py", "tests/pipelines/test_receiver.py"),
    ),
    "lock": Target("pipelines/lock.py", ("tests/pipelines/test_lock.py",)),
    "context": Target("sources/utilityapi/context.py", ("tests/source/test_context.py",)),
    "fetch": Target(
        "sources/utilityapi/fetch.py", ("tests/source/test_fetch.py",), ("--timeout=20",)
    ),
}

STATUS = re.compile(r"^\s*(?P<name>\S+__mutmut_\d+): (?P<status>.+?)\s*$")


def config_toml(target: Target) -> str:
    """pyproject.toml of a work folder: mutmut's settings and the project's pytest settings."""
    mutmut = {
        "source_paths": list(CODE),
        "also_copy": [TESTS],
        "only_mutate": [target.module],
        "pytest_add_cli_args_test_selection": list(target.tests),
        "pytest_add_cli_args": ["-p", "no:cacheprovider", *target.pytest_args],
        # the sandbox tests are seconds each: leave a slow machine room before a timeout
        "timeout_multiplier": 20.0,
        "timeout_constant": 10.0,
    }
    pytest = {
        "addopts": "-ra --strict-markers",
        "timeout": 300,
        "markers": ["slow: longer integration tests (still part of the default run)"],
        "filterwarnings": ["ignore::DeprecationWarning:dlt.*"],
    }
    lines = ["[tool.mutmut]"]
    lines += [f"{key} = {json.dumps(value)}" for key, value in mutmut.items()]
    lines += ["", "[tool.pytest.ini_options]"]
    lines += [f"{key} = {json.dumps(value)}" for key, value in pytest.items()]
    return "\n".join(lines) + "\n"


def prepare(name: str, target: Target, keep: bool) -> Path:
    work = WORK / name
    work.mkdir(parents=True, exist_ok=True)
    if not keep:
        shutil.rmtree(work / "mutants", ignore_errors=True)
    for folder in (*CODE, TESTS):
        link = work / folder
        if not link.is_symlink():
            link.symlink_to(ROOT / folder, target_is_directory=True)
    config = work / "pyproject.toml"
    text = config_toml(target)
    if config.exists() and config.read_text() != text:
        # another selection of tests: results of the old one would mislead
        shutil.rmtree(work / "mutants", ignore_errors=True)
    config.write_text(text)
    return work


def run(name: str, keep: bool = False) -> dict[str, object]:
    target = TARGETS[name]
    work = prepare(name, target, keep)
    mutmut = str(Path(sys.executable).with_name("mutmut"))
    # The tests run from a copy in the work folder: point them at ../shared (or where it is),
    # and make a missing prerequisite fail rather than skip (a skipped test kills no mutant).
    shared = os.environ.get("UAPI_SHARED_DIR") or str(ROOT.parent / "shared")
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "UAPI_SHARED_DIR": shared, "CI": "true"}
    started = time.monotonic()
    print(f"== {name}: mutating {target.module} against {', '.join(target.tests)}", flush=True)
    with (work / "run.log").open("w") as log:
        code = subprocess.run(
            [mutmut, "run"], cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT
        ).returncode
    seconds = time.monotonic() - started
    results = subprocess.run(
        [mutmut, "results", "--all", "true"], cwd=work, env=env, capture_output=True, text=True
    ).stdout
    statuses = {m["name"]: m["status"] for m in map(STATUS.match, results.splitlines()) if m}
    counts = Counter(statuses.values())
    survivors = sorted(n for n, s in statuses.items() if s in ("survived", "no tests"))
    print(
        f"   {len(statuses)} mutants in {seconds:.0f} s: "
        + ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
        + ("" if code == 0 else f" (mutmut exited {code}; see {work / 'run.log'})"),
        flush=True,
    )
    for survivor in survivors:
        print(f"   {statuses[survivor]}: {survivor}")
    result = {
        "module": target.module,
        "tests": list(target.tests),
        "mutants": len(statuses),
        "counts": dict(counts),
        "survivors": survivors,
        "seconds": round(seconds),
        "exit_code": code,
    }
    (work / "result.json").write_text(json.dumps(result, indent=2))
    return result


def write_report() -> Path:
    """`.mutmut/report.md`: the latest result of every module run so far."""
    results = {
        name: json.loads((WORK / name / "result.json").read_text())
        for name in TARGETS
        if (WORK / name / "result.json").exists()
    }
    lines = [
        "# Mutation testing",
        "",
        "| module | mutants | killed | survived | no tests | timeout | other | seconds |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results.values():
        counts: dict[str, int] = r["counts"]  # type: ignore[assignment]
        known = ("killed", "survived", "no tests", "timeout")
        other = sum(n for s, n in counts.items() if s not in known)
        row = [str(r["module"]), str(r["mutants"])]
        row += [str(counts.get(s, 0)) for s in known] + [str(other), str(r["seconds"])]
        lines.append("| " + " | ".join(row) + " |")
    for name, r in results.items():
        lines += ["", f"## {name}: survivors", ""]
        lines += [f"- `{s}`" for s in r["survivors"]] or ["none"]  # type: ignore[attr-defined]
    report = WORK / "report.md"
    report.write_text("\n".join(lines) + "\n")
    return report


def main(argv: list[str]) -> int:
    keep = "--keep" in argv
    argv = [a for a in argv if a != "--keep"]
    tests: tuple[str, ...] = ()
    if "--tests" in argv:
        at = argv.index("--tests")
        tests = tuple(argv[at + 1].split(","))
        argv = argv[:at] + argv[at + 2 :]
    names = argv or list(TARGETS)
    unknown = [n for n in names if n not in TARGETS]
    if unknown:
        print(f"unknown module(s) {', '.join(unknown)}; choose from {', '.join(TARGETS)}")
        return 2
    for name in names if tests else ():
        TARGETS[name] = Target(TARGETS[name].module, tests, TARGETS[name].pytest_args)
    results = {name: run(name, keep) for name in names}
    print(f"report: {write_report()}")
    return 0 if all(r["exit_code"] == 0 for r in results.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
