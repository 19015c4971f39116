"""The shared page frame: header with navigation, the engine status light and Sign out."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from nicegui import ui

from pages.components.roles import can
from services.auth.sessions import principal_in
from services.store.models import Role
from services.views.system_status import SystemStatus


@contextmanager
def frame(title: str, status: SystemStatus) -> Iterator[None]:
    """Lay out a page inside the common header; yields the content column."""
    ui.page_title(f"{title} · Docker Watcher")
    with ui.header().classes("items-center justify-between bg-slate-800"):
        with ui.row().classes("items-center gap-6"):
            ui.label("Docker Watcher").classes("text-lg font-semibold")
            _nav()
        with ui.row().classes("items-center gap-2"):
            ui.icon("circle").classes("text-xs").bind_name_from(
                status, "docker", backward=lambda c: "check_circle" if c.ok else "error"
            )
            ui.label().bind_text_from(status, "docker", backward=lambda c: c.detail).classes(
                "text-sm"
            ).props("data-testid=engine-status")
            _sign_out()
    with ui.column().classes("w-full max-w-6xl mx-auto p-4 gap-4"):
        yield


NAV = (
    ("Dashboard", "/", Role.VIEWER),
    ("Quick deploy", "/quick-deploy", Role.ADMIN),
    ("New project", "/projects/new", Role.ADMIN),
    ("Settings", "/settings", Role.ADMIN),
    ("Audit", "/audit", Role.ADMIN),
)
ACCOUNT = ("Account", "/settings")  # for the others: the settings page shows only the account


def _nav() -> None:
    """The main places the person's role may use; the current one is underlined."""
    here = ui.context.client.request.url.path
    places = [(text, target) for text, target, need in NAV if can(need)]
    if not can(Role.ADMIN):
        places.append(ACCOUNT)
    for text, target in places:
        link = ui.link(text, target).classes("text-white no-underline text-sm hover:underline")
        if here == target:
            link.classes(replace="text-white underline text-sm")


def _sign_out() -> None:
    """Who is signed in, and a real form POST (the route clears the HttpOnly cookie)."""
    principal = principal_in(ui.context.client.request.state)
    if principal is not None:
        ui.label(principal.username).classes("text-sm ml-4")
    with ui.element("form").props('method=post action="/api/auth/logout"'):
        ui.button("Sign out", icon="logout").props("type=submit flat dense no-caps color=white")
