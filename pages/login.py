"""The sign-in page: username and password, and/or "Sign in with <provider>", per the mode.

The password form signs in through `AuthService.login`, the same call as POST /api/auth/login.
A page event arrives over the websocket, which cannot set an HttpOnly cookie, so on success the
browser is sent to GET /api/auth/session with a one-time ticket; that route sets the cookie and
redirects. The provider's button goes to GET /api/auth/oidc/login, which starts the provider's
round trip; a sign-in that fails there comes back here and the page says why.
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import Request
from nicegui import ui

from services.auth.oidc_settings import ERROR_PARAM, LOGIN_START_PATH
from services.auth.oidc_sign_in import SignInModes, SignInOptions
from services.auth.sessions import AuthService, safe_next
from services.errors import InvalidAuth, RateLimited

HANDOFF_PATH = "/api/auth/session"
PASSWORDS_OFF = "Password sign-in is turned off. Sign in through the provider."
NO_WAY_IN = "No way to sign in is turned on. An administrator has to fix the sign-in settings."


def register(auth: AuthService, modes: SignInModes) -> None:
    @ui.page("/login")
    async def login_page(request: Request) -> None:
        ui.page_title("Sign in · Docker Watcher")
        client = request.client.host if request.client else ""
        target = safe_next(request.query_params.get("next"))
        options = await modes.options()
        failure = modes.noted(request.query_params.get(ERROR_PARAM))
        _LoginForm(auth, modes, options, client, target, failure)


class _LoginForm:
    """The card: the password fields (one submit handler for the button and the Enter key)
    and the provider's button, whichever the mode offers."""

    def __init__(
        self,
        auth: AuthService,
        modes: SignInModes,
        options: SignInOptions,
        client: str,
        target: str,
        failure: str | None,
    ) -> None:
        self._auth, self._modes, self._client, self._target = auth, modes, client, target
        with ui.card().classes("absolute-center w-80 gap-3 p-6"):
            ui.label("Docker Watcher").classes("text-xl font-semibold")
            ui.label("Sign in to continue").classes("text-sm text-gray-500")
            self.error = ui.label(failure or "").classes("text-sm text-red-700")
            self.error.props("role=alert").mark("sign-in-error")
            self.error.set_visibility(failure is not None)
            if options.password:
                self._password_form()
            if options.password and options.oidc:
                ui.label("or").classes("self-center text-sm text-gray-500")
            if options.oidc:
                start = f"{LOGIN_START_PATH}?next={quote(target, safe='')}"
                button = ui.button(f"Sign in with {options.display_name}")
                button.on_click(lambda: ui.navigate.to(start)).classes("w-full").mark("oidc")
                button.props("outline")
            if not (options.password or options.oidc):
                ui.label(NO_WAY_IN).classes("text-sm")

    def _password_form(self) -> None:
        self.username = ui.input("Username").props("autofocus outlined dense")
        self.password = ui.input("Password", password=True, password_toggle_button=True)
        self.password.props("outlined dense")
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
            if not await self._modes.password_allowed():  # the mode changed since the page
                self._fail(PASSWORDS_OFF)
                return
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
