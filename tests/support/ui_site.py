"""The dashboard, project and quick deploy pages in a simulated browser over a real `World`.

The pages get the same `PageServices` the app builds (live board on the world's event bus,
overview over its database, instance admin and quick deploy over its engine and registry), and
the browser is signed in through the real auth guard.
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
from app.detection_wiring import DetectionServices
from app.page_wiring import build_page_services
from pages import dashboard, project, quick_deploy
from pages.components.deps import PageServices
from services.admin.instance_admin import InstanceAdmin
from services.views.system_status import SystemStatus
from tests.support.auth_fakes import make_auth
from tests.support.detection import detected
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
    auth, users, _, _ = make_auth()
    async with detected(world) as detection, user_simulation() as user:
        nicegui_app.add_middleware(AuthGuard, auth=auth)
        pages = _pages(world, detection)
        dashboard.register(pages)
        project.register(pages)
        quick_deploy.register(pages)
        user.http_client.cookies.set(SESSION_COOKIE, auth.issue_token(users.users["admin"]).token)
        try:
            yield UiSite(user, world, pages, detection)
        finally:
            pages.live.close()


def _pages(world: World, detection: DetectionServices) -> PageServices:
    services = world.services
    admin = InstanceAdmin(world.projects, world.instances, services.control, services.deployer)
    status = SystemStatus(world.engine, world.db)
    return build_page_services(
        status, world.db, world.projects, world.deploys, services.bus, admin, detection.quick
    )


def assert_no_error_logs(caplog: pytest.LogCaptureFixture) -> None:
    errors = [r.getMessage() for r in caplog.get_records("call") if r.levelno >= logging.ERROR]
    assert not errors, f"unexpected error logs: {errors}"
