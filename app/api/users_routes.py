"""/api/users: the users list and every change to it (admins only).

Passwords go in, never out: the list shows whether a user has a local password, not its hash.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, FastAPI, Path, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from app.api.errors import error_responses
from app.api.roles import acting_user, require
from services.auth.user_admin import USERNAME_MAX, UserAdmin, UserView
from services.fields import MAX_ID
from services.store.models import Role

UserId = Annotated[int, Path(ge=1, le=MAX_ID, description="user id")]


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    username: str
    role: Role
    disabled: bool
    oidc: bool = Field(description="signs in through the OIDC provider")
    has_password: bool = Field(description="may sign in with a local password")
    email: str | None
    last_login_at: datetime | None
    created_at: datetime


class UserIn(BaseModel):
    """A new local user."""

    model_config = ConfigDict(extra="forbid")

    username: str = Field(max_length=USERNAME_MAX)
    password: str = Field(max_length=1024)
    role: Role = Role.VIEWER


class UserChange(BaseModel):
    """Fields left out stay as they are. Either change ends the user's sessions."""

    model_config = ConfigDict(extra="forbid")

    role: Role | None = None
    disabled: bool | None = None


class PasswordReset(BaseModel):
    model_config = ConfigDict(extra="forbid")

    password: str = Field(max_length=1024)


def _out(view: UserView) -> UserOut:
    return UserOut.model_validate(view)


def register(api: FastAPI, users: UserAdmin) -> None:
    router = APIRouter(prefix="/api/users", tags=["users"])
    admin = require(Role.ADMIN)
    one = error_responses(404, 422)

    @router.get("", summary="Users with their role, state and last sign-in", dependencies=admin)
    async def list_users() -> list[UserOut]:
        return [_out(u) for u in await users.list()]

    @router.post(
        "",
        status_code=201,
        summary="Add a local user",
        responses=error_responses(422),
        dependencies=admin,
    )
    async def add_user(body: UserIn, request: Request) -> UserOut:
        actor = acting_user(request)
        return _out(await users.add(actor, body.username, body.password, body.role))

    @router.patch(
        "/{user_id}",
        summary="Change a user's role, or disable/enable it (ends its sessions)",
        responses=one,
        dependencies=admin,
    )
    async def change_user(user_id: UserId, body: UserChange, request: Request) -> UserOut:
        """422 (naming the field) when no enabled admin would be left."""
        actor = acting_user(request)
        view = await users.get(user_id)
        if body.role is not None:
            view = await users.set_role(actor, user_id, body.role)
        if body.disabled is not None:
            view = await users.set_disabled(actor, user_id, body.disabled)
        return _out(view)

    @router.post(
        "/{user_id}/password",
        summary="Set a new password for a user (ends its sessions)",
        responses=one,
        dependencies=admin,
    )
    async def reset_password(user_id: UserId, body: PasswordReset, request: Request) -> UserOut:
        return _out(await users.reset_password(acting_user(request), user_id, body.password))

    @router.delete(
        "/{user_id}",
        status_code=204,
        summary="Remove a user (not the last enabled admin)",
        responses=one,
        dependencies=admin,
    )
    async def remove_user(user_id: UserId, request: Request) -> Response:
        await users.remove(acting_user(request), user_id)
        return Response(status_code=204)

    api.include_router(router)
