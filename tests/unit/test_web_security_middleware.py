"""The origin guard on websocket upgrades, and security headers on an unexpected 500."""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.responses import PlainTextResponse

from app.origin_guard import FORGED, OriginGuard
from app.security_headers import CONTENT_SECURITY_POLICY, SecurityHeaders

COOKIE = (b"cookie", b"dw_session=token")


async def upgrade(headers: list[tuple[bytes, bytes]]) -> tuple[bool, list[Any]]:
    """Runs one websocket upgrade through the guard: (reached the app?, messages sent)."""
    reached, sent = False, []

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        nonlocal reached
        reached = True

    async def receive() -> dict[str, Any]:
        return {"type": "websocket.connect"}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "websocket",
        "scheme": "ws",
        "path": "/_nicegui_ws/socket.io/",
        "headers": [(b"host", b"dw.test"), *headers],
        "query_string": b"",
    }
    await OriginGuard(inner)(scope, receive, send)
    return reached, sent


async def test_a_websocket_with_the_cookie_from_another_origin_is_closed() -> None:
    assert await upgrade([COOKIE, (b"origin", b"http://dw.test")]) == (True, [])
    assert await upgrade([(b"origin", b"http://preview.dw.test")]) == (True, [])  # login page
    closed = {"type": "websocket.close", "code": 1008, "reason": FORGED}
    assert await upgrade([COOKIE, (b"origin", b"http://preview.dw.test")]) == (False, [closed])
    same_site = [COOKIE, (b"origin", b"http://dw.test"), (b"sec-fetch-site", b"same-site")]
    assert await upgrade(same_site) == (False, [closed])


async def test_an_unexpected_error_is_answered_with_the_headers_and_the_error_shape() -> None:
    api = FastAPI()
    api.add_middleware(SecurityHeaders)

    @api.get("/boom")
    async def boom() -> None:
        raise RuntimeError("a bug")

    @api.get("/framed")
    async def framed() -> PlainTextResponse:
        return PlainTextResponse("x", headers={"X-Frame-Options": "SAMEORIGIN"})

    transport = httpx.ASGITransport(api, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://dw.test") as client:
        crashed = await client.get("/boom")
        kept = await client.get("/framed")

    assert crashed.status_code == 500
    assert crashed.json() == {
        "errors": [{"field": None, "message": "internal error (see the server log)"}]
    }
    assert crashed.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert crashed.headers["x-content-type-options"] == "nosniff"
    assert kept.headers["x-frame-options"] == "SAMEORIGIN"  # a route's own choice is kept
