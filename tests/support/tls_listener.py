"""A real HTTPS server on 127.0.0.1 with a self-signed certificate, for "TLS problem" tests.

It answers every GET with a small JSON body once a handshake succeeds; a client that verifies
certificates (as ours do) never gets that far.
"""

from __future__ import annotations

import ssl
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization

from tests.support.token_server import self_signed_certificate


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b'{"status": "OK"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # refused handshakes are the point of this server


class SelfSignedTlsServer:
    """Use as a context manager; `url` is `https://127.0.0.1:<port>`."""

    def __init__(self, common_name: str = "not-this-host.invalid") -> None:
        key, cert = self_signed_certificate(common_name)
        self._dir = tempfile.TemporaryDirectory(prefix="tls-listener-")
        cert_file, key_file = Path(self._dir.name) / "cert.pem", Path(self._dir.name) / "key.pem"
        cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_file.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_file, key_file)
        self.server = _QuietServer(("127.0.0.1", 0), _Handler)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"https://{host!s}:{port}"

    def __enter__(self) -> SelfSignedTlsServer:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)
        self._dir.cleanup()
