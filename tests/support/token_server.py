"""A small bearer-token server, so the real registry runs the challenge → token → retry flow.

It answers ``GET /token?service=..&scope=..`` the way Docker Hub, ghcr.io and Gitea do: basic
auth with a known user grants the requested repository actions that user may have; a wrong
password gets 401; no credentials at all get a token with ``"access": []`` (an anonymous token).
Tokens are RS256 JWTs whose ``x5c`` header carries a self-signed certificate that the registry
trusts through its ``rootcertbundle``. Distribution 2.8 insists on details kept here: ``aud``
is a string (not a list), times are integers, and the certificate is backdated against skew.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import secrets
import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

TOKEN_LIFETIME = 300
DEFAULT_ACTIONS = ("pull", "push")


@dataclass(frozen=True)
class Scope:
    """One requested scope, e.g. ``repository:demo/app:pull,push``."""

    type: str
    name: str
    actions: tuple[str, ...]


def parse_scopes(values: Iterable[str]) -> list[Scope]:
    """Parse ``scope`` query values; one value may hold several space-separated scopes."""
    scopes = []
    for entry in (part for value in values for part in value.split()):
        head, _, actions = entry.rpartition(":")
        kind, _, name = head.partition(":")
        if kind and name:
            scopes.append(Scope(kind, name, tuple(a for a in actions.split(",") if a)))
    return scopes


def self_signed_certificate(common_name: str) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    """A key and a certificate valid since a few minutes ago (clock skew must not break it)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=10))
        .not_valid_after(now + dt.timedelta(days=2))
        .sign(key, hashes.SHA256())
    )
    return key, cert


@dataclass
class TokenIssuer:
    """Decides what a caller may do and signs the JWT saying so."""

    service: str = "test-registry"
    issuer: str = "test-issuer"
    users: Mapping[str, str] = field(default_factory=dict)
    actions: tuple[str, ...] = DEFAULT_ACTIONS

    def __post_init__(self) -> None:
        self.key, self.certificate = self_signed_certificate(self.issuer)

    @property
    def certificate_pem(self) -> bytes:
        """The bundle the registry's ``rootcertbundle`` must point at."""
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def check(self, username: str, password: str) -> bool:
        """Constant-time password check for a known user."""
        expected = self.users.get(username)
        return expected is not None and secrets.compare_digest(expected, password)

    def grant(self, subject: str, scopes: Iterable[Scope]) -> list[dict[str, Any]]:
        """The ``access`` claim: allowed repository actions for a known user, nothing otherwise."""
        if subject not in self.users:
            return []
        return [
            {"type": s.type, "name": s.name, "actions": [a for a in s.actions if a in self.actions]}
            for s in scopes
            if s.type == "repository"
        ]

    def issue(self, subject: str, scopes: Iterable[Scope], *, now: float | None = None) -> str:
        """A signed token; ``now`` lets a test mint one that is already expired."""
        issued = int(time.time() if now is None else now)
        claims = {
            "iss": self.issuer,
            "sub": subject,
            "aud": self.service,
            "exp": issued + TOKEN_LIFETIME,
            "nbf": issued - 1,
            "iat": issued,
            "jti": uuid.uuid4().hex,
            "access": self.grant(subject, scopes),
        }
        der = self.certificate.public_bytes(serialization.Encoding.DER)
        headers = {"x5c": [base64.standard_b64encode(der).decode()]}
        return jwt.encode(claims, self.key, algorithm="RS256", headers=headers)


class _TokenHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    issuer: TokenIssuer


class _TokenHandler(BaseHTTPRequestHandler):
    server: _TokenHTTPServer

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path != "/token":
            self._reply(404, {"errors": [{"code": "NOT_FOUND", "message": "no such endpoint"}]})
            return
        subject = self._authenticate()
        if subject is None:
            self._reply(401, {"errors": [{"code": "UNAUTHORIZED", "message": "bad credentials"}]})
            return
        scopes = parse_scopes(parse_qs(url.query).get("scope", []))
        token = self.server.issuer.issue(subject, scopes)
        issued_at = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        body = {"token": token, "access_token": token, "expires_in": TOKEN_LIFETIME}
        self._reply(200, {**body, "issued_at": issued_at})

    def _authenticate(self) -> str | None:
        """The user name, ``""`` for an anonymous caller, or None for bad credentials."""
        header = self.headers.get("Authorization", "")
        if not header:
            return ""
        scheme, _, encoded = header.partition(" ")
        try:
            username, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        ok = scheme.lower() == "basic" and self.server.issuer.check(username, password)
        return username if ok else None

    def _reply(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if status == 401:
            self.send_header("WWW-Authenticate", 'Basic realm="test-token-server"')
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: request lines on stderr would only clutter pytest's output."""


class TokenServer:
    """The token endpoint on 127.0.0.1, served from a background thread."""

    def __init__(self, issuer: TokenIssuer) -> None:
        self.issuer = issuer
        self._httpd = _TokenHTTPServer(("127.0.0.1", 0), _TokenHandler)
        self._httpd.issuer = issuer
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:41234``."""
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    @property
    def token_url(self) -> str:
        """The realm to configure in the registry."""
        return f"{self.url}/token"

    def write_bundle(self, path: Path) -> Path:
        """Write the certificate the registry must trust and return its path."""
        path.write_bytes(self.issuer.certificate_pem)
        return path

    def __enter__(self) -> TokenServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)
