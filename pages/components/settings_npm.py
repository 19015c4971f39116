"""The Nginx Proxy Manager card: address, credentials (masked), test, certificate, ssl_forced.

The certificate chosen here goes on new hosts unless a stage names its own; "Automatic" lets
each new host get a valid certificate NPM holds for its name. Loading the certificates also
lists those expiring within 14 days and a missing wildcard for the domain.

Save tests the credentials first (a wrong password is found now, not at the first deploy);
when NPM cannot be reached the person may still save on purpose.
"""

from __future__ import annotations

from typing import Any

from nicegui import ui

from pages.components.acting import page_actor
from pages.components.config_widgets import ErrorBanner, FieldErrors, busy, section
from pages.components.tested_form import TestedForm
from services.admin.settings_admin import NpmInput, NpmView, SettingsAdmin
from services.errors import ValidationFailed, WatcherError
from services.npm.values import Certificate

NO_CERTIFICATE = 0
AUTOMATIC = "Automatic: a valid one covering each name (exact, then wildcard)"


class NpmSection(TestedForm[NpmInput]):
    def __init__(self, admin: SettingsAdmin, view: NpmView) -> None:
        self._admin, self._view = admin, view
        self.errors = FieldErrors()
        hint = "Docker Watcher creates a proxy host per instance subdomain through NPM's API."
        with section("Nginx Proxy Manager", hint):
            if not view.url:
                ui.label(
                    "Not set up yet: instances run but get no subdomain until NPM's address "
                    "and a user for Docker Watcher are saved here."
                ).classes("text-sm text-amber-800").mark("npm-empty")
            self._fields(view)
            self.result = ui.column().classes("w-full")
            self.failure = ErrorBanner()
            self._buttons()

    def _fields(self, view: NpmView) -> None:
        with ui.grid(columns=2).classes("w-full gap-x-4 gap-y-4"):
            self.url = self._add("url", ui.input("NPM URL", value=view.url))
            self.url.props('placeholder="http://npm:81"')
            self.email = self._add("email", ui.input("Email", value=view.email))
            self.password = self._add(
                "password", ui.input("Password", password=True, password_toggle_button=True)
            )
            hint = "stored; leave empty to keep it" if view.has_password else "not set"
            self.password.props("autocomplete=new-password")
            self.password.props["hint"] = hint
            current = view.certificate_id or NO_CERTIFICATE
            options = {NO_CERTIFICATE: AUTOMATIC}
            if view.certificate_id:
                options[view.certificate_id] = f"Certificate #{view.certificate_id}"
            self.certificate = self._add(
                "certificate_id", ui.select(options, value=current, label="Certificate")
            )
        self.ssl_forced = ui.switch("Force HTTPS (ssl_forced)", value=view.ssl_forced)
        self.ssl_forced.mark("npm-ssl_forced")
        self.cert_warnings = ui.column().classes("w-full gap-1")

    def _add(self, path: str, field: Any) -> Any:
        field.props("outlined dense").classes("w-full").mark(f"npm-{path}")
        self.errors.add(path, field)
        return field

    def _buttons(self) -> None:
        with ui.row().classes("gap-2 items-center"):
            self.save_button = ui.button("Save", icon="save", on_click=self.save)
            self.save_button.mark("npm-save")
            self.test_button = ui.button("Test connection", icon="network_check")
            self.test_button.props("flat").mark("npm-test").on_click(self.test)
            self.cert_button = ui.button("Load certificates", icon="refresh")
            self.cert_button.props("flat").mark("npm-certs").on_click(self.load_certificates)
            self.anyway = ui.button("Save without a working test", on_click=self.save_anyway)
            self.anyway.props("flat color=warning").mark("npm-save-anyway")
            self.anyway.set_visibility(False)

    def _input(self) -> NpmInput | None:
        values = {
            "url": (self.url.value or "").strip(),
            "email": (self.email.value or "").strip(),
            "password": self.password.value or None,
            "certificate_id": self.certificate.value or None,
            "ssl_forced": bool(self.ssl_forced.value),
        }
        try:
            data = NpmInput.parse(values)
        except ValidationFailed as exc:
            self.errors.show(exc.errors)
            return None
        self.errors.clear()
        return data

    async def _check(self, data: NpmInput) -> str:
        return await self._admin.test_npm(data)

    async def _store(self, data: NpmInput) -> None:
        try:
            self._view = await self._admin.update_npm(data, actor=page_actor())
        except ValidationFailed as exc:  # e.g. a new address without its password
            self.errors.show(exc.errors)
            return
        except WatcherError as exc:
            self.failure.show(exc, "NPM settings not saved")
            return
        self.anyway.set_visibility(False)
        self.password.set_value("")
        if self._view.has_password:
            self.password.props["hint"] = "stored; leave empty to keep it"
        ui.notify("NPM settings saved.", type="positive")

    async def load_certificates(self) -> None:
        """NPM's certificates (with the saved credentials) as the certificate choices."""
        self.failure.hide()
        async with busy(self.cert_button):
            try:
                certificates = await self._admin.certificates()
            except WatcherError as exc:
                self.failure.show(exc, "Cannot list NPM's certificates")
                return
        options = {NO_CERTIFICATE: AUTOMATIC} | {c.id: _label(c) for c in certificates}
        keep = self.certificate.value if self.certificate.value in options else NO_CERTIFICATE
        self.certificate.set_options(options, value=keep)
        self._show_warnings(await self._admin.certificate_warnings(certificates))
        ui.notify(f"{len(certificates)} certificate(s) found in NPM.")

    def _show_warnings(self, warnings: list[str]) -> None:
        self.cert_warnings.clear()
        with self.cert_warnings:
            for text in warnings:
                ui.label(text).classes("text-sm text-amber-800").mark("npm-cert-warning")


def _label(certificate: Certificate) -> str:
    names = ", ".join(certificate.domain_names) or certificate.nice_name or "(no names)"
    expiry = certificate.expires_on.date().isoformat() if certificate.expires_on else "unknown"
    return f"{names} ({certificate.provider}, expires {expiry})"
