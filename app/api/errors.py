"""One error shape for every failing REST call, and the status code of each of our errors.

`{"errors": [{"field": "stages.dev.max_instances", "message": "must be ≥ 1"}]}`: validation
failures (422) name their field, by the same dotted path a page shows next to its input; any other
failure has one entry whose field is null. A refusal by a registry, NPM or Docker is that
service's failure, not the caller's: 502 (504 for a timeout), with a message saying which.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

from services.admin.inputs import field_errors
from services.errors import (
    CannotConnect,
    Conflict,
    FieldError,
    Forbidden,
    InvalidAuth,
    NotFound,
    RateLimited,
    Timeout,
    UpstreamError,
    ValidationFailed,
    WatcherError,
)

_PARAM_SOURCES = frozenset({"body", "query", "path", "header", "cookie"})
_STATUS: tuple[tuple[type[WatcherError], int], ...] = (
    (Forbidden, 403),
    (NotFound, 404),
    (Conflict, 409),
    (CannotConnect, 502),
    (UpstreamError, 502),
    (Timeout, 504),
    (WatcherError, 500),  # e.g. CryptoError: the server's key cannot read a stored secret
)
_DESCRIPTIONS = {
    403: "refused: your role does not allow this, or not sent from this dashboard's own pages",
    404: "not found",
    409: "conflicts with the current state (a name in use, a deploy running...)",
    415: "a body type another site's page could send: see the operation's description",
    422: "invalid input; each error names its field",
    429: "an outside service asks us to slow down (see Retry-After)",
    502: "a registry, NPM or Docker failed or refused our stored credentials",
    504: "a registry, NPM or Docker did not answer in time",
}
Handler = Callable[[Request, Exception], Awaitable[Response]]


class ErrorItem(BaseModel):
    field: str | None = Field(description="dotted path of the input field; null if none")
    message: str


class ErrorBody(BaseModel):
    errors: list[ErrorItem]


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries for the error statuses a route can answer."""
    return {code: {"model": ErrorBody, "description": _DESCRIPTIONS[code]} for code in codes}


def error_response(
    status: int, errors: list[FieldError], headers: dict[str, str] | None = None
) -> JSONResponse:
    items = [ErrorItem(field=e.path or None, message=e.message) for e in errors]
    body = ErrorBody(errors=items).model_dump(mode="json")
    return JSONResponse(body, status_code=status, headers=headers)


def install_error_handlers(api: FastAPI) -> None:
    """Map our errors (and FastAPI's own request validation) to the one shape."""
    api.add_exception_handler(RequestValidationError, _request_invalid)
    api.add_exception_handler(ValidationFailed, _validation_failed)
    api.add_exception_handler(InvalidAuth, _upstream_auth)
    api.add_exception_handler(RateLimited, _rate_limited)
    for kind, status in _STATUS:
        api.add_exception_handler(kind, _plain(status))
    api.add_exception_handler(HTTPException, _http_error)


async def _request_invalid(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = [_located(err) for err in exc.errors()]
    return error_response(422, field_errors(errors) or [FieldError("", "invalid request")])


def _located(err: Any) -> dict[str, Any]:
    """Drop where FastAPI found the value (`body`, `query`...): the field is what a person typed."""
    found = dict(err)
    loc = tuple(found.get("loc", ()))
    found["loc"] = loc[1:] if loc and loc[0] in _PARAM_SOURCES else loc
    if found.get("type") == "json_invalid":
        found["loc"], found["msg"] = (), "the body is not valid JSON"
    return found


async def _validation_failed(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ValidationFailed)
    return error_response(422, exc.errors)


async def _upstream_auth(_request: Request, exc: Exception) -> Response:
    message = f"{exc} (that service refused the credentials; not about your sign-in here)"
    return error_response(502, [FieldError("", message)])


async def _rate_limited(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RateLimited)
    seconds = exc.retry_after
    headers = {"Retry-After": str(max(1, math.ceil(seconds)))} if seconds else None
    return error_response(429, [FieldError("", str(exc))], headers)


async def _http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own refusals (an unreadable body, a wrong method) in our shape under /api/;
    pages keep FastAPI's (and NiceGUI's page-level 404 handler still wins for pages)."""
    assert isinstance(exc, HTTPException)
    if not request.url.path.startswith("/api/"):
        return await http_exception_handler(request, exc)
    message = exc.detail if isinstance(exc.detail, str) else "the request was refused"
    headers = dict(exc.headers) if exc.headers else None
    return error_response(exc.status_code, [FieldError("", message)], headers)


def _plain(status: int) -> Handler:
    async def handle(_request: Request, exc: Exception) -> Response:
        return error_response(status, [FieldError("", str(exc) or type(exc).__name__)])

    return handle
