"""The webhook card: the full URL for CI and registries, Copy, and Regenerate (confirmed)."""

from __future__ import annotations

from nicegui import ui

from pages.components.acting import page_actor
from pages.components.config_widgets import ErrorBanner, busy, confirm, section
from services.admin.settings_admin import SettingsAdmin
from services.errors import WatcherError


class WebhookSection:
    """`base_url` is the address this browser used, so the URL shown is one that works."""

    def __init__(self, admin: SettingsAdmin, base_url: str, path: str) -> None:
        self._admin, self._base = admin, base_url.rstrip("/")
        hint = (
            'Point your CI or registry webhook here: POST {"image": "registry/org/app:tag"}. '
            "Anyone with this URL can report images, so keep it private."
        )
        with section("Webhook URL", hint):
            with ui.row().classes("w-full items-center gap-2 no-wrap"):
                self.url = ui.input(value=self._base + path).props("readonly outlined dense")
                self.url.classes("grow font-mono").mark("webhook-url")
                copy = ui.button(icon="content_copy", on_click=self.copy)
                copy.props("flat round").tooltip("Copy to clipboard").mark("webhook-copy")
            self.failure = ErrorBanner()
            self.regenerate_button = ui.button("Regenerate", icon="autorenew")
            self.regenerate_button.props("flat color=warning").mark("webhook-regenerate")
            self.regenerate_button.on_click(self.regenerate)

    def copy(self) -> None:
        ui.clipboard.write(self.url.value)
        ui.notify("Webhook URL copied.")

    async def regenerate(self) -> None:
        actor = page_actor()  # before any await: the clicked element may be re-rendered meanwhile
        lines = [
            "A new secret URL is made. The current one stops working at once:",
            "every CI job or registry webhook using it must be given the new URL.",
        ]
        if not await confirm("Regenerate the webhook URL?", lines, "Regenerate"):
            return
        self.failure.hide()
        async with busy(self.regenerate_button):
            try:
                path = await self._admin.regenerate_webhook(actor=actor)
            except WatcherError as exc:
                self.failure.show(exc, "Webhook URL not regenerated")
                return
        self.url.set_value(self._base + path)
        ui.notify("New webhook URL made; the old one no longer works.", type="warning")
