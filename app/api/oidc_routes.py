"""GET /api/auth/oidc/login and /callback: the browser's two stops of a provider sign-in.

`login` starts the sign-in (`OidcSignIn.begin`), sets the binding cookie and sends the browser
to the provider. The cookie is HttpOnly, lives ten minutes, and is SameSite=Lax so the browser
sends it back on the provider's top-level redirect to `callback` (Strict would drop it there);
over HTTPS it is `__Host-` prefixed like the session cookie, so a sibling subdomain cannot plant
one. `callback` finishes the sign-in the cookie names, sets the same session cookie a password
sign-in sets, and goes on to the page asked for (`safe_next`, checked when the sign-in started).
Every failure ends on the login page, which shows why (the message stays on the server; the
URL carries only a random key to it).
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import RedirectResponse, Response

from app.api.auth_routes import set_session
from app.auth_guard import LOGIN_PATH, is_https
from app.origins import oidc_redirect_uri
from services.auth.oidc_settings import CALLBACK_PATH, ERROR_PARAM, LOGIN_START_PATH
from services.auth.oidc_sign_in import PENDING_TTL, OidcSignIn, SignInFailed
from services.auth.sessions import AuthService, safe_next

BINDING_COOKIE = "dw_oidc"  # over plain HTTP
SECURE_BINDING_COOKIE = "__Host-dw_oidc"  # over HTTPS


def binding_cookie_name(request: Request) -> str:
    return SECURE_BINDING_COOKIE if is_https(request) else BINDING_COOKIE


def login_page_url(next_path: str, note: str | None = None) -> str:
    """The login page, going on to `next_path` afterwards, showing the kept failure `note`."""
    query = {"next": next_path, **({ERROR_PARAM: note} if note else {})}
    return f"{LOGIN_PATH}?{urlencode(query)}"


def register(api: FastAPI, auth: AuthService, sign_in: OidcSignIn) -> None:
    router = APIRouter(tags=["auth"])

    def _to_login_page(request: Request, failure: SignInFailed) -> Response:
        target = login_page_url(failure.next_path, sign_in.note(str(failure)))
        response = RedirectResponse(target, status_code=303)
        _clear_binding(response, request)
        return response

    # Browser-only steps of a round trip (like the password hand-off): not part of the API.
    @router.get(LOGIN_START_PATH, include_in_schema=False)
    async def oidc_login(
        request: Request, next_path: Annotated[str, Query(alias="next")] = "/"
    ) -> Response:
        """Redirects to the provider, or back to the login page saying why it cannot."""
        target = safe_next(next_path)
        try:
            started = await sign_in.begin(oidc_redirect_uri(request.scope), target)
        except SignInFailed as failure:
            return _to_login_page(request, failure)
        response = RedirectResponse(started.url, status_code=303)
        response.set_cookie(
            binding_cookie_name(request),
            started.binding,
            max_age=int(PENDING_TTL),
            path="/",
            httponly=True,
            samesite="lax",
            secure=is_https(request),
        )
        return response

    @router.get(CALLBACK_PATH, include_in_schema=False)
    async def oidc_callback(request: Request) -> Response:
        """Signs in and goes on to the page asked for, or to the login page saying why not."""
        binding = request.cookies.get(binding_cookie_name(request))
        client = request.client.host if request.client else ""
        try:
            finished = await sign_in.finish(binding, dict(request.query_params), address=client)
        except SignInFailed as failure:
            return _to_login_page(request, failure)
        response = RedirectResponse(finished.next_path, status_code=303)
        set_session(response, auth, finished.issued, request)
        _clear_binding(response, request)
        return response

    api.include_router(router)


def _clear_binding(response: Response, request: Request) -> None:
    secure = is_https(request)
    name = SECURE_BINDING_COOKIE if secure else BINDING_COOKIE
    response.delete_cookie(name, path="/", httponly=True, samesite="lax", secure=secure)
