"""A throwaway PostgreSQL server for the test session: real, local, stopped at the end.

Started from the server binaries of Debian's postgresql-15 package (.ci/run installs it when
missing), as an unprivileged user since initdb refuses root, on a free TCP port of 127.0.0.1,
with its data under a temporary folder. When it cannot start, tests that need it skip with the
reason, except in CI (CI=true), where the session fails: a warehouse test must not pass by
not running.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.require import require

BIN_DIRS = (Path("/usr/lib/postgresql/15/bin"), *sorted(Path("/usr/lib/postgresql").glob("*/bin")))
SERVER_USER = "nobody"  # any unprivileged account works; Debian always has this one
DATABASE = "uapi"
# TCP connections need this password (scram-sha-256), so a wrong one is refused as in real life
PASSWORD = "uapi-test-password"


class PostgresUnavailable(RuntimeError):
    """The server could not be started; the message says why."""


@dataclass(frozen=True)
class PostgresServer:
    host: str
    port: int
    user: str = "postgres"
    database: str = DATABASE
    password: str = PASSWORD

    @property
    def dsn(self) -> str:
        """A connection string dlt and psycopg2 accept."""
        return self.dsn_with(self.password)

    def dsn_with(self, password: str) -> str:
        return f"postgresql://{self.user}:{password}@{self.host}:{self.port}/{self.database}"


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    try:
        bin_dir = _bin_dir()
        folder = Path(tempfile.mkdtemp(prefix="uapi-postgres-"))
    except PostgresUnavailable as reason:
        _unavailable(str(reason))
    try:
        server = _start(bin_dir, folder)
    except PostgresUnavailable as reason:
        shutil.rmtree(folder, ignore_errors=True)
        _unavailable(str(reason))
    try:
        yield server
    finally:
        _run(bin_dir / "pg_ctl", "-D", str(folder / "data"), "-m", "immediate", "stop", check=False)
        shutil.rmtree(folder, ignore_errors=True)


def _unavailable(reason: str) -> None:
    require(False, f"no PostgreSQL server for the warehouse tests: {reason} (.ci/run installs it)")


def _bin_dir() -> Path:
    for folder in BIN_DIRS:
        if (folder / "initdb").exists() and (folder / "pg_ctl").exists():
            return folder
    raise PostgresUnavailable(
        "server binaries not found in /usr/lib/postgresql/*/bin (apt-get install postgresql-15)"
    )


def _start(bin_dir: Path, folder: Path) -> PostgresServer:
    if os.geteuid() == 0:
        # initdb refuses root: the server's files and process belong to an unprivileged user
        account = pwd.getpwnam(SERVER_USER)
        os.chown(folder, account.pw_uid, account.pw_gid)
    data = folder / "data"
    port = _free_port()
    password_file = folder / "password"
    password_file.write_text(PASSWORD + "\n")
    if os.geteuid() == 0:
        os.chown(password_file, account.pw_uid, account.pw_gid)
    _run(
        bin_dir / "initdb",
        "-D",
        str(data),
        "-U",
        "postgres",
        "--auth-local=trust",
        "--auth-host=scram-sha-256",
        f"--pwfile={password_file}",
        "-E",
        "UTF8",
        "--no-sync",
        "--locale=C",
    )
    _run(
        bin_dir / "pg_ctl",
        "-D",
        str(data),
        "-l",
        str(folder / "server.log"),
        "-w",
        "-t",
        "60",
        "-o",
        f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off "
        "-c synchronous_commit=off -c full_page_writes=off",
        "start",
    )
    _run(bin_dir / "createdb", "-h", str(folder), "-p", str(port), "-U", "postgres", DATABASE)
    return PostgresServer("127.0.0.1", port)


def _run(*command: object, check: bool = True) -> None:
    user = SERVER_USER if os.geteuid() == 0 else None
    done = subprocess.run(
        [str(part) for part in command],
        user=user,
        capture_output=True,
        text=True,
        cwd="/",
        timeout=120,
    )
    if check and done.returncode != 0:
        raise PostgresUnavailable(
            f"{Path(str(command[0])).name} failed ({done.returncode}): "
            f"{(done.stderr or done.stdout).strip()[-2000:]}"
        )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
