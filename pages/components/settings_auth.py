"""The sign-in card (admins only): mode, the OIDC provider, who may enter, roles by group.

It shows the exact redirect URI to register with the provider (with a copy button), tests the
discovery URL as typed before anything is saved, and never shows the stored client secret:
the field holds its mask, and leaving the mask there keeps the secret.
"""

from __future__ import annotations

from typing import Any

from nicegui import ui

from pages.components.config_widgets import ErrorBanner, FieldErrors, busy, section, status_chip
from services.admin.auth_settings_admin import (
    AuthSettingsAdmin,
    AuthSettingsInput,
    AuthSettingsView,
    DiscoveryView,
)
from services.audit.log import Actor
from services.errors import FieldError, ValidationFailed, WatcherError

MODES = {
    "local": "Local passwords only",
    "both": "Local passwords and OIDC",
    "oidc": "OIDC only",
}
ROLES = {"": "Refuse sign-in", "admin": "admin", "deployer": "deployer", "viewer": "viewer"}


def _lines(text: str | None) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def parse_role_map(text: str | None) -> dict[str, str]:
    """`group = role` lines as a mapping; ValidationFailed on `role_map` for a line without `=`."""
    found: dict[str, str] = {}
    for number, line in enumerate(_lines(text), start=1):
        group, sep, role = line.rpartition("=")
        if not sep or not group.strip():
            message = f"line {number}: write one 'group = role' per line"
            raise ValidationFailed([FieldError("role_map", message)])
        found[group.strip()] = role.strip()
    return found


class AuthSection:
    """`redirect_uri` is the callback address for the origin this page was opened at (None
    when the request named no usable host); `actor` is who saves, for the audit log."""

    def __init__(
        self,
        admin: AuthSettingsAdmin,
        view: AuthSettingsView,
        redirect_uri: str | None,
        actor: Actor,
    ) -> None:
        self._admin, self._actor = admin, actor
        self.errors = FieldErrors()
        hint = (
            "How people sign in. For OIDC, register Docker Watcher as a confidential client "
            "at your provider with the redirect URI below, then fill in its discovery URL, "
            "client id and secret."
        )
        with section("Sign-in", hint):
            self._redirect(redirect_uri)
            self.mode = self._add("mode", ui.select(MODES, value=view.mode, label="Mode"))
            self._provider(view)
            self._access(view)
            self.discovery = ui.column().classes("w-full gap-1")
            self.failure = ErrorBanner()
            self._buttons()

    def _redirect(self, redirect_uri: str | None) -> None:
        with ui.row().classes("w-full items-center gap-2 no-wrap"):
            self.redirect = ui.input("Redirect URI to register", value=redirect_uri or "")
            self.redirect.props("readonly outlined dense").classes("grow font-mono")
            self.redirect.mark("auth-redirect-uri")
            copy = ui.button(icon="content_copy", on_click=self.copy)
            copy.props("flat round").tooltip("Copy to clipboard").mark("auth-redirect-copy")

    def _provider(self, view: AuthSettingsView) -> None:
        with ui.grid(columns=2).classes("w-full gap-x-4 gap-y-4"):
            self.name = self._text("display_name", "Button name", view, '"Sign in with <name>"')
            self.url = self._text(
                "discovery_url",
                "Discovery URL",
                view,
                "https://<issuer>/.well-known/openid-configuration",
            )
            self.client_id = self._text("client_id", "Client ID", view)
            self.secret = self._add(
                "client_secret",
                ui.input(
                    "Client secret",
                    value=view.client_secret,
                    password=True,
                    password_toggle_button=True,
                ),
            )
            self.secret.props("autocomplete=new-password")
            saved = "stored: leave the mask to keep it, clear the field to remove it"
            self.secret.props["hint"] = saved if view.client_secret else "not set"
            self.scopes = self._text("scopes", "Scopes", view, "openid is always requested")
            self.user_claim = self._text("username_claim", "Username claim", view)
            self.groups_claim = self._text("groups_claim", "Groups claim", view)

    def _access(self, view: AuthSettingsView) -> None:
        with ui.grid(columns=2).classes("w-full gap-x-4 gap-y-4"):
            self.users = self._list("allowed_users", "Allowed users or emails", view)
            self.groups = self._list("allowed_groups", "Allowed groups", view)
            self.domains = self._list("allowed_email_domains", "Allowed email domains", view)
            role_lines = "\n".join(f"{g} = {r}" for g, r in view.role_map.items())
            self.role_map = self._add("role_map", ui.textarea("Roles by group", value=role_lines))
            self.role_map.props("autogrow")
            self.role_map.props["hint"] = "one 'group = role' per line (admin, deployer, viewer)"
            self.default_role = self._add(
                "default_role",
                ui.select(ROLES, value=view.default_role, label="No group matched"),
            )
        self.verified = ui.switch(
            "Require a verified email for people allowed by their email domain",
            value=view.require_verified_email,
        ).mark("auth-require_verified_email")

    def _add(self, path: str, field: Any) -> Any:
        field.props("outlined dense").classes("w-full").mark(f"auth-{path}")
        self.errors.add(path, field)
        return field

    def _text(self, path: str, label: str, view: AuthSettingsView, hint: str = "") -> Any:
        field = self._add(path, ui.input(label, value=getattr(view, path)))
        if hint:
            field.props["hint"] = hint
        return field

    def _list(self, path: str, label: str, view: AuthSettingsView) -> ui.textarea:
        text = "\n".join(getattr(view, path))
        field: ui.textarea = self._add(path, ui.textarea(label, value=text))
        field.props["hint"] = "one per line; empty: no limit"
        return field.props("autogrow")

    def _buttons(self) -> None:
        with ui.row().classes("gap-2 items-center"):
            self.save_button = ui.button("Save", icon="save", on_click=self.save)
            self.save_button.mark("auth-save")
            self.test_button = ui.button("Test discovery", icon="travel_explore")
            self.test_button.props("flat").mark("auth-test").on_click(self.test)

    def copy(self) -> None:
        ui.clipboard.write(self.redirect.value)
        ui.notify("Redirect URI copied.")

    def _input(self) -> AuthSettingsInput | None:
        try:
            values: dict[str, Any] = {
                "mode": self.mode.value,
                "display_name": (self.name.value or "").strip(),
                "discovery_url": (self.url.value or "").strip(),
                "client_id": (self.client_id.value or "").strip(),
                "client_secret": self.secret.value or "",
                "scopes": self.scopes.value or "",
                "username_claim": self.user_claim.value or "",
                "groups_claim": self.groups_claim.value or "",
                "require_verified_email": bool(self.verified.value),
                "role_map": parse_role_map(self.role_map.value),
                "default_role": self.default_role.value or "",
                "allowed_users": _lines(self.users.value),
                "allowed_groups": _lines(self.groups.value),
                "allowed_email_domains": _lines(self.domains.value),
            }
            data = AuthSettingsInput.parse(values)
        except ValidationFailed as exc:
            self.errors.show(exc.errors)
            return None
        self.errors.clear()
        return data

    async def save(self) -> None:
        data = self._input()
        if data is None:
            return
        self.failure.hide()
        async with busy(self.save_button):
            try:
                view = await self._admin.update(data, self._actor)
            except ValidationFailed as exc:  # lock-out rules, a secret gone or moved
                self.errors.show(exc.errors)
                return
            except WatcherError as exc:
                self.failure.show(exc, "Sign-in settings not saved")
                return
        self.secret.set_value(view.client_secret)
        self.scopes.set_value(view.scopes)
        ui.notify("Sign-in settings saved; they apply from the next sign-in.", type="positive")

    async def test(self) -> None:
        """Fetch the discovery document at the URL as typed; show the issuer and endpoints."""
        self.discovery.clear()
        self.failure.hide()
        self.errors.clear()
        async with busy(self.test_button):
            try:
                found = await self._admin.test_discovery(self.url.value or "")
            except ValidationFailed as exc:
                self.errors.show(exc.errors)
                return
            except WatcherError as exc:
                self.failure.show(exc, "Test discovery")
                return
        self._show(found)

    def _show(self, found: DiscoveryView) -> None:
        with self.discovery:
            status_chip(f"Provider found: {found.issuer}", ok=True).mark("auth-discovery-ok")
            rows = [
                ("Authorization", found.authorization_endpoint),
                ("Token", found.token_endpoint),
                ("Keys (JWKS)", found.jwks_uri),
                ("Userinfo", found.userinfo_endpoint or "none"),
                ("Signing", ", ".join(found.algorithms)),
            ]
            for label, value in rows:
                ui.label(f"{label}: {value}").classes("text-sm font-mono break-all")
