"""A simulated browser (NiceGUI's `User`) over the sign-in wiring: guard, auth routes, pages.

Built on `nicegui.testing.user_simulation` directly instead of the `user_plugin`, so the rest
of the suite needs no `main_file` setting and no plugin that changes global NiceGUI storage.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from docker import DockerClient
from nicegui import app as nicegui_app
from nicegui import ui
from nicegui.testing import User
from nicegui.testing.user_simulation import user_simulation

from app.api import auth_routes, webhook_routes
from app.auth_guard import SESSION_COOKIE, AuthGuard
from app.wiring import AdminServices, PageBundles, Runtime, Stores, build_pages
from pages import login, project_config, settings
from pages.layout import frame
from services.admin.config_transfer import ConfigTransfer
from services.auth.sessions import AuthService
from services.views.system_status import SystemStatus
from tests.support.auth_fakes import FakeClock, FakeUsers, FixedModes, make_auth
from tests.support.registry_server import RegistryServer
from tests.support.runtime import add_admin, running
from tests.support.ui_site import UiSite, assert_no_error_logs, ui_site
from tests.support.world import make_world


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
    users: FakeUsers
    modes: FixedModes  # which ways in the login page offers


@pytest.fixture
async def browser(caplog: pytest.LogCaptureFixture) -> AsyncIterator[Browser]:
    """A signed-out browser; the app has the login page and the (protected) dashboard at `/`."""
    auth, users, clock, _ = make_auth()
    modes = FixedModes()
    async with user_simulation() as user:
        nicegui_app.add_middleware(AuthGuard, auth=auth)  # the same three lines as create_app
        auth_routes.register(nicegui_app, auth, modes)
        login.register(auth, modes)
        _landing_page()
        yield Browser(user, auth, clock, users, modes)
    errors = [r.getMessage() for r in caplog.get_records("call") if r.levelno >= logging.ERROR]
    assert not errors, f"unexpected error logs: {errors}"


def _landing_page() -> None:
    """A protected page at `/` to land on after signing in (the dashboard has its own tests)."""

    @ui.page("/")
    def landing() -> None:
        with frame("Dashboard", SystemStatus(_Engine(), _Database())):
            ui.label("Dashboard")


@dataclass
class ConfigSite:
    """A signed-in browser over the configuration pages, backed by the app's graph over a real
    temporary database (`tests.support.runtime`)."""

    user: User
    runtime: Runtime
    data_dir: Path

    @property
    def stores(self) -> Stores:
        return self.runtime.stores

    @property
    def admin(self) -> AdminServices:
        return self.runtime.admin

    @property
    def transfer(self) -> ConfigTransfer:
        return self.runtime.admin.transfer

    @property
    def auth(self) -> AuthService:
        return self.runtime.auth


@pytest.fixture
async def config_site(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> AsyncIterator[ConfigSite]:
    """Project configuration and settings pages, signed in as admin, over real stores."""
    async with running(tmp_path) as runtime, user_simulation() as user:
        admin = add_admin(runtime)
        nicegui_app.add_middleware(AuthGuard, auth=runtime.auth)
        deployer = runtime.services.deployer
        webhook_routes.register(nicegui_app, runtime.detection.webhook, lambda: deployer.accepting)
        # the hand-off after a password change
        auth_routes.register(nicegui_app, runtime.auth, runtime.oidc)
        pages = build_pages(runtime)
        register_config_pages(pages)
        user.http_client.cookies.set(SESSION_COOKIE, runtime.auth.issue_token(admin).token)
        try:
            yield ConfigSite(user, runtime, tmp_path)
        finally:
            pages.close()
    errors = [r.getMessage() for r in caplog.get_records("call") if r.levelno >= logging.ERROR]
    assert not errors, f"unexpected error logs: {errors}"


def register_config_pages(pages: PageBundles) -> None:
    """The pages under test, as app/page_routes.py registers them."""

    @ui.page("/")
    def home() -> None:  # where deleting a project lands (the dashboard is another page's)
        ui.label("Home page stub")

    settings.register(pages.settings)
    project_config.register(pages.config)


@pytest.fixture
async def site(
    docker_client: DockerClient,
    registry: RegistryServer,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> AsyncIterator[UiSite]:
    """The live pages over a whole installation (real engine and registry), signed in."""
    async with make_world(docker_client, registry, tmp_path) as world, ui_site(world) as built:
        yield built
    assert_no_error_logs(caplog)
