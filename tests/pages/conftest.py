"""A simulated browser (NiceGUI's `User`) over the sign-in wiring: guard, auth routes, pages.

Built on `nicegui.testing.user_simulation` directly instead of the `user_plugin`, so the rest
of the suite needs no `main_file` setting and no plugin that changes global NiceGUI storage.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from nicegui import app as nicegui_app
from nicegui.testing import User
from nicegui.testing.user_simulation import user_simulation

from app.api import auth_routes
from app.auth_guard import AuthGuard
from pages import dashboard, login
from services.auth import AuthService
from services.status import SystemStatus
from tests.support.auth_fakes import FakeClock, make_auth


class _Engine:
    async def ping(self) -> str:
        return "27.0"


class _Database:
    def ping(self) -> None:
        return None


@dataclass
class Browser:
    user: User
    auth: AuthService
    clock: FakeClock


@pytest.fixture
async def browser(caplog: pytest.LogCaptureFixture) -> AsyncIterator[Browser]:
    """A signed-out browser; the app has the login page and the (protected) dashboard at `/`."""
    auth, _, clock, _ = make_auth()
    async with user_simulation() as user:
        nicegui_app.add_middleware(AuthGuard, auth=auth)  # the same three lines as create_app
        auth_routes.register(nicegui_app, auth)
        login.register(auth)
        dashboard.register(SystemStatus(_Engine(), _Database()))
        yield Browser(user, auth, clock)
    errors = [r.getMessage() for r in caplog.get_records("call") if r.levelno >= logging.ERROR]
    assert not errors, f"unexpected error logs: {errors}"
