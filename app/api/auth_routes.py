"""POST /api/auth/login and /logout, and GET /api/auth/session (the login page's hand-off)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field

from app.api.errors import error_response, error_responses
from app.api.roles import require
from app.auth_guard import (
    LOGIN_PATH,
    clear_session_cookie,
    current_principal,
    is_https,
    presented_token,
    set_session_cookie,
)
from services.auth.oidc_sign_in import SignInModes
from services.auth.sessions import AuthService, IssuedToken, safe_next
from services.errors import FieldError, InvalidAuth, RateLimited, ValidationFailed
from services.store.models import Role

PASSWORDS_OFF = "password sign-in is turned off; sign in through the provider"


class LoginRequest(BaseModel):
    username: str = Field(min_length=1, max_length=150)
    password: str = Field(min_length=1, max_length=1024)


class PasswordChange(BaseModel):
    current_password: str = Field(min_length=1, max_length=1024)
    new_password: str = Field(min_length=1, max_length=1024)


class LoginResponse(BaseModel):
    token: str = Field(description="send as `Authorization: Bearer <token>`")
    expires_at: datetime


class _NoEchoRoute(APIRoute):
    """422 answers name the field but never echo the submitted values (they hold passwords)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def without_echo(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                return error_response(422, _describe(exc.errors()))

        return without_echo


def _describe(errors: Any) -> list[FieldError]:
    """The field and the rule broken, never the submitted value."""
    return [FieldError(".".join(str(p) for p in e["loc"][1:]), e["msg"]) for e in errors]


def _client(request: Request) -> str:
    return request.client.host if request.client else ""


def set_session(
    response: Response, auth: AuthService, issued: IssuedToken, request: Request
) -> None:
    """The session cookie for a fresh sign-in, whichever way it came (password or provider)."""
    max_age = auth.seconds_left(issued)
    set_session_cookie(response, issued.token, max_age=max_age, secure=is_https(request))


def register(api: FastAPI, auth: AuthService, modes: SignInModes) -> None:
    router = APIRouter(route_class=_NoEchoRoute, tags=["auth"])

    def _set_cookie(response: Response, issued: IssuedToken, request: Request) -> None:
        set_session(response, auth, issued, request)

    async def _new_session(request: Request, attempt: Awaitable[IssuedToken]) -> Response:
        """The token as JSON and as the session cookie, or the refusal in the one error shape."""
        try:
            issued = await attempt
        except ValidationFailed as exc:
            return error_response(422, list(exc.errors))
        except InvalidAuth as exc:
            return error_response(401, [FieldError("", str(exc))])
        except RateLimited as exc:
            headers = {"Retry-After": str(int(exc.retry_after or 1))}
            return error_response(429, [FieldError("", str(exc))], headers)
        payload = LoginResponse(token=issued.token, expires_at=issued.expires_at)
        response = JSONResponse(payload.model_dump(mode="json"))
        _set_cookie(response, issued, request)
        return response

    @router.post(
        "/api/auth/login",
        summary="Sign in with a local account",
        response_model=LoginResponse,
        responses={
            401: {"description": "wrong credentials"},
            403: {"description": "password sign-in is turned off (OIDC only)"},
            429: {"description": "throttled"},
        },
    )
    async def login(body: LoginRequest, request: Request) -> Response:
        """Answers the token for scripts and sets it as the browser's session cookie.
        Refused (403) while the sign-in mode is OIDC only."""
        if not await modes.password_allowed():
            return error_response(403, [FieldError("", PASSWORDS_OFF)])
        attempt = auth.login(body.username, body.password, client=_client(request))
        return await _new_session(request, attempt)

    @router.post("/api/auth/logout", summary="Sign out (ends the session, clears the cookie)")
    async def logout(request: Request) -> Response:
        """Browsers (the header's Sign out form) are sent to the login page; scripts get JSON."""
        token = presented_token(request)
        if token:
            await auth.sign_out(token, client=_client(request))
        response: Response
        if "text/html" in request.headers.get("accept", ""):
            response = RedirectResponse(LOGIN_PATH, status_code=303)
        else:
            response = JSONResponse({"detail": "signed out"})
        clear_session_cookie(response, secure=is_https(request))
        return response

    @router.post(
        "/api/auth/password",
        summary="Change your own password (ends your other sessions)",
        response_model=LoginResponse,
        responses=error_responses(422, 429),
        dependencies=require(Role.VIEWER),
    )
    async def change_password(body: PasswordChange, request: Request) -> Response:
        """Answers a fresh token (and cookie): every earlier session of the user has ended."""
        principal = current_principal(request)
        if principal is None:
            return error_response(401, [FieldError("", "not signed in")])
        change = auth.change_password(
            principal, body.current_password, body.new_password, client=_client(request)
        )
        return await _new_session(request, change)

    @router.get("/api/auth/session", include_in_schema=False)
    async def session(
        request: Request,
        ticket: str = "",
        next_path: Annotated[str, Query(alias="next")] = "/",
    ) -> Response:
        """Redeems the login page's one-time ticket: sets the cookie, goes on to `next`."""
        target = safe_next(next_path)
        try:
            issued = auth.redeem(ticket)
        except InvalidAuth:
            return RedirectResponse(f"{LOGIN_PATH}?next={quote(target, safe='')}", 303)
        response = RedirectResponse(target, status_code=303)
        _set_cookie(response, issued, request)
        return response

    api.include_router(router)
