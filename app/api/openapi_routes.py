"""GET /api/openapi.json: the REST API's OpenAPI schema, behind the same sign-in.

NiceGUI switches FastAPI's own `/openapi.json` and `/docs` off unless `ui.run(fastapi_docs=...)`
says otherwise, so the schema is served here, built once on first request (after NiceGUI has
settled which of its routes are documented). It declares the bearer-token scheme, marks the
routes that need no sign-in (login, webhook, health) as public, and names the least role every
other route needs (`x-required-role`: viewer, deployer or admin; 403 below it).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse

from app.api.roles import require, route_roles
from app.auth_guard import is_public
from services.store.models import Role

TITLE = "Docker Watcher API"
VERSION = "1"
DESCRIPTION = (
    "Projects, stages and instances, registries, settings and deploys of one Docker Watcher. "
    "Sign in with POST /api/auth/login and send `Authorization: Bearer <token>`. Every failure "
    'answers `{"errors": [{"field": ..., "message": ...}]}`; `field` names the input (dotted '
    "path) for 422 and is null otherwise."
)
TAGS = [
    {"name": "projects", "description": "projects, stages, env and volumes"},
    {"name": "instances", "description": "deploy a tag; stop, start, restart, remove"},
    {"name": "deploys", "description": "history and live logs (server-sent events)"},
    {"name": "quick deploy", "description": "from an image reference to a running project"},
    {"name": "registries", "description": "registries, connection tests, tags"},
    {"name": "settings", "description": "global and NPM settings, webhook URL, tests"},
    {"name": "config", "description": "export and re-import as seed YAML"},
    {"name": "webhook", "description": "CI and registries report pushed images (no sign-in)"},
    {"name": "users", "description": "users and their roles (admins)"},
    {"name": "auth", "description": "sign in and out"},
    {"name": "health", "description": "process health (no sign-in)"},
]
BEARER = {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}
ERROR_BODY = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
NOT_SIGNED_IN = {
    "description": "not signed in, or the token expired or was signed out",
    "content": ERROR_BODY,
}
NOT_ALLOWED = {
    "description": "your role is below the one this route needs (the message names it)",
    "content": ERROR_BODY,
}
UNREADABLE = {"description": "the body could not be read (e.g. not UTF-8)", "content": ERROR_BODY}


def build_schema(api: FastAPI) -> dict[str, Any]:
    """The schema of every documented route, with the auth scheme and public routes marked."""
    schema = get_openapi(
        title=TITLE, version=VERSION, description=DESCRIPTION, routes=api.routes, tags=TAGS
    )
    schema.setdefault("components", {})["securitySchemes"] = BEARER
    schema["security"] = [{"bearer": []}]
    roles = _declared_roles(api)
    for path, operations in schema.get("paths", {}).items():
        public = is_public(path.split("{", 1)[0])
        for method, operation in operations.items():
            _complete(operation, public=public, role=roles.get((method.upper(), path)))
    return schema


def _declared_roles(api: FastAPI) -> dict[tuple[str, str], Role]:
    """(METHOD, path) of each route -> the least role it declares."""
    found: dict[tuple[str, str], Role] = {}
    for route in route_roles(api):
        if route.role is not None:
            found.update({(method, route.path): route.role for method in route.methods})
    return found


def _complete(operation: dict[str, Any], *, public: bool, role: Role | None) -> None:
    """Add what every route may answer besides its own: 401 (the guard), 403 (a role below
    the route's), 400 (a body that cannot be read). Every error of a signed-in route is the
    ErrorBody (see app.api.errors), also where FastAPI would document its own 422 or a
    plain-text route's media type."""
    responses = operation.setdefault("responses", {})
    if public:
        operation["security"] = []
    else:
        responses.setdefault("401", NOT_SIGNED_IN)
    if role is not None:
        operation["x-required-role"] = role.value
        responses.setdefault("403", NOT_ALLOWED)
    if "requestBody" in operation:
        responses.setdefault("400", UNREADABLE)
    for code, response in responses.items():
        ours = code.isdigit() and int(code) >= 400 and code != "401"  # 401: the guard's shape
        if ours and response.get("content") and not public:
            response["content"] = ERROR_BODY  # also FastAPI's default 422: our handler answers


def register(api: FastAPI) -> None:
    built: dict[str, Any] = {}

    @api.get("/api/openapi.json", include_in_schema=False, dependencies=require(Role.VIEWER))
    async def openapi() -> JSONResponse:
        if not built:
            built.update(build_schema(api))
        return JSONResponse(built)
