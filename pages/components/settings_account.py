"""The account card: who is signed in, and changing one's own password.

A change ends every session of the user, this browser's included; the browser then gets its new
session through the same one-time ticket hand-off as the sign-in page (a websocket event cannot
set the HttpOnly cookie itself). Meanwhile this page moves over to the new session, so it is not
closed with the ended ones before it can send the browser on.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote

from nicegui import ui

from pages.components.config_widgets import ErrorBanner, FieldErrors, section
from pages.components.feedback import attempt
from pages.login import HANDOFF_PATH
from services.auth.sessions import MIN_PASSWORD_CHARS, AuthService, Principal
from services.errors import ValidationFailed

SETTINGS_PATH = "/settings"


class AccountSection:
    def __init__(
        self,
        auth: AuthService,
        principal: Principal,
        client: str,
        move_page: Callable[[str, Principal], None],
    ) -> None:
        self._auth, self._principal, self._client = auth, principal, client
        self._page, self._move_page = ui.context.client.id, move_page
        hint = (
            f"Signed in as {principal.username}. A new password ends every session of this "
            "account, on every device; this browser stays signed in."
        )
        with section("Account", hint):
            self.fields = FieldErrors()
            self.current = self._password("Current password", "current_password")
            self.new = self._password(f"New password (at least {MIN_PASSWORD_CHARS} characters)",
                                      "new_password")  # fmt: skip
            self.repeat = self._password("New password again", "repeat_password")
            self.failure = ErrorBanner()
            self.button = ui.button("Change password", icon="key", on_click=self.change)
            self.button.mark("password-change")

    def _password(self, label: str, path: str) -> ui.input:
        field = ui.input(label, password=True, password_toggle_button=True)
        field.props("outlined dense autocomplete=off").classes("w-96").mark(path)
        self.fields.add(path, field)
        return field

    async def change(self) -> None:
        if (self.new.value or "") != (self.repeat.value or ""):
            self.fields.show(ValidationFailed.single("repeat_password", "does not match").errors)
            return
        call = self._auth.change_password(
            self._principal,
            self.current.value or "",
            self.new.value or "",
            client=self._client,
            keep=lambda fresh: self._move_page(self._page, fresh),
        )
        outcome = await attempt(
            self.failure, "Password not changed", call, button=self.button, fields=self.fields
        )
        if outcome.ok and outcome.value is not None:
            for field in (self.current, self.new, self.repeat):
                field.set_value("")
            ui.notify("Password changed; other sessions have ended.", type="positive")
            ticket = self._auth.hand_off(outcome.value)
            ui.navigate.to(f"{HANDOFF_PATH}?ticket={ticket}&next={quote(SETTINGS_PATH, safe='')}")
