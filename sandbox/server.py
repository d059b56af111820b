"""Running the sandbox: uvicorn in a background thread, or a child process off the caller's GIL."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import Any

import uvicorn

from .config import SandboxConfig
from .control import SandboxApp

STARTUP_TIMEOUT = 30.0
SHUTDOWN_TIMEOUT = 10.0


def bind(host: str, port: int) -> socket.socket:
    """A bound socket (port 0 picks a free one) handed to uvicorn, so the port is known early."""
    # proto must be IPPROTO_TCP: asyncio only sets TCP_NODELAY on accepted sockets whose proto
    # says TCP, and without it every keep-alive response waits ~40 ms for a delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    # Listen at once: clients told the URL may connect before uvicorn's loop is up.
    sock.listen(2048)
    return sock


def uvicorn_config(app: SandboxApp, host: str) -> uvicorn.Config:
    # h11 is pinned because fault injection reaches the connection through it (see faults.py).
    return uvicorn.Config(
        app,
        host=host,
        log_level="warning",
        access_log=False,
        http="h11",
        loop="asyncio",
        lifespan="on",
        timeout_graceful_shutdown=2,
    )


class ServerThread:
    """uvicorn serving an app on 127.0.0.1:<free port> from a daemon thread."""

    def __init__(self, app: SandboxApp, host: str = "127.0.0.1", port: int = 0) -> None:
        self._sock = bind(host, port)
        self.host = host
        self.port = self._sock.getsockname()[1]
        self.server = uvicorn.Server(uvicorn_config(app, host))
        self._thread = threading.Thread(target=self._run, name=f"sandbox:{self.port}", daemon=True)
        self._error: BaseException | None = None

    def _run(self) -> None:
        try:
            self.server.run(sockets=[self._sock])
        except BaseException as exc:  # surfaced by start()
            self._error = exc

    def start(self) -> None:
        self._thread.start()
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not self.server.started:
            if self._error is not None or not self._thread.is_alive():
                raise RuntimeError(f"sandbox server failed to start: {self._error!r}")
            if time.monotonic() > deadline:
                raise RuntimeError("sandbox server did not start in time")
            time.sleep(0.01)

    def stop(self) -> None:
        self.server.should_exit = True
        self._thread.join(SHUTDOWN_TIMEOUT)
        self._sock.close()


class ServerProcess:
    """`python -m sandbox serve` in a child process; reads its ready line for the URL."""

    def __init__(self, cfg: SandboxConfig) -> None:
        self.cfg = cfg
        self.proc: subprocess.Popen[str] | None = None
        self.ready: dict[str, Any] = {}

    def start(self) -> dict[str, Any]:
        cmd = [
            sys.executable,
            "-m",
            "sandbox",
            "serve",
            "--config-json",
            json.dumps(self.cfg.to_json()),
            "--ready-json",
        ]
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"}
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            code = self.proc.wait(SHUTDOWN_TIMEOUT)
            raise RuntimeError(f"sandbox process exited with {code} before it was ready")
        self.ready = json.loads(line)
        return self.ready

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGINT)  # uvicorn shuts down gracefully on SIGINT
        try:
            self.proc.wait(SHUTDOWN_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(SHUTDOWN_TIMEOUT)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
