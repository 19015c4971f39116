"""The browser-facing defences around every request, in one place for the app and its tests."""

from __future__ import annotations

from starlette.applications import Starlette

from app.config import Settings
from app.forwarded import ForwardedHeaders
from app.origin_guard import OriginGuard
from app.security_headers import SecurityHeaders


def add_web_security(api: Starlette, settings: Settings) -> None:
    """Call after adding the AuthGuard. The last middleware added runs first, so a request meets:
    ForwardedHeaders (which origin it was sent to) -> SecurityHeaders (on every answer, refusals
    included) -> OriginGuard (forged by another page?) -> AuthGuard (signed in?)."""
    api.add_middleware(OriginGuard)
    api.add_middleware(SecurityHeaders)
    api.add_middleware(
        ForwardedHeaders, trusted=settings.forwarded_allow_ips, public_url=settings.public_url
    )
