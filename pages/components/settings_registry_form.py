"""The add/edit registry dialog: fields, Test connection, and Save that tests first.

Credentials are tested before they are saved (a wrong token is found now, not at the first
deploy); when the registry cannot be reached the person may still save on purpose.
"""

from __future__ import annotations

from typing import Any

from nicegui import ui

from pages.components.acting import page_actor
from pages.components.config_widgets import ErrorBanner, FieldErrors
from pages.components.tested_form import TestedForm
from services.admin.registry_admin import RegistryAdmin, RegistryInput, RegistryView
from services.errors import ValidationFailed, WatcherError
from services.fields import REGISTRY_DEFAULTS

TYPES = {  # the kinds of `services.fields.RegistryKind`, named for people
    "gitea": "Gitea / Forgejo",
    "github": "GitHub (ghcr.io)",
    "dockerhub": "Docker Hub",
    "generic": "Other OCI registry",
}


class RegistryDialog(TestedForm[RegistryInput]):
    """Opened with `edit(view)` or `add()`; `await dialog.done` says whether it saved."""

    def __init__(self, admin: RegistryAdmin, current: RegistryView | None) -> None:
        self._admin, self._current = admin, current
        with ui.dialog().props("persistent") as self.dialog, ui.card().classes("w-[32rem] gap-2"):
            title = f"Edit registry {current.name}" if current else "Add a registry"
            ui.label(title).classes("text-lg font-semibold")
            self._fields(current)
            self.result = ui.column().classes("w-full")
            self.failure = ErrorBanner()
            self._buttons()

    def _fields(self, current: RegistryView | None) -> None:
        self.errors = FieldErrors()
        self.name = ui.input("Name", value=current.name if current else "")
        self.type = ui.select(
            TYPES, value=current.type if current else REGISTRY_DEFAULTS.type, label="Type"
        )
        self.url = ui.input("URL", value=current.url if current else "", placeholder="https://")
        self.username = ui.input("Username", value=current.username if current else "")
        hint = "stored; leave empty to keep it" if current and current.has_token else ""
        self.token = ui.input("Token or password", password=True, password_toggle_button=True)
        self.token.props("autocomplete=new-password")
        self.token.props["hint"] = hint
        self.clear_token = ui.checkbox("Remove the stored token").mark("reg-clear-token")
        self.clear_token.set_visibility(bool(current and current.has_token))
        for name, field in (("name", self.name), ("type", self.type), ("url", self.url)):
            field.classes("w-full").props("outlined dense").mark(f"reg-{name}")
            self.errors.add(name, field)
        for name, field in (("username", self.username), ("token", self.token)):
            field.classes("w-full").props("outlined dense").mark(f"reg-{name}")
            self.errors.add(name, field)

    def _buttons(self) -> None:
        with ui.row().classes("w-full justify-between items-center"):
            self.test_button = ui.button("Test connection", icon="network_check")
            self.test_button.props("flat").mark("reg-test").on_click(self.test)
            with ui.row().classes("gap-2"):
                ui.button("Cancel", on_click=lambda: self.dialog.submit(False)).props("flat")
                self.anyway = ui.button("Save without a working test", on_click=self.save_anyway)
                self.anyway.props("flat color=warning").mark("reg-save-anyway")
                self.anyway.set_visibility(False)
                self.save_button = ui.button("Save", icon="save", on_click=self.save)
                self.save_button.mark("reg-save")

    def _input(self) -> RegistryInput | None:
        token: str | None = self.token.value or None
        if self.clear_token.value:
            token = ""
        values: dict[str, Any] = {
            "name": (self.name.value or "").strip(),
            "url": (self.url.value or "").strip(),
            "type": self.type.value,
            "username": (self.username.value or "").strip(),
            "token": token,
        }
        try:
            data = RegistryInput.parse(values)
        except ValidationFailed as exc:
            self.errors.show(exc.errors)
            return None
        self.errors.clear()
        return data

    async def _check(self, data: RegistryInput) -> str:
        current_id = self._current.id if self._current else None
        return await self._admin.test_input(data, registry_id=current_id)

    async def _store(self, data: RegistryInput) -> None:
        try:
            if self._current:
                await self._admin.update(self._current.id, data, actor=page_actor())
            else:
                await self._admin.create(data, actor=page_actor())
        except ValidationFailed as exc:
            self.errors.show(exc.errors)
            return
        except WatcherError as exc:
            self.failure.show(exc, "Registry not saved")
            return
        self.dialog.submit(True)
