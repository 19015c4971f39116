"""The sign-in page: username and password, Enter submits, a clear message when it fails.

It signs in through `AuthService.login`, the same call as POST /api/auth/login. A page event
arrives over the websocket, which cannot set an HttpOnly cookie, so on success the browser is
sent to GET /api/auth/session with a one-time ticket; that route sets the cookie and redirects.
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import Request
from nicegui import ui

from services.auth.sessions import AuthService, safe_next
from services.errors import InvalidAuth, RateLimited

HANDOFF_PATH = "/api/auth/session"


def register(auth: AuthService) -> None:
    @ui.page("/login")
    def login_page(request: Request) -> None:
        ui.page_title("Sign in · Docker Watcher")
        client = request.client.host if request.client else ""
        _LoginForm(auth, client, safe_next(request.query_params.get("next")))


class _LoginForm:
    """The card with the two fields; one submit handler for the button and the Enter key."""

    def __init__(self, auth: AuthService, client: str, target: str) -> None:
        self._auth, self._client, self._target = auth, client, target
        with ui.card().classes("absolute-center w-80 gap-3 p-6"):
            ui.label("Docker Watcher").classes("text-xl font-semibold")
            ui.label("Sign in to continue").classes("text-sm text-gray-500")
            self.username = ui.input("Username").props("autofocus outlined dense")
            self.password = ui.input("Password", password=True, password_toggle_button=True)
            self.password.props("outlined dense")
            self.error = ui.label().classes("text-sm text-red-700").props("role=alert")
            self.error.set_visibility(False)
            self.button = ui.button("Sign in", on_click=self.submit).classes("w-full")
            self.button.mark("sign-in")
        for field in (self.username, self.password):
            field.classes("w-full").on("keydown.enter", self.submit)

    async def submit(self) -> None:
        if not self.button.enabled:
            return  # a sign-in is already running (Enter pressed twice)
        username, password = (self.username.value or "").strip(), self.password.value or ""
        if not username or not password:
            self._fail("Enter your username and password.")
            return
        self.button.disable()
        try:
            issued = await self._auth.login(username, password, client=self._client)
        except InvalidAuth:
            self._fail("Invalid username or password.")
        except RateLimited as exc:
            self._fail(f"Too many failed sign-ins. Try again in {exc.retry_after or 1:.0f} s.")
        else:
            ticket = self._auth.hand_off(issued)
            ui.navigate.to(f"{HANDOFF_PATH}?ticket={ticket}&next={quote(self._target, safe='')}")

    def _fail(self, message: str) -> None:
        self.error.set_text(message)
        self.error.set_visibility(True)
        self.password.set_value("")
        self.button.enable()
