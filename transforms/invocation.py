"""dbt run in this process: dlt's dbt runner supplies the profile, the credentials and the vars,
dbt's Python API (`dbtRunner`) runs the command, and the parsed project is kept for the next run.

dlt's runner would start a new Python for every command: importing dbt, loading the profile and
reading the project back cost seconds of CPU before the first query, every time. Here dbt is
imported once per process and the project parsed once per project version and target, so a
second run (a test session, `uapi webhooks serve`, a notebook) starts at its first query; the
parse is also saved for the next process (a per-user folder in the temp folder), which reads it
back in a tenth of the time a parse takes.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import sys
import tempfile
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, redirect_stdout
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dlt.common.configuration.utils import add_config_to_env
from dlt.common.logger import is_json_logging

if TYPE_CHECKING:
    from dbt.cli.main import dbtRunnerResult
    from dlt.helpers.dbt.runner import DBTPackageRunner

# dbt keeps global state (flags, adapters, its event logger): one command at a time
_LOCK = threading.Lock()
# parsed projects (dbt's msgpack encoding) by what parsing depends on (see _manifest_key); a few
# targets at most. Kept encoded and decoded for each command: dbt marks the nodes of the
# manifest it runs while compiling (ephemeral models' CTEs injected), so a second command on the
# same objects would run meter_intervals_15min without int_slots_resolved's CTE
_MANIFESTS: dict[str, bytes] = {}
_MANIFESTS_KEPT = 4
# parsed projects kept on disk for later processes (about 1 MB each)
_MANIFESTS_SAVED = 16
CREDENTIALS_PREFIX = "DLT__CREDENTIALS__"


def invoke(
    runner: DBTPackageRunner,
    command: str,
    arguments: Sequence[str],
    variables: dict[str, Any],
    profiles_dir: str,
    work_dir: Path,
) -> dbtRunnerResult:
    """Run `dbt <command> <arguments>` on the runner's package and destination; dbt's result.

    The vars are dlt's (`source_dataset_name`...) plus `variables`; dbt's target folder (its
    saved parse, compiled SQL) and log go to `work_dir`.
    """
    from dbt.cli.main import dbtRunner
    from dlt.helpers.dbt.dbt_utils import initialize_dbt_logging

    config = runner.config
    project = [
        "--project-dir",
        runner.package_path,
        "--profiles-dir",
        profiles_dir,
        "--profile",
        config.package_profile_name,
        "--vars",
        json.dumps(runner._get_package_vars(variables), sort_keys=True),
    ]
    paths = ["--target-path", str(work_dir), "--log-path", str(work_dir)]
    log_options = [
        *initialize_dbt_logging(
            config.runtime.log_level, is_json_logging(config.runtime.log_format)
        ),
        "--no-use-colors",
    ]
    # dbt prints its events on stdout, which belongs to the CLI's --json report: stderr here
    with _LOCK, _credentials_in_environment(runner), redirect_stdout(sys.stderr):
        key = _manifest_key(runner.package_path, config.package_profile_name, project)
        encoded = _MANIFESTS.get(key) or _saved_manifest(key)
        manifest = _decoded(encoded) if encoded else None
        if manifest is None:
            parsed = dbtRunner().invoke(
                [*log_options, "parse", "--no-write-json", *project, *paths]
            )
            _release_connections()
            if not parsed.success:
                return parsed
            from dbt.parser.manifest import extended_mashumaro_encoder

            manifest = parsed.result
            encoded = manifest.to_msgpack(extended_mashumaro_encoder)
            _save_manifest(key, encoded)
        _remember(key, encoded)
        try:
            # no manifest.json or run_results.json: the results come back as objects
            return dbtRunner(manifest=manifest).invoke(
                [*log_options, command, "--no-write-json", *project, *paths, *arguments]
            )
        finally:
            _release_connections()


@contextmanager
def _credentials_in_environment(runner: DBTPackageRunner) -> Iterator[None]:
    """The destination's credentials as DLT__CREDENTIALS__* variables, as dlt's runner passes
    them to dbt's profiles, for the duration of one command."""
    saved = os.environ.copy()
    try:
        if runner.credentials:
            add_config_to_env(runner.credentials, ("dlt",))
        yield
    finally:
        # only the keys the command changed: the environment is never empty, even for a moment,
        # for other threads (a receiver's next load reads its configuration from it)
        for key in set(os.environ) - set(saved):
            os.environ.pop(key, None)
        for key, value in saved.items():
            if os.environ.get(key) != value:
                os.environ[key] = value


def _manifest_key(package_path: str, profile: str, project: Sequence[str]) -> str:
    """What a parsed project depends on: its files, the profile and vars, and the connection
    (not the target or log folder). A DuckDB file names its relations by its stem, never by its
    folder, so files of one name share a parse (a test session builds many)."""
    credentials = {k: v for k, v in os.environ.items() if k.startswith(CREDENTIALS_PREFIX)}
    database = credentials.get(f"{CREDENTIALS_PREFIX}DATABASE")
    if profile == "duckdb" and database:
        credentials[f"{CREDENTIALS_PREFIX}DATABASE"] = Path(database).stem
    digest = hashlib.sha256()
    digest.update(json.dumps([list(project), sorted(credentials.items())]).encode())
    digest.update(json.dumps(_dbt_versions(profile)).encode())
    root = Path(package_path)
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.suffix in (".sql", ".yml", ".csv") and _in_project(root, path):
            digest.update(str(path.relative_to(root)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def _dbt_versions(profile: str) -> list[str]:
    """The versions a parse was made with: another dbt or adapter parses again."""
    versions = []
    for package in ("dbt-core", "dbt-adapters", f"dbt-{profile}"):
        try:
            versions.append(f"{package}=={metadata.version(package)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{package} not installed")
    return versions


def _saved_manifests_dir() -> Path | None:
    """Where parsed projects are kept between processes: a folder of this user's in the temp
    folder, used only if this user owns it and nobody else may write it."""
    folder = Path(tempfile.gettempdir()) / f"uapi-dbt-manifests-{os.getuid()}"
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
        info = folder.lstat()
    except OSError:
        return None
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o022:
        return None
    return folder


def _saved_manifest(key: str) -> bytes | None:
    """A project parsed by an earlier process (a new warehouse's first run, every test's `uapi`
    process): a full parse costs about 2 s, reading it back a tenth of that. dbt's own saved
    parse would not do: it is kept per target folder and dropped when the file path changes."""
    folder = _saved_manifests_dir()
    if folder is None:
        return None
    try:
        return (folder / f"{key}.msgpack").read_bytes()
    except OSError:
        return None


def _decoded(encoded: bytes) -> Any | None:
    """A manifest of its own for one command (0.02-0.17 s for this project's); none when the
    bytes are not a manifest of this dbt's (then the project is parsed again)."""
    from dbt.contracts.graph.manifest import Manifest
    from dbt.parser.manifest import extended_mashumuro_decoder

    try:
        manifest = Manifest.from_msgpack(encoded, decoder=extended_mashumuro_decoder)
    except Exception:  # noqa: BLE001 - unreadable or of another shape: parse again
        return None
    manifest.build_flat_graph()
    return manifest


def _save_manifest(key: str, encoded: bytes) -> None:
    folder = _saved_manifests_dir()
    if folder is None:
        return
    path = folder / f"{key}.msgpack"
    partial = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}")
    try:
        partial.write_bytes(encoded)
        os.replace(partial, path)  # readers see the whole file or none
    except OSError:
        partial.unlink(missing_ok=True)
        return
    # a parse per project version and connection: the oldest go once there are many
    try:
        saved = sorted(folder.glob("*.msgpack"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in saved[_MANIFESTS_SAVED:]:
            old.unlink(missing_ok=True)
    except OSError:
        pass  # another process pruned at the same moment


def _in_project(root: Path, path: Path) -> bool:
    top = path.relative_to(root).parts[0]
    return top in ("models", "macros", "seeds", "tests", "dbt_project.yml", "profiles.yml")


def _remember(key: str, encoded: bytes) -> None:
    if key in _MANIFESTS:
        return
    while len(_MANIFESTS) >= _MANIFESTS_KEPT:
        _MANIFESTS.pop(next(iter(_MANIFESTS)))
    _MANIFESTS[key] = encoded


def _release_connections() -> None:
    """Close the DuckDB database dbt opened: dbt-duckdb keeps it open after the command, and
    this process may open the same file again (dlt, a read-only connection) with other
    settings, which DuckDB refuses while it is open."""
    try:
        from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    except ImportError:
        return
    DuckDBConnectionManager.close_all_connections()
