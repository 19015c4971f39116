"""A simulated browser (NiceGUI's `User`) over the sign-in wiring: guard, auth routes, pages.

Built on `nicegui.testing.user_simulation` directly instead of the `user_plugin`, so the rest
of the suite needs no `main_file` setting and no plugin that changes global NiceGUI storage.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from docker import DockerClient
from nicegui import app as nicegui_app
from nicegui import ui
from nicegui.testing import User
from nicegui.testing.user_simulation import user_simulation

from app.admin_wiring import AdminServices, build_admin
from app.api import auth_routes, webhook_routes
from app.auth_guard import SESSION_COOKIE, AuthGuard
from app.detection_wiring import DetectionServices, build_detection
from app.page_sessions import PageSessions
from app.runtime import Stores
from app.services_wiring import DomainServices, WiringInputs, build_services
from pages import login, project_config, settings
from pages.layout import frame
from pages.project_config import ConfigServices
from pages.settings import SettingsServices
from services.admin.config_database import ConfigStore
from services.admin.config_transfer import ConfigTransfer
from services.auth.sessions import AuthService
from services.docker_engine import DockerEngine
from services.secrets import SecretBox
from services.store.db import Database
from services.store.deploys import DeployStore
from services.store.instances import InstanceStore
from services.store.projects import ProjectStore
from services.store.registries import RegistryStore
from services.store.seen_tags import SeenTagStore
from services.store.settings_store import SettingsStore
from services.store.users import UserStore
from services.views.system_status import SystemStatus
from tests.support.auth_fakes import FakeClock, FakeUsers, make_auth
from tests.support.registry_server import RegistryServer
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


@pytest.fixture
async def browser(caplog: pytest.LogCaptureFixture) -> AsyncIterator[Browser]:
    """A signed-out browser; the app has the login page and the (protected) dashboard at `/`."""
    auth, users, clock, _ = make_auth()
    async with user_simulation() as user:
        nicegui_app.add_middleware(AuthGuard, auth=auth)  # the same three lines as create_app
        auth_routes.register(nicegui_app, auth)
        login.register(auth)
        _landing_page()
        yield Browser(user, auth, clock, users)
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
    """A signed-in browser over the configuration pages, backed by a real temporary database."""

    user: User
    stores: Stores
    admin: AdminServices
    services: DomainServices
    transfer: ConfigTransfer
    data_dir: Path
    auth: AuthService
    users: FakeUsers  # the signed-in admin's directory (the auth service's, not the stores')


def _stores(db: Database, box: SecretBox) -> Stores:
    return Stores(
        settings=SettingsStore(db, box),
        registries=RegistryStore(db, box),
        projects=ProjectStore(db, box),
        instances=InstanceStore(db),
        deploys=DeployStore(db),
        users=UserStore(db),
        config=ConfigStore(db, box),
    )


Graph = tuple[Stores, DomainServices, AdminServices, DetectionServices]


@asynccontextmanager
async def config_graph(data_dir: Path) -> AsyncIterator[Graph]:
    """The app's service graph (same wiring functions) over a fresh database in `data_dir`."""
    db = Database(data_dir / "watcher.db")
    db.migrate()
    stores = _stores(db, SecretBox(os.urandom(32)))
    (data_dir / "volumes").mkdir(exist_ok=True)
    engine, http = DockerEngine(), httpx.AsyncClient()
    inputs = WiringInputs(
        stores.projects,
        stores.instances,
        stores.deploys,
        stores.registries,
        stores.settings,
        engine,
        http,
        data_dir,
    )
    services = build_services(inputs)
    detection = build_detection(inputs, services, SeenTagStore(db))
    try:
        yield stores, services, build_admin(stores, services, http, data_dir), detection
    finally:
        await services.deployer.shutdown(5)
        await services.notifier.aclose(1)
        await http.aclose()
        await engine.close()
        db.close()


@pytest.fixture
async def config_site(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> AsyncIterator[ConfigSite]:
    """Project configuration and settings pages, signed in as admin, over real stores."""
    auth, users, _, _ = make_auth()
    async with config_graph(tmp_path) as graph, user_simulation() as user:
        stores, services, admin, detection = graph
        nicegui_app.add_middleware(AuthGuard, auth=auth)
        webhook_routes.register(nicegui_app, detection.webhook)
        auth_routes.register(nicegui_app, auth)  # the sign-in hand-off after a password change
        transfer = ConfigTransfer(stores.config)
        site = ConfigSite(user, stores, admin, services, transfer, tmp_path, auth, users)
        register_config_pages(site)
        user.http_client.cookies.set(SESSION_COOKIE, auth.issue_token(users.users["admin"]).token)
        yield site
    errors = [r.getMessage() for r in caplog.get_records("call") if r.levelno >= logging.ERROR]
    assert not errors, f"unexpected error logs: {errors}"


def register_config_pages(site: ConfigSite) -> None:
    """The pages under test, wired the way app/page_routes.py wires them."""
    status = SystemStatus(_Engine(), _Database())

    @ui.page("/")
    def home() -> None:  # where deleting a project lands (the dashboard is another page's)
        ui.label("Home page stub")

    settings.register(
        SettingsServices(
            site.admin.settings_admin,
            site.admin.registry_admin,
            site.transfer,
            status,
            site.auth,
            PageSessions(site.auth).move,
        )
    )
    project_config.register(
        ConfigServices(
            site.admin.project_admin,
            site.admin.registry_admin,
            site.admin.settings_admin,
            site.admin.env_config,
            site.admin.volume_config,
            status,
        )
    )


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
