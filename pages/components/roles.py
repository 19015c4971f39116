"""The signed-in person's role on a page: what to build, and the check an action repeats.

A control a role may not use is never created (a hidden element could still receive a forged
socket event); a page a role may not open shows `not_allowed` instead of its content; and every
handler that acts checks the role again (`checked`) before calling its service. The rules
themselves live in services.auth.roles, shared with the REST API.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from nicegui import ui

from services.auth.roles import allows, ensure_role
from services.auth.sessions import principal_in
from services.store.models import Role

T = TypeVar("T")


def page_role() -> Role | None:
    """The role of the session this page was opened with (None: not signed in)."""
    principal = principal_in(ui.context.client.request.state)
    return principal.role if principal is not None else None


def can(need: Role, role: Role | None = None) -> bool:
    """Whether this page's person (or `role`) may do what needs `need`."""
    have = role if role is not None else page_role()
    return have is not None and allows(have, need)


async def checked(role: Role | None, need: Role, call: Callable[[], Awaitable[T]]) -> T:
    """Run `call` only if `role` allows `need` (else Forbidden, shown like any failure)."""
    ensure_role(role, need)
    return await call()


def not_allowed(need: Role, what: str) -> None:
    """The page body for someone whose role is below `need`."""
    with ui.card().classes("w-full gap-2").mark("not-allowed"):
        ui.label("Not allowed").classes("text-2xl font-semibold")
        have = page_role()
        ui.label(
            f"{what} needs the {need.value} role; you are signed in as a "
            f"{have.value if have else 'guest'}. An admin can change your role."
        )
        ui.link("Back to the dashboard", "/")
