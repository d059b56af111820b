"""`uapi webhooks serve` as a person runs it: a process that verifies and stores webhooks."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import httpx

from pipelines.events import Inbox
from sources.utilityapi.notifications import SALT_HEADER, SIGNATURE_HEADER, signature
from tests.support.server import free_port

SECRET = "whsec-cli"


def wait_for(url: str, proc: subprocess.Popen, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(proc.stderr.read() if proc.stderr else "exited")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError(f"{url} did not answer")


def test_serve_verifies_stores_and_refuses(tmp_path):
    port = free_port()
    db = tmp_path / "w.duckdb"
    env = {**os.environ, "UAPI_WEBHOOK_SECRET": SECRET}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pipelines.cli",
            "webhooks",
            "serve",
            "--port",
            str(port),
            "--db",
            str(db),
            "--token",
            "unused-token",
            "--base-url",
            "http://127.0.0.1:9/api/v2",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(f"http://127.0.0.1:{port}/health", proc)
        event = {"uid": "e-1", "type": "ping", "ts": "2026-01-01T00:00:00+00:00"}
        body = json.dumps({"events": [event], "next": None}).encode()
        headers = {SALT_HEADER: "s1", SIGNATURE_HEADER: signature(SECRET, "s1", body)}
        url = f"http://127.0.0.1:{port}/webhook"
        assert httpx.post(url, content=body, headers=headers).status_code == 200
        bad = {SALT_HEADER: "s1", SIGNATURE_HEADER: signature("wrong", "s1", body)}
        assert httpx.post(url, content=body, headers=bad).status_code == 401
        assert httpx.get(f"http://127.0.0.1:{port}/health").json()["total"] == 1
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    assert f"http://127.0.0.1:{port}/webhook" in out
    inbox = Inbox(tmp_path / "w.events.sqlite")
    assert inbox.counts()["total"] == 1
    inbox.close()


def test_serve_without_a_secret_says_where_to_put_it(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "UAPI_WEBHOOK_SECRET"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipelines.cli",
            "webhooks",
            "serve",
            "--token",
            "t",
            "--db",
            str(tmp_path / "w.duckdb"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert done.returncode == 2
    assert "--secret" in done.stderr and "UAPI_WEBHOOK_SECRET" in done.stderr
