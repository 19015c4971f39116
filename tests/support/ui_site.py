"""The dashboard, project and quick deploy pages in a simulated browser over a real `World`.

The pages get the `PageServices` the app builds (`app.wiring.build_pages` over the world's
graph: live board on its event bus, overview over its database, instance admin and quick deploy
over its engine and registry), and the browser is signed in as the world's admin through the
real auth guard.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import pytest
from nicegui import app as nicegui_app
from nicegui.testing import User
from nicegui.testing.user_simulation import user_simulation

from app.auth_guard import SESSION_COOKIE, AuthGuard
from app.wiring import DetectionServices, build_pages
from pages import dashboard, project, quick_deploy
from pages.components.deps import PageServices
from tests.support.detection import detected
from tests.support.runtime import add_admin
from tests.support.world import World


@dataclass
class UiSite:
    user: User
    world: World
    pages: PageServices
    detection: DetectionServices


@asynccontextmanager
async def ui_site(world: World) -> AsyncIterator[UiSite]:
    """Pages registered and the browser signed in as admin; the board closed at the end."""
    auth = world.runtime.auth
    async with detected(world) as detection, user_simulation() as user:
        nicegui_app.add_middleware(AuthGuard, auth=auth)
        bundles = build_pages(world.runtime)
        dashboard.register(bundles.main)
        project.register(bundles.main)
        quick_deploy.register(bundles.main)
        token = auth.issue_token(add_admin(world.runtime)).token
        user.http_client.cookies.set(SESSION_COOKIE, token)
        try:
            yield UiSite(user, world, bundles.main, detection)
        finally:
            bundles.close()


def assert_no_error_logs(caplog: pytest.LogCaptureFixture) -> None:
    errors = [r.getMessage() for r in caplog.get_records("call") if r.levelno >= logging.ERROR]
    assert not errors, f"unexpected error logs: {errors}"
