"""A real HTTP server on loopback standing for someone else's host: it records every request.

It answers everything with 401 and a Basic challenge, which is what makes a registry client or
`docker pull` send credentials, so a test can tell whether a stored secret reached it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    authorization: str | None
    body: bytes


class Listener:
    """Use as a context manager; `requests` lists what arrived, `text` all of it as one string."""

    def __init__(self) -> None:
        self.requests: list[Seen] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)

    @property
    def host(self) -> str:
        host, port = self.server.server_address[:2]
        return f"{host!s}:{port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    @property
    def text(self) -> str:
        """Every request line, Authorization header and body, for "the secret never arrived"."""
        return "\n".join(
            f"{r.method} {r.path} {r.authorization or ''} {r.body.decode('utf-8', 'replace')}"
            for r in self.requests
        )

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def _record(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                seen = Seen(self.command, self.path, self.headers.get("Authorization"), body)
                listener.requests.append(seen)
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="listener"')
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "2")
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(b"{}")

            def do_GET(self) -> None:
                self._record()

            def do_POST(self) -> None:
                self._record()

            def do_PUT(self) -> None:
                self._record()

            def do_HEAD(self) -> None:
                self._record()

            def log_message(self, format: str, *args: Any) -> None:
                """Keep the test output quiet."""

        return Handler

    def __enter__(self) -> Listener:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)
