"""The least role each REST route needs, declared on the route itself.

Every signed-in route lists `dependencies=require(Role.X)` in its decorator: the check runs
before the route's own parameters are read, and refuses with 403 (the error shape, naming the
role needed). `declared_role` reads the declaration back, for the OpenAPI document and for the
test that every route has one. Public routes (login, logout, webhooks, health) declare none:
the request guard lets them through without a session (app.auth_guard.is_public).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.exceptions import HTTPException

from app.auth_guard import NOT_SIGNED_IN, current_principal
from services.audit.log import Actor
from services.auth.roles import ensure_role, rank
from services.auth.sessions import Principal
from services.store.models import Role


class RoleCheck:
    """A route dependency: the request's signed-in person must have at least `role`."""

    def __init__(self, role: Role) -> None:
        self.role = role

    async def __call__(self, request: Request) -> Principal:
        principal = current_principal(request)
        if principal is None:  # the guard refuses first; a route outside its reach still fails
            raise HTTPException(401, NOT_SIGNED_IN, {"WWW-Authenticate": "Bearer"})
        ensure_role(principal.role, self.role)
        return principal


def require(role: Role) -> list[Any]:
    """`dependencies=require(Role.DEPLOYER)`: the least role a route needs."""
    return [Depends(RoleCheck(role))]


@dataclass(frozen=True)
class RouteRole:
    """One REST route as the app serves it, with the least role it declares (None: none)."""

    methods: frozenset[str]
    path: str  # FastAPI's path format, as in the OpenAPI document: /api/users/{user_id}
    role: Role | None
    documented: bool


def declared_role(route: Any) -> Role | None:
    """The strictest role a route's dependencies (its own and its routers') require."""
    depends = getattr(route, "dependencies", None) or []
    roles = [d.dependency.role for d in depends if isinstance(d.dependency, RoleCheck)]
    return max(roles, key=rank) if roles else None


def route_roles(api: FastAPI) -> list[RouteRole]:
    """Every API route the app serves (included routers flattened) with its declared role."""
    found: list[RouteRole] = []
    for route in iter_route_contexts(api.routes):
        if isinstance(route.original_route, APIRoute):
            found.append(
                RouteRole(
                    methods=frozenset(route.methods or ()),
                    path=str(route.path_format),
                    role=declared_role(route),
                    documented=bool(route.include_in_schema),
                )
            )
    return found


def acting_user(request: Request) -> Actor:
    """The signed-in person behind a request, for the audit log (with the client address)."""
    principal = current_principal(request)
    if principal is None:  # a role-checked route always has one
        raise HTTPException(401, NOT_SIGNED_IN, {"WWW-Authenticate": "Bearer"})
    return Actor.user(principal.username, request.client.host if request.client else "")
