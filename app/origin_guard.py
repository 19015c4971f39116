"""Refuses requests that a browser sent on another page's behalf (cross-site request forgery).

The previews this product deploys run on subdomains of the dashboard's own domain: the same
*site*, so SameSite cookies are still sent when one of those pages posts to the dashboard. Every
state-changing request that the session cookie would authenticate must therefore show that it
comes from the dashboard's own pages:

- its `Origin` header must be present and equal the dashboard's origin (browsers send Origin on
  every POST/PUT/PATCH/DELETE, and a page cannot forge it);
- its `Sec-Fetch-Site`, where the browser sends one, must be `same-origin` (`same-site` is
  exactly the attack).

Not affected: requests carrying `Authorization: Bearer` (scripts and CI; a browser never adds
that header by itself, and a page cannot add it to a cross-origin request without a CORS
preflight, which this app never grants) and the webhook (its secret URL is its credential, the
cookie means nothing there). Sign-in is covered too: a foreign page may not post to the login
route, nor redeem a login ticket by navigating the browser to the hand-off route (login CSRF),
nor start a sign-in through the OIDC provider. (The provider's callback comes from the
provider's site by design; it is bound to the browser that started the sign-in by a cookie.)
Websocket upgrades carrying the cookie must come from the same origin as well.
"""

from __future__ import annotations

import logging

from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Receive, Scope, Send

from app.api.errors import error_response
from app.auth_guard import SESSION_COOKIES, bearer_token, route_path
from app.origins import parse_origin, scope_origin
from services.auth.oidc_settings import LOGIN_START_PATH
from services.errors import FieldError

log = logging.getLogger(__name__)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
LOGIN = "/api/auth/login"
LOGIN_HANDOFF = "/api/auth/session"  # GET that starts a session: navigations only from our page
# GETs that only our login page's button may open: another site may not start a provider
# sign-in in this browser (whose provider session could sign it in without a click).
OUR_PAGES_ONLY = frozenset({LOGIN_HANDOFF, LOGIN_START_PATH})
UNAFFECTED_PREFIXES = ("/api/webhook/",)
FORGED = "refused: this request was not sent from this dashboard's own pages"


class OriginGuard:
    """A plain ASGI middleware in front of the auth guard; answers 403 in the shared error shape."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        web = scope["type"] in {"http", "websocket"}
        problem = _problem(HTTPConnection(scope)) if web else None
        if problem is None:
            await self._app(scope, receive, send)
            return
        log.warning(
            "refused a cross-site request: %s %s (%s)",
            scope.get("method", "WEBSOCKET"),
            scope["path"],
            problem,
        )
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008, "reason": FORGED})
        else:
            await error_response(403, [FieldError("", FORGED)])(scope, receive, send)


def _problem(conn: HTTPConnection) -> str | None:
    """Why this request may have been forged by another page, or None when it may pass."""
    path = route_path(conn.scope)
    has_cookie = any(name in conn.cookies for name in SESSION_COOKIES)
    if conn.scope["type"] == "websocket":
        return _check(conn, origin_required=False) if has_cookie else None
    method = conn.scope["method"]
    if method in SAFE_METHODS:
        return _fetched_from_elsewhere(conn) if path in OUR_PAGES_ONLY else None
    if bearer_token(conn) is not None or path.startswith(UNAFFECTED_PREFIXES):
        return None
    # Signing in does not use the cookie (a script may still hold a stale one): a foreign
    # Origin is refused there, a missing one is not.
    return _check(conn, origin_required=has_cookie and path != LOGIN)


def _check(conn: HTTPConnection, *, origin_required: bool) -> str | None:
    """Sec-Fetch-Site (where sent) says same-origin, and Origin (where required) is ours."""
    problem = _fetched_from_elsewhere(conn)
    if problem is not None:
        return problem
    sent = conn.headers.get("origin")
    if sent is None:
        return "no Origin header" if origin_required else None
    ours = scope_origin(conn.scope)
    if ours is None or parse_origin(sent) != ours:
        return f"Origin {sent!r} is not this dashboard's {str(ours) if ours else '(no Host)'}"
    return None


def _fetched_from_elsewhere(conn: HTTPConnection) -> str | None:
    site = conn.headers.get("sec-fetch-site")
    if site is None or site == "same-origin":
        return None
    return f"Sec-Fetch-Site {site!r}"
