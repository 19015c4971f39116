"""The request guard: every page and API route needs a signed-in user, except a short list.

A plain ASGI middleware on NiceGUI's app, so it sees pages, API routes and websockets alike.
The session travels as a signed token in an HttpOnly cookie (browsers) or as
`Authorization: Bearer <token>` (scripts); both are checked by the same `AuthService.verify`.
Over HTTPS the cookie is named `__Host-dw_session`: browsers then accept it only when it is
Secure, has Path=/ and no Domain, so a page on another subdomain of the same site cannot set
("toss") a session cookie of its own choosing for this host. Over plain HTTP (localhost) the
prefix is impossible (it requires Secure), so the plain name is used there.
"""

from __future__ import annotations

from urllib.parse import quote

from nicegui.version import __version__ as nicegui_version
from starlette.requests import HTTPConnection, Request
from starlette.responses import RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.errors import error_response
from services.auth.sessions import AuthService, Principal, principal_in
from services.errors import FieldError, InvalidAuth

SESSION_COOKIE = "dw_session"  # over plain HTTP
SECURE_SESSION_COOKIE = "__Host-dw_session"  # over HTTPS
SESSION_COOKIES = (SESSION_COOKIE, SECURE_SESSION_COOKIE)
LOGIN_PATH = "/login"
NOT_SIGNED_IN = "not signed in"

# Reachable without signing in. The logout and the login hand-off only ever end or start a
# session; NiceGUI's versioned assets are the same for everyone. Its socket.io endpoint must
# serve the login page before anyone signs in, so it checks sessions itself, per page
# (app/page_sessions.py).
PUBLIC_PATHS = frozenset(
    {
        LOGIN_PATH,
        "/healthz",
        "/favicon.ico",
        "/api/auth/login",
        "/api/auth/logout",
        "/api/auth/session",
    }
)
PUBLIC_PREFIXES = (
    "/api/auth/oidc/",
    "/api/webhook/",
    f"/_nicegui/{nicegui_version}/",
    "/_nicegui_ws/",
)


def is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


def bearer_token(conn: HTTPConnection) -> str | None:
    """The `Authorization: Bearer` token, if any (a browser never adds one on its own)."""
    scheme, _, credentials = conn.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return None


def session_cookie_name(conn: HTTPConnection) -> str:
    """The name the session cookie has on this request's scheme; the other name is ignored."""
    return SECURE_SESSION_COOKIE if is_https(conn) else SESSION_COOKIE


def presented_token(conn: HTTPConnection) -> str | None:
    """The bearer token if the request has one, else the session cookie."""
    return bearer_token(conn) or conn.cookies.get(session_cookie_name(conn)) or None


def presented_principal(auth: AuthService, conn: HTTPConnection) -> Principal | None:
    """The valid session a request (or a socket's handshake request) carries, or None."""
    token = presented_token(conn)
    if token is None:
        return None
    try:
        return auth.verify(token)
    except InvalidAuth:
        return None


def current_principal(request: Request) -> Principal | None:
    """Who the guard let through for this request (None on public paths)."""
    return principal_in(request.state)


def set_session_cookie(response: Response, token: str, *, max_age: int, secure: bool) -> None:
    """HttpOnly (no script can read it), SameSite=Lax (not sent on cross-site POSTs; same-site
    pages still get it sent, which is what the origin check is for)."""
    response.set_cookie(
        SECURE_SESSION_COOKIE if secure else SESSION_COOKIE,
        token,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="lax",
        secure=secure,
    )


def clear_session_cookie(response: Response, *, secure: bool) -> None:
    name = SECURE_SESSION_COOKIE if secure else SESSION_COOKIE
    response.delete_cookie(name, path="/", httponly=True, samesite="lax", secure=secure)


def is_https(conn: HTTPConnection) -> bool:
    return conn.url.scheme in {"https", "wss"}


def login_redirect(conn: HTTPConnection) -> RedirectResponse:
    """303 to the login page, remembering where the user wanted to go."""
    target = conn.url.path + (f"?{conn.url.query}" if conn.url.query else "")
    return RedirectResponse(f"{LOGIN_PATH}?next={quote(target, safe='')}", status_code=303)


class AuthGuard:
    """Lets a request through with its Principal in `request.state.principal`, or refuses it.

    Refusal: API routes (and any non-GET) get 401 JSON; pages get a redirect to the login page;
    websockets are closed. A cookie that no longer verifies is cleared on the way.
    """

    def __init__(self, app: ASGIApp, auth: AuthService) -> None:
        self._app = app
        self._auth = auth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and route_path(scope) == LOGIN_PATH:
            await self._app(scope, receive, self._clearing_stale_cookie(scope, send))
            return
        if scope["type"] not in {"http", "websocket"} or is_public(route_path(scope)):
            await self._app(scope, receive, send)
            return
        conn = HTTPConnection(scope)
        principal = self._principal(conn)
        if principal is not None:
            scope.setdefault("state", {})["principal"] = principal
            await self._app(scope, receive, send)
        elif scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008, "reason": NOT_SIGNED_IN})
        else:
            await self._refusal(conn)(scope, receive, send)

    def _clearing_stale_cookie(self, scope: Scope, send: Send) -> Send:
        """The login page clears a session cookie that no longer verifies. A page sent there
        by its socket (its session just ended) may have cut short the sign-out response that
        would have cleared it."""
        conn = HTTPConnection(scope)
        if session_cookie_name(conn) not in conn.cookies or self._principal(conn) is not None:
            return send
        clearing = Response()
        clear_session_cookie(clearing, secure=is_https(conn))
        cookie_headers = [(k, v) for k, v in clearing.raw_headers if k == b"set-cookie"]

        async def send_clearing(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *cookie_headers]}
            await send(message)

        return send_clearing

    def _principal(self, conn: HTTPConnection) -> Principal | None:
        return presented_principal(self._auth, conn)

    def _refusal(self, conn: HTTPConnection) -> Response:
        is_api = route_path(conn.scope).startswith("/api/")
        response: Response
        if is_api or conn.scope.get("method") not in {"GET", "HEAD"}:
            headers = {"WWW-Authenticate": "Bearer"}
            response = error_response(401, [FieldError("", NOT_SIGNED_IN)], headers)
        else:
            response = login_redirect(conn)
        if session_cookie_name(conn) in conn.cookies:
            clear_session_cookie(response, secure=is_https(conn))
        return response


def route_path(scope: Scope) -> str:
    """The path routing sees (without a `root_path` prefix), so both decide on the same string."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path
