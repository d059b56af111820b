"""`uapi sandbox serve` prints where it listens and answers curl."""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from sandbox import SandboxConfig
from sandbox.cli import add_serve_arguments, config_from_args
from sandbox.modes import DEFAULT_UNEXPANDED, Modes


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _curl(*args: str) -> tuple[int, dict[str, str], str]:
    out = subprocess.run(
        ["curl", "-s", "-i", *args], capture_output=True, text=True, timeout=30, check=True
    ).stdout
    head, _, body = out.replace("\r\n", "\n").partition("\n\n")
    lines = head.splitlines()
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body


def _curl_burst(url: str, times: int) -> list[tuple[int, dict[str, str]]]:
    """`url` asked `times` times by one curl on one connection: each answer's status, headers."""
    out = subprocess.run(
        ["curl", "-s", "-D", "-", *[arg for _ in range(times) for arg in ("-o", "/dev/null", url)]],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    answers = []
    for head in out.replace("\r\n", "\n").split("\n\n"):
        lines = head.strip().splitlines()
        if lines:
            headers = {k.lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
            answers.append((int(lines[0].split()[1]), headers))
    assert len(answers) == times, out
    return answers


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_uapi_sandbox_serve_answers_curl() -> None:
    port = _free_port()
    uapi = Path(sys.executable).parent / "uapi"
    proc = subprocess.Popen(
        [
            str(uapi),
            "sandbox",
            "serve",
            "--port",
            str(port),
            "--token",
            "T0K",
            "--seed",
            "3",
            "--scale",
            "test",
            "--now",
            "2026-06-01T00:00:00+00:00",
            "--rate-limit",
            "5",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(4)]
        base = f"http://127.0.0.1:{port}/api/v2"
        assert f"base URL: {base}\n" in lines and "token:    T0K\n" in lines
        status, headers, body = _curl(f"{base}/meters?limit=2", "-H", "Authorization: Bearer T0K")
        assert status == 200 and headers["content-type"] == "application/json"
        page = json.loads(body)
        assert len(page["meters"]) == 2 and page["next"].startswith(f"{base}/meters?limit=2&after=")
        status, _, body = _curl(f"{base}/meters")
        assert status == 401 and json.loads(body)["error"] == "invalid_token"
        status, _, body = _curl(f"{base}/intervals?access_token=T0K")
        assert status == 400 and json.loads(body)["error"] == "required_param_missing"
        # 5 requests a second with bursts of 5: ten on one connection, from one curl, arrive
        # within milliseconds, so some are refused whatever else the machine is doing
        burst = _curl_burst(f"{base}/templates?access_token=T0K", 10)
        refused = [headers for status, headers in burst if status == 429]
        assert refused and {status for status, _ in burst} <= {200, 429}
        assert all(headers["retry-after"].isdigit() for headers in refused)
        status, _, body = _curl(f"http://127.0.0.1:{port}/_sandbox/clock")
        assert status == 200 and json.loads(body)["now"] == "2026-06-01T00:00:00.000000+00:00"
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(15) == 0
        assert proc.stdout is not None
        proc.stdout.close()


def _serve_args(*flags: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_serve_arguments(parser)
    return parser.parse_args(list(flags))


def test_every_mode_has_a_flag_and_no_flag_keeps_the_defaults() -> None:
    assert config_from_args(_serve_args()) == SandboxConfig(port=8765)
    cfg = config_from_args(
        _serve_args(
            "--limit-caps",
            "--start-filters-objects",
            "--next-drops-filters",
            "--incomplete-after",
            "25",
            "--unexpanded-meters",
            "--unexpanded-style",
            "nulls",
            "--webhook-signature",
            "indented",
            "--page-repeat-rate",
            "0.3",
            "--growing-objects",
            "--growing-chunk-days",
            "20",
            "--events-require-webhook",
            "--bandwidth-mb-s",
            "none",
            "--webhook",
            "http://127.0.0.1:9/a",
            "s1",
            "--webhook",
            "http://127.0.0.1:9/b",
            "s2",
        )
    )
    assert cfg.modes == Modes(
        limit_caps=True,
        start_filters_objects=True,
        next_drops_filters=True,
        incomplete_after=25,
        unexpanded_utilities=DEFAULT_UNEXPANDED,
        unexpanded_style="nulls",
        webhook_signature="indented",
        page_repeat_rate=0.3,
    )
    assert cfg.growing_objects and cfg.growing_chunk_days == 20 and cfg.events_require_webhook
    assert cfg.bandwidth_mb_s is None
    assert cfg.webhook_endpoints == [("http://127.0.0.1:9/a", "s1"), ("http://127.0.0.1:9/b", "s2")]
    named = config_from_args(_serve_args("--unexpanded-meters", "SCE,COMED"))
    assert named.unexpanded_utilities == ("SCE", "COMED")
    # The flags' config survives the JSON a child process is started with.
    assert SandboxConfig.from_json(json.loads(json.dumps(cfg.to_json()))) == cfg


def test_the_uapi_command_loads_the_server_only_when_it_serves_one() -> None:
    # a fresh interpreter: `uapi` (any command) imports sandbox.cli for its arguments, and a
    # load against UtilityAPI must not pay for the server's modules at start-up
    probe = (
        "import sys, pipelines.cli\n"
        "loaded = [m for m in ('sandbox.facade', 'sandbox.server', 'starlette') if m in sys.modules]\n"
        "assert loaded == [], loaded\n"
        "from sandbox import RequestRecord, Sandbox, Truth\n"
        "assert 'sandbox.facade' in sys.modules and Sandbox.__name__ == 'Sandbox'\n"
        "assert Truth.__name__ == 'Truth' and RequestRecord.__name__ == 'RequestRecord'\n"
    )
    repo = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=repo, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr[-2000:]
    import sandbox

    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        sandbox.Nope  # noqa: B018
