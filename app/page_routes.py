"""Every NiceGUI page of the app, each given only the services it calls."""

from __future__ import annotations

from app.page_sessions import PageSessions
from app.page_wiring import page_services
from app.runtime import Runtime
from pages import dashboard, login, project, project_config, quick_deploy, settings
from pages.project_config import ConfigServices
from pages.settings import SettingsServices
from services.admin.config_transfer import ConfigTransfer


def register_pages(runtime: Runtime, sessions: PageSessions) -> None:
    """One line per page module."""
    login.register(runtime.auth)
    pages = page_services(runtime)  # one live board for every open page
    # Before project: its /projects/{project_id} would otherwise also match /projects/new.
    project_config.register(_config_services(runtime))
    dashboard.register(pages)
    project.register(pages)
    quick_deploy.register(pages)
    settings.register(_settings_services(runtime, sessions))


def _config_services(runtime: Runtime) -> ConfigServices:
    admin = runtime.admin
    return ConfigServices(
        admin.project_admin,
        admin.registry_admin,
        admin.settings_admin,
        admin.env_config,
        admin.volume_config,
        runtime.status,
    )


def _settings_services(runtime: Runtime, sessions: PageSessions) -> SettingsServices:
    admin, transfer = runtime.admin, ConfigTransfer(runtime.stores.config)
    return SettingsServices(
        admin.settings_admin,
        admin.registry_admin,
        transfer,
        runtime.status,
        runtime.auth,
        sessions.move,
    )
