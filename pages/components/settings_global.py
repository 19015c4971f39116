"""The installation-wide settings card and the notifications card.

Both save the one global settings row; each card sends its own fields on top of the values
last loaded, so saving notifications never saves a half-typed domain from the other card.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from nicegui import ui

from pages.components.acting import page_actor
from pages.components.config_widgets import ErrorBanner, FieldErrors, busy, section, status_chip
from services.admin.settings_admin import GlobalInput, GlobalView, SettingsAdmin
from services.errors import ValidationFailed, WatcherError
from services.fields import (
    AUDIT_RETENTION_MAX,
    AUDIT_RETENTION_MIN,
    POLL_INTERVAL_MAX,
    POLL_INTERVAL_MIN,
    ROLLBACK_KEEP_MAX,
    ROLLBACK_KEEP_MIN,
)

_INPUT_FIELDS = [f.name for f in dataclasses.fields(GlobalView) if f.name != "updated_at"]


def _split_lines(text: str | None) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


class _GlobalSaver:
    """Shared by both cards: last saved view, parse, save, field errors."""

    def __init__(self, admin: SettingsAdmin, view: GlobalView) -> None:
        self.admin, self.view = admin, view

    async def save(
        self, changes: dict[str, Any], errors: FieldErrors, failure: ErrorBanner, button: ui.button
    ) -> bool:
        values = {name: getattr(self.view, name) for name in _INPUT_FIELDS} | changes
        values = {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}
        failure.hide()
        try:
            data = GlobalInput.parse(values)
            async with busy(button):
                self.view = await self.admin.update_global(data, actor=page_actor())
        except ValidationFailed as exc:
            errors.show(exc.errors)
            return False
        except WatcherError as exc:
            failure.show(exc, "Settings not saved")
            return False
        errors.clear()
        ui.notify("Settings saved.", type="positive")
        return True


class GlobalSection:
    """Domain, server address, network, subdomain pattern (with example), polling, allow-lists."""

    def __init__(self, saver: _GlobalSaver) -> None:
        self._saver, view = saver, saver.view
        self.errors = FieldErrors()
        with section("General", "How instances are named, reached and found."):
            self._reach(view)
            self.pattern = self._field(
                "subdomain_pattern",
                ui.input("Subdomain pattern", value=view.subdomain_pattern),
                "placeholders {stage}, {project} and optionally {tag}",
            )
            self.example = ui.label().classes("text-sm text-gray-600").mark("pattern-example")
            self.allow = self._lines(
                "auto_create_allow",
                "Webhook may auto-create",
                view,
                "repository globs, one per line, e.g. git.example.com/me/*",
            )
            self.roots = self._lines(
                "volume_roots",
                "Allowed volume roots",
                view,
                "host folders volumes may use, one per line",
            )
            self.named = self._lines(
                "named_volumes",
                "Allowed Docker volumes",
                view,
                "globs of Docker volume names projects may mount, one per line, e.g. app-*; "
                "empty: none (never the watcher's own or NPM's volumes)",
            )
            self.failure = ErrorBanner()
            self.save_button = ui.button("Save", icon="save", on_click=self.submit)
            self.save_button.mark("global-save")
        for field in (self.pattern, self.domain):
            field.on_value_change(self.show_example)
        self.show_example()

    def _reach(self, view: GlobalView) -> None:
        with ui.grid(columns=2).classes("w-full gap-x-4 gap-y-4"):
            self.domain = self._field(
                "domain",
                ui.input("Domain", value=view.domain),
                "a wildcard DNS record *.domain points at this host",
            )
            self.ip = self._field("server_ip", ui.input("Server IP", value=view.server_ip))
            self.network = self._field(
                "network",
                ui.input("Docker network", value=view.network),
                "shared with NPM; created when missing",
            )
            poll = ui.number(
                "Polling interval (s)",
                value=view.poll_interval,
                min=POLL_INTERVAL_MIN,
                max=POLL_INTERVAL_MAX,
                step=10,
            )
            self.poll = self._field("poll_interval", poll, "how often registries are asked")
            keep = ui.number(
                "Rollback images kept",
                value=view.rollback_keep,
                min=ROLLBACK_KEEP_MIN,
                max=ROLLBACK_KEEP_MAX,
                step=1,
            )
            self.keep = self._field(
                "rollback_keep", keep, "last successful digests per stage kept on the engine"
            )
            retention = ui.number(
                "Audit log kept (days)",
                value=view.audit_retention_days,
                min=AUDIT_RETENTION_MIN,
                max=AUDIT_RETENTION_MAX,
                step=1,
            )
            self.retention = self._field(
                "audit_retention_days", retention, "older audit rows are purged"
            )

    def _field(self, path: str, field: Any, hint: str = "") -> Any:
        field.props("outlined dense").classes("w-full").mark(f"global-{path}")
        if hint:
            field.props["hint"] = hint
        self.errors.add(path, field)
        return field

    def _lines(self, path: str, label: str, view: GlobalView, hint: str) -> ui.textarea:
        text = "\n".join(getattr(view, path))
        field: ui.textarea = self._field(path, ui.textarea(label, value=text), hint)
        return field.props("autogrow")

    def show_example(self) -> None:
        """Live preview of the pattern: what a project's dev stage would be called."""
        try:
            text = self._saver.admin.subdomain_example(
                self.pattern.value or "", self.domain.value or ""
            )
        except ValidationFailed as exc:
            self.example.set_text(f"Not a valid pattern: {exc.errors[0].message}")
            self.example.classes(replace="text-sm text-red-700")
            return
        self.example.set_text(f"Example: {text}")
        self.example.classes(replace="text-sm text-gray-600")

    async def submit(self) -> None:
        changes = {
            "domain": (self.domain.value or "").strip(),
            "server_ip": (self.ip.value or "").strip(),
            "network": (self.network.value or "").strip(),
            "subdomain_pattern": (self.pattern.value or "").strip(),
            "poll_interval": int(self.poll.value) if self.poll.value is not None else None,
            "auto_create_allow": _split_lines(self.allow.value),
            "volume_roots": _split_lines(self.roots.value),
            "named_volumes": _split_lines(self.named.value),
            "rollback_keep": int(self.keep.value) if self.keep.value is not None else None,
            "audit_retention_days": (
                int(self.retention.value) if self.retention.value is not None else None
            ),
        }
        await self._saver.save(changes, self.errors, self.failure, self.save_button)


class NotificationsSection:
    """Notification URLs and "Send test" with one result line per URL."""

    def __init__(self, saver: _GlobalSaver) -> None:
        self._saver = saver
        self.errors = FieldErrors()
        hint = "Each URL gets a JSON POST on deploy success, failure and waiting tags."
        with section("Notifications", hint):
            urls = "\n".join(saver.view.notification_urls)
            self.urls = ui.textarea("Notification URLs (one per line)", value=urls)
            self.urls.props("outlined dense autogrow").classes("w-full").mark("notify-urls")
            self.urls.props["hint"] = (
                "Saved URLs show only their host (they often hold a token): leave a line as it "
                "is to keep that URL, delete it to remove it, or type a new URL in its place."
            )
            self.errors.add("notification_urls", self.urls)
            self.failure = ErrorBanner()
            with ui.row().classes("gap-2"):
                self.save_button = ui.button("Save", icon="save", on_click=self.submit)
                self.save_button.mark("notify-save")
                self.test_button = ui.button("Send test", icon="send", on_click=self.send_test)
                self.test_button.props("flat").mark("notify-test")
            self.results = ui.column().classes("w-full gap-1")

    async def submit(self) -> None:
        changes = {"notification_urls": _split_lines(self.urls.value)}
        await self._saver.save(changes, self.errors, self.failure, self.save_button)

    async def send_test(self) -> None:
        self.results.clear()
        async with busy(self.test_button):
            results = await self._saver.admin.send_test_notification()
        with self.results:
            if not results:
                ui.label("No notification URL saved yet: add one above and save it first.")
            for result in results:
                text = "delivered" if result.ok else f"failed: {result.error}"
                status_chip(f"{result.channel}: {text}", result.ok)


def global_sections(
    admin: SettingsAdmin, view: GlobalView
) -> tuple[GlobalSection, NotificationsSection]:
    """Both cards over one saver (they share the settings row)."""
    saver = _GlobalSaver(admin, view)
    return GlobalSection(saver), NotificationsSection(saver)
