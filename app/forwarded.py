"""Which address a request came from and which origin it was addressed to, behind a proxy.

The outermost middleware. Everything after it (the origin check, the session cookie's name and
`Secure` flag, the webhook URL shown in settings) reads the request's scheme and Host header, so
this one place decides what they say:

- `X-Forwarded-Proto` and `X-Forwarded-For` are believed only from a peer listed in
  `FORWARDED_ALLOW_IPS` (uvicorn's own middleware does that part; the server's copy of it is
  switched off so the headers are read exactly once);
- `X-Forwarded-Host` is believed from the same peers only, and replaces the Host header;
- with `DW_PUBLIC_URL` set, its scheme and host replace whatever the request said: the
  dashboard's origin is then fixed, and no header from anyone can move it.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from app.origins import Origin, parse_host, parse_origin


class ForwardedHeaders:
    """Applies a trusted proxy's forwarded headers, then the configured public origin."""

    def __init__(self, app: ASGIApp, *, trusted: str, public_url: str | None = None) -> None:
        pinned = parse_origin(public_url) if public_url else None
        inner = _PinnedOrigin(app, pinned) if pinned else app
        self._proxy = ProxyHeadersMiddleware(inner, trusted_hosts=trusted)  # type: ignore[arg-type]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in {"http", "websocket"} and self._from_trusted_proxy(scope):
            _apply_forwarded_host(scope)
        await self._proxy(scope, receive, send)  # type: ignore[arg-type]

    def _from_trusted_proxy(self, scope: Scope) -> bool:
        peer = scope.get("client")
        return peer is not None and peer[0] in self._proxy.trusted_hosts


class _PinnedOrigin:
    """Every request is taken as addressed to the configured public origin."""

    def __init__(self, app: ASGIApp, origin: Origin) -> None:
        self._app, self._origin = app, origin

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in {"http", "websocket"}:
            secure = self._origin.scheme == "https"
            if scope["type"] == "websocket":
                scope["scheme"] = "wss" if secure else "ws"
            else:
                scope["scheme"] = self._origin.scheme
            _set_host(scope, self._origin.netloc)
        await self._app(scope, receive, send)


def _apply_forwarded_host(scope: Scope) -> None:
    """The last `X-Forwarded-Host` value (the one our proxy wrote), when it is a valid host."""
    values = [v.decode("latin-1") for k, v in scope["headers"] if k == b"x-forwarded-host"]
    if not values:
        return
    host = values[-1].rpartition(",")[2].strip()
    if parse_host("http", host) is not None:
        _set_host(scope, host)


def _set_host(scope: Scope, host: str) -> None:
    headers = [(k, v) for k, v in scope["headers"] if k != b"host"]
    scope["headers"] = [(b"host", host.encode("latin-1")), *headers]
