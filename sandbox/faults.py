"""Misbehaviour on demand for /api/v2: 5xx pages, dropped connections, cut bodies, slow, 429s."""

from __future__ import annotations

import asyncio
import random
import socket
import struct
import threading
from typing import Any

from .config import FaultConfig

HTML_PAGES = {
    500: b"<html><head><title>500 Internal Server Error</title></head><body><h1>Internal Server "
    b"Error</h1><p>The server encountered an internal error.</p></body></html>",
    503: b"<html><head><title>503 Service Unavailable</title></head><body><h1>Service "
    b"Unavailable</h1><p>UtilityAPI is down for maintenance.</p></body></html>",
    504: b"<html><head><title>504 Gateway Time-out</title></head><body><h1>504 Gateway "
    b"Time-out</h1></body></html>",
}
RATE_LIMITED_BODY = b"<html><body><h1>429 Too Many Requests</h1></body></html>"


class FaultInjector:
    """Draws at most one fault per request from a generator seeded by the config."""

    def __init__(self, config: FaultConfig) -> None:
        self._lock = threading.Lock()
        self.configure(config)

    def configure(self, config: FaultConfig) -> None:
        with self._lock:
            self.config = config
            self._random = random.Random(config.seed)
            self._burst_left = 0

    def draw(self, path: str) -> tuple[str, Any] | None:
        """("status", (code, html)), ("reset"|"close"|"truncate", None), ("slow", seconds) or
        ("rate_limited", retry_after); None for a normal answer."""
        with self._lock:
            cfg = self.config
            if not cfg.active or (cfg.paths and not path.startswith(cfg.paths)):
                return None
            if self._burst_left > 0:
                self._burst_left -= 1
                return ("rate_limited", cfg.retry_after)
            u = self._random.random()
            name = None
            for candidate, share in (
                ("reset", cfg.reset),
                ("close", cfg.close),
                ("truncate", cfg.truncate),
                ("500", cfg.error_500),
                ("503", cfg.error_503),
                ("504", cfg.error_504),
                ("slow", cfg.slow),
                ("burst", cfg.burst_429),
            ):
                if u < share:
                    name = candidate
                    break
                u -= share
            if name is None:
                return None
            if name in ("500", "503", "504"):
                return ("status", (int(name), self._random.random() < cfg.html_share))
            if name == "slow":
                return ("slow", cfg.slow_seconds)
            if name == "burst":
                self._burst_left = cfg.burst_length - 1
                return ("rate_limited", cfg.retry_after)
            return (name, None)


def _transport(send: Any) -> Any:
    """The asyncio transport behind uvicorn's h11 `send` (None on other servers)."""
    cycle = getattr(send, "__self__", None)
    return getattr(cycle, "transport", None)


async def drop_connection(send: Any, reset: bool) -> None:
    """Close the connection before any response: RST when `reset`, else an orderly FIN."""
    transport = _transport(send)
    if transport is None:
        raise ConnectionAbortedError("fault injection needs uvicorn's h11 protocol")
    if reset:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
    else:
        transport.close()
    # Let uvicorn notice the lost connection before the app returns, so it does not answer 500.
    for _ in range(3):
        await asyncio.sleep(0)


async def send_truncated(
    send: Any, status: int, headers: list[tuple[bytes, bytes]], body: bytes
) -> None:
    """Promise the whole body in Content-Length, send about half, then close."""
    headers = [(k, v) for k, v in headers if k.lower() != b"content-length"]
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True})
    transport = _transport(send)
    if transport is not None:
        transport.close()
    for _ in range(3):
        await asyncio.sleep(0)
