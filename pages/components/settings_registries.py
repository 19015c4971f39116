"""The registries section: each registry with Test connection, Edit and Delete, and Add."""

from __future__ import annotations

from nicegui import ui

from pages.components.acting import page_actor
from pages.components.config_widgets import (
    ErrorBanner,
    busy,
    confirm,
    headline,
    section,
    status_chip,
)
from pages.components.settings_registry_form import TYPES, RegistryDialog
from services.admin.registry_admin import RegistryAdmin, RegistryView
from services.errors import WatcherError


class RegistriesSection:
    """Lists registries from the service and reloads the list after every change."""

    def __init__(self, admin: RegistryAdmin) -> None:
        self._admin = admin
        with section("Registries", "Where your CI pushes images. Tokens are stored encrypted."):
            self.failure = ErrorBanner()
            self.list = ui.column().classes("w-full gap-2")
            add = ui.button("Add registry", icon="add", on_click=self.add)
            add.mark("reg-add")

    async def load(self) -> None:
        try:
            registries = await self._admin.list()
        except WatcherError as exc:
            self.failure.show(exc, "Cannot list the registries")
            return
        self.list.clear()
        with self.list:
            if not registries:
                ui.label(
                    "No registries yet. Add the one your CI pushes to (Gitea, GitHub's ghcr.io, "
                    "Docker Hub or any OCI registry), then test the connection."
                ).classes("text-sm text-gray-500").mark("reg-empty")
            for registry in registries:
                _RegistryRow(self._admin, registry, self)

    async def add(self) -> None:
        await self.edit(None)

    async def edit(self, current: RegistryView | None) -> None:
        form = RegistryDialog(self._admin, current)
        saved = await form.dialog
        form.dialog.delete()
        if saved:
            ui.notify("Registry saved.", type="positive")
            await self.load()


class _RegistryRow:
    """One registry: what it is, who uses it, and its actions with the last test result."""

    def __init__(self, admin: RegistryAdmin, view: RegistryView, owner: RegistriesSection) -> None:
        self._admin, self._view, self._owner = admin, view, owner
        with ui.card().classes("w-full p-3 gap-1").props("flat bordered").mark(f"reg-{view.name}"):
            with ui.row().classes("w-full items-center gap-3"):
                ui.label(view.name).classes("font-semibold")
                ui.badge(TYPES.get(view.type, view.type)).props("outline color=primary")
                ui.label(view.url).classes("text-sm font-mono text-gray-600 grow")
                self._actions()
            ui.label(_credentials(view)).classes("text-sm text-gray-500")
            self.result = ui.column().classes("w-full")

    def _actions(self) -> None:
        name = self._view.name
        self.test_button = ui.button("Test connection", icon="network_check", on_click=self.test)
        self.test_button.props("flat dense").mark(f"reg-test-{name}")
        edit = ui.button(icon="edit", on_click=lambda: self._owner.edit(self._view))
        edit.props("flat dense round").tooltip("Edit").mark(f"reg-edit-{name}")
        delete = ui.button(icon="delete", on_click=self.delete)
        delete.props("flat dense round color=negative").mark(f"reg-delete-{name}")
        if self._view.used_by:
            delete.disable()
            delete.tooltip(f"Used by {', '.join(self._view.used_by)}: change those first")
        else:
            delete.tooltip("Delete")

    async def test(self) -> None:
        self.result.clear()
        async with busy(self.test_button):
            try:
                summary = await self._admin.test(self._view.id)
            except WatcherError as exc:
                with self.result:
                    status_chip(f"{headline(exc)}: {exc}", ok=False)
                return
        with self.result:
            status_chip(summary, ok=True)

    async def delete(self) -> None:
        actor = page_actor()  # before any await: the clicked element may be re-rendered meanwhile
        lines = [
            f"The registry {self._view.name} ({self._view.url}) and its stored token are "
            "removed. No project uses it.",
        ]
        if not await confirm(f"Delete registry {self._view.name}?", lines, "Delete registry"):
            return
        try:
            await self._admin.delete(self._view.id, actor=actor)
        except WatcherError as exc:
            self._owner.failure.show(exc, "Registry not deleted")
            return
        ui.notify(f"Registry {self._view.name} deleted.", type="positive")
        await self._owner.load()


def _credentials(view: RegistryView) -> str:
    who = f"as {view.username}" if view.username else "anonymous"
    token = "token stored" if view.has_token else "no token"
    users = f"used by {', '.join(view.used_by)}" if view.used_by else "not used by any project"
    return f"{who} · {token} · {users}"
