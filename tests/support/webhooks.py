"""A webhook endpoint on loopback that records what it receives, and signature checks."""

from __future__ import annotations

import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any


def signature(secret: str, salt: str, text: bytes) -> str:
    """Reference §6.3: sha256 hex of `secret.salt.text`."""
    return hashlib.sha256(f"{secret}.{salt}.".encode() + text).hexdigest()


def indented(body: bytes) -> bytes:
    """The body re-serialised with 4-space indentation (what one open-source receiver hashes)."""
    return json.dumps(json.loads(body), indent=4).encode()


class WebhookReceiver:
    """Answers every POST with the next scripted status (200 when the script is empty)."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.statuses = list(statuses or [])
        self.received: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append((dict(self.headers), body))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.server.shutdown()
        self.server.server_close()

    def events(self) -> list[dict[str, Any]]:
        """Every event received, in order."""
        return [e for _, body in self.received for e in json.loads(body)["events"]]

    def signed_over(self, secret: str) -> list[str]:
        """Per POST, which text the signature covers: "raw", "indented" or "neither"."""
        forms = []
        for headers, body in self.received:
            salt = headers["X-UtilityAPI-Webhook-Salt"]
            claimed = headers["X-UtilityAPI-Webhook-Signature"]
            if claimed == signature(secret, salt, body):
                forms.append("raw")
            elif claimed == signature(secret, salt, indented(body)):
                forms.append("indented")
            else:
                forms.append("neither")
        return forms
