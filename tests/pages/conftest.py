"""A simulated browser (NiceGUI's `User`) over the sign-in wiring: guard, auth routes, pages.

Built on `nicegui.testing.user_simulation` directly instead of the `user_plugin`, so the rest
of the suite needs no `main_file` setting and no plugin that changes global NiceGUI storage.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from nicegui import app as nicegui_app
from nicegui.testing import User
from nicegui.testing.user_simulation import user_simulation

from app.api import auth_routes
from app.auth_guard import SESSION_COOKIE, AuthGuard
from app.db import Database
from app.store.instances import InstanceStore
from app.store.projects import ProjectStore
from app.store.registries import RegistryStore
from app.store.settings_store import SettingsStore
from pages import dashboard, login
from services.auth import AuthService
from services.env_config import EnvConfigService
from services.secrets import SecretBox
from services.status import SystemStatus
from services.volume_config import VolumeConfigService
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


@dataclass
class ConfigSite:
    """A signed-in browser over the configuration pages, backed by a real temporary database."""

    user: User
    db: Database
    box: SecretBox
    projects: ProjectStore
    settings: SettingsStore
    registries: RegistryStore
    env: EnvConfigService
    volumes: VolumeConfigService
    data_dir: Path


@pytest.fixture
async def config_site(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> AsyncIterator[ConfigSite]:
    """Project configuration and settings pages, signed in as admin, over real stores."""
    db = Database(tmp_path / "watcher.db")
    db.migrate()
    box = SecretBox(os.urandom(32))
    projects, instances = ProjectStore(db, box), InstanceStore(db)
    settings, registries = SettingsStore(db, box), RegistryStore(db, box)
    (tmp_path / "volumes").mkdir()
    site = ConfigSite(
        None,  # type: ignore[arg-type]  # set below, inside the simulation
        db,
        box,
        projects,
        settings,
        registries,
        EnvConfigService(projects, instances),
        VolumeConfigService(projects, instances, settings, tmp_path / "volumes"),
        tmp_path,
    )
    auth, users, _, _ = make_auth()
    async with user_simulation() as user:
        nicegui_app.add_middleware(AuthGuard, auth=auth)
        register_config_pages(site)
        user.http_client.cookies.set(SESSION_COOKIE, auth.issue_token(users.users["admin"]).token)
        site.user = user
        yield site
    db.close()
    errors = [r.getMessage() for r in caplog.get_records("call") if r.levelno >= logging.ERROR]
    assert not errors, f"unexpected error logs: {errors}"


def register_config_pages(site: ConfigSite) -> None:
    """The pages under test, wired the way app/page_routes.py wires them."""
    from nicegui import ui

    from pages.components.config_env import EnvEditor
    from pages.components.config_volumes import VolumeEditor

    @ui.page("/test/editors/{project_id}")
    async def editors(project_id: int) -> None:
        await EnvEditor(site.env, project_id).load()
        await VolumeEditor(site.volumes, project_id).load()
