"""/settings: global settings, registries, NPM, notifications, webhook URL, export/re-import,
and the signed-in user's account (password change).

Each card is a component calling one service method per action; after a re-import the cards
above it are built again from the services, so they show what was imported.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from fastapi import Request
from nicegui import ui
from starlette.types import Scope

from pages.components.roles import can, not_allowed
from pages.components.settings_account import AccountSection
from pages.components.settings_auth import AuthSection
from pages.components.settings_global import global_sections
from pages.components.settings_npm import NpmSection
from pages.components.settings_registries import RegistriesSection
from pages.components.settings_transfer import TransferSection
from pages.components.settings_users import UsersSection
from pages.components.settings_webhook import WebhookSection
from pages.layout import frame
from services.admin.auth_settings_admin import AuthSettingsAdmin
from services.admin.config_transfer import ConfigTransfer
from services.admin.registry_admin import RegistryAdmin
from services.admin.settings_admin import SettingsAdmin
from services.audit.log import Actor
from services.auth.sessions import AuthService, Principal, principal_in
from services.auth.user_admin import UserAdmin
from services.store.models import Role
from services.views.system_status import SystemStatus


@dataclass(frozen=True)
class SettingsServices:
    """What the settings page calls."""

    settings: SettingsAdmin
    registries: RegistryAdmin
    transfer: ConfigTransfer
    status: SystemStatus
    auth: AuthService
    users: UserAdmin
    # Moves a page client (by id) to a fresh session: the page that changed the password
    # stays open until it hands the browser the new cookie.
    move_page: Callable[[str, Principal], None]
    auth_settings: AuthSettingsAdmin
    # The OIDC redirect URI for the origin a request was addressed to (None: no usable host).
    redirect_uri: Callable[[Scope], str | None]


def register(services: SettingsServices) -> None:
    @ui.page("/settings")
    async def settings_page(request: Request) -> None:
        with frame("Settings", services.status):
            if can(Role.ADMIN):
                ui.label("Settings").classes("text-2xl font-semibold")
                page = _SettingsPage(services, str(request.base_url))
                await page.build()
                TransferSection(services.transfer, page.build)
            else:  # everyone keeps their own account (password) below
                not_allowed(Role.ADMIN, "Changing the settings")
            principal = principal_in(request.state)
            client = request.client.host if request.client else ""
            if principal is not None and can(Role.ADMIN):
                actor = Actor.user(principal.username, client)
                view = await services.auth_settings.get()
                uri = services.redirect_uri(request.scope)
                AuthSection(services.auth_settings, view, uri, actor)
                await UsersSection(services.users, actor, principal.role).load()
            if principal is not None:
                AccountSection(services.auth, principal, client, services.move_page)


class _SettingsPage:
    def __init__(self, services: SettingsServices, base_url: str) -> None:
        self._services, self._base_url = services, base_url
        self.body = ui.column().classes("w-full gap-4")

    async def build(self) -> None:
        """(Re)build every card from the services' current state."""
        admin = self._services.settings
        global_view, npm_view = await admin.get_global(), await admin.get_npm()
        webhook_path = await admin.webhook_path()
        self.body.clear()
        with self.body:
            global_sections(admin, global_view)
            registries = RegistriesSection(self._services.registries)
            NpmSection(admin, npm_view)
            WebhookSection(admin, self._base_url, webhook_path)
        await registries.load()
