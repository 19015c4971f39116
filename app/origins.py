"""Web origins (scheme, host, port): parsing the `Origin` header and a request's own origin.

Both sides are normalised the same way (lower case, default port filled in), so `https://a.b`
and `https://A.b:443` compare equal, and anything malformed (including the browser's `null`)
parses to None, which never equals an origin.
"""

from __future__ import annotations

from typing import NamedTuple
from urllib.parse import urlsplit

from starlette.types import Scope

from services.auth.oidc_settings import redirect_uri

DEFAULT_PORTS = {"http": 80, "https": 443}
_WEB_SCHEME = {"http": "http", "https": "https", "ws": "http", "wss": "https"}


class Origin(NamedTuple):
    scheme: str
    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        if DEFAULT_PORTS[self.scheme] == self.port:
            return f"{self.scheme}://{host}"
        return f"{self.scheme}://{host}:{self.port}"

    @property
    def netloc(self) -> str:
        """What a Host header for this origin says (the port only when not the default)."""
        return str(self).partition("://")[2]


def parse_origin(value: str | None) -> Origin | None:
    """`scheme://host[:port]` (what browsers send as Origin) or None when it is anything else."""
    if not value or any(c.isspace() or ord(c) < 32 for c in value):
        return None
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        return None
    if parts.path or parts.query or parts.fragment or parts.username or parts.password:
        return None
    return _origin(parts.scheme.lower(), parts.hostname, port)


def parse_host(scheme: str, host_header: str | None) -> Origin | None:
    """The origin a request addressed with `Host: host_header` over `scheme` was sent to."""
    web_scheme = _WEB_SCHEME.get(scheme)
    if web_scheme is None or not host_header:
        return None
    return parse_origin(f"{web_scheme}://{host_header}")


def scope_origin(scope: Scope) -> Origin | None:
    """The origin this request was addressed to: its scheme and its Host header.

    Upstream middleware (`ForwardedHeaders`) has already put a trusted proxy's view, or the
    configured public URL, into both; None when there is no usable Host header.
    """
    host = next((v for k, v in scope.get("headers", ()) if k == b"host"), None)
    return parse_host(scope.get("scheme", "http"), host.decode("latin-1") if host else None)


def _origin(scheme: str, host: str | None, port: int | None) -> Origin | None:
    if scheme not in DEFAULT_PORTS or not host:
        return None
    return Origin(scheme, host.lower(), DEFAULT_PORTS[scheme] if port is None else port)


def oidc_redirect_uri(scope: Scope) -> str | None:
    """The OIDC redirect URI for the origin (and path prefix) this request was addressed to;
    None without a usable Host header."""
    origin = scope_origin(scope)
    if origin is None:
        return None
    return redirect_uri(str(origin), scope.get("root_path", ""))
