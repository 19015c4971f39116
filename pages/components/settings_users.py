"""The users card (admins): every user with role, state, way in and last sign-in; add a local
user, change a role, reset a password, disable or enable, remove.

Each action is one `UserAdmin` call, checked again for the admin role; removing and disabling
ask first. A change that takes rights away ends that user's sessions (their open pages close).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from nicegui import ui

from pages.components import dialogs
from pages.components.config_widgets import ErrorBanner, FieldErrors, section
from pages.components.feedback import attempt
from pages.components.fmt import ago
from pages.components.roles import checked
from services.audit.log import Actor
from services.auth.sessions import MIN_PASSWORD_CHARS
from services.auth.user_admin import USERNAME_HELP, UserAdmin, UserView
from services.store.models import Role

T = TypeVar("T")
ROLES = {r.value: r.value for r in Role}


class UsersSection:
    def __init__(self, users: UserAdmin, actor: Actor, role: Role | None) -> None:
        self._users, self._actor, self._role = users, actor, role
        self._host = ui.element("div")  # the dialogs
        hint = "Viewers read status; deployers also deploy, stop and start; admins do everything."
        with section("Users", hint).mark("users"):
            self.failure = ErrorBanner()
            self.list = ui.column().classes("w-full gap-0")
            self._add_form()

    async def load(self) -> None:
        found = await attempt(self.failure, "Listing users", self._users.list())
        if found.ok:
            self._show(found.value or [])

    def _show(self, users: list[UserView]) -> None:
        self.list.clear()
        with self.list:
            for user in users:
                self._row(user)

    def _row(self, user: UserView) -> None:
        row = ui.row().classes("w-full items-center gap-3 py-1 border-t border-slate-100")
        with row.mark(f"user-{user.username}"):
            ui.label(user.username).classes("font-mono font-semibold w-48 truncate")
            select = ui.select(ROLES, value=user.role.value).props("dense outlined")
            select.classes("w-32").mark(f"user-role-{user.username}")
            select.on_value_change(lambda e, u=user: self._set_role(u, e.value))
            way = "OIDC" if user.oidc else "local"
            if user.oidc and user.has_password:
                way = "OIDC and local"
            ui.label(way).classes("text-sm text-grey-7 w-28")
            seen = f"signed in {ago(user.last_login_at)}" if user.last_login_at else "never"
            ui.label(seen).classes("text-sm text-grey-7 w-40")
            if user.disabled:
                ui.badge("disabled", color="grey-4", text_color="grey-9")
            ui.space()
            self._buttons(user)

    def _buttons(self, user: UserView) -> None:
        name = user.username
        reset = ui.button(icon="key", on_click=lambda: self._reset(user))
        reset.props("flat round dense").tooltip("Set a new password").mark(f"user-reset-{name}")
        toggle = ui.button(
            icon="person_add" if user.disabled else "person_off",
            on_click=lambda: self._toggle(user),
        )
        toggle.props("flat round dense").mark(f"user-toggle-{name}")
        toggle.tooltip("Enable" if user.disabled else "Disable")
        remove = ui.button(icon="delete", color="negative", on_click=lambda: self._remove(user))
        remove.props("flat round dense").tooltip("Remove").mark(f"user-remove-{name}")

    def _add_form(self) -> None:
        self.fields = FieldErrors()
        with ui.row().classes("w-full items-start gap-2 pt-2"):
            self.username = ui.input("Username").props("outlined dense").mark("user-new-name")
            self.username.tooltip(USERNAME_HELP)
            self.password = ui.input(
                f"Password (at least {MIN_PASSWORD_CHARS} characters)", password=True
            )
            self.password.props("outlined dense autocomplete=new-password").classes("w-72")
            self.password.mark("user-new-password")
            self.new_role = ui.select(ROLES, value=Role.VIEWER.value).props("dense outlined")
            self.new_role.classes("w-32").mark("user-new-role")
            self.add = ui.button("Add user", icon="person_add", on_click=self._add)
            self.add.mark("user-add")
        self.fields.add("username", self.username)
        self.fields.add("password", self.password)

    async def _add(self) -> None:
        username, password = self.username.value or "", self.password.value or ""
        role = Role(self.new_role.value)
        call = self._admin(lambda: self._users.add(self._actor, username, password, role))
        done = await attempt(
            self.failure, "User not added", call, button=self.add, fields=self.fields
        )
        if done.ok:
            self.username.set_value("")
            self.password.set_value("")
            ui.notify(f"User {username} added.", type="positive")
            await self.load()

    async def _set_role(self, user: UserView, value: str) -> None:
        if value == user.role.value:
            return
        role = Role(value)
        call = self._admin(lambda: self._users.set_role(self._actor, user.id, role))
        if (await attempt(self.failure, f"Role of {user.username} not changed", call)).ok:
            ui.notify(f"{user.username} is now {value}; their sessions ended.", type="positive")
        await self.load()  # also puts back the old value after a refusal

    async def _toggle(self, user: UserView) -> None:
        if not user.disabled and not await dialogs.confirm(
            self._host,
            f"Disable {user.username}?",
            "They are signed out everywhere at once and cannot sign in until enabled again.",
            ok="Disable",
            color="negative",
        ):
            return
        flip = not user.disabled
        call = self._admin(lambda: self._users.set_disabled(self._actor, user.id, flip))
        if (await attempt(self.failure, f"{user.username} not changed", call)).ok:
            await self.load()

    async def _remove(self, user: UserView) -> None:
        if not await dialogs.confirm(
            self._host,
            f"Remove {user.username}?",
            "The account is deleted and signed out everywhere; its audit entries stay.",
            ok="Remove",
            color="negative",
        ):
            return
        call = self._admin(lambda: self._users.remove(self._actor, user.id))
        if (await attempt(self.failure, f"{user.username} not removed", call)).ok:
            ui.notify(f"User {user.username} removed.", type="positive")
            await self.load()

    async def _reset(self, user: UserView) -> None:
        with self._host, ui.dialog() as dialog, ui.card().classes("w-[28rem] max-w-full gap-3"):
            ui.label(f"New password for {user.username}").classes("text-lg font-semibold")
            ui.label("Their sessions end; tell them the new password yourself.").classes(
                "text-grey-8"
            )
            fields, failure = FieldErrors(), ErrorBanner()
            field = ui.input("New password", password=True).props("outlined dense")
            field.props("autocomplete=new-password").classes("w-full").mark("user-reset-password")
            fields.add("password", field)
            with ui.row().classes("w-full justify-end gap-2"):
                ui.button("Cancel", on_click=dialog.close).props("flat")
                save = ui.button("Set password").mark("user-reset-save")

        async def apply() -> None:
            password = field.value or ""
            call = self._admin(lambda: self._users.reset_password(self._actor, user.id, password))
            what = "Password not set"
            if (await attempt(failure, what, call, button=save, fields=fields)).ok:
                ui.notify(f"New password set for {user.username}.", type="positive")
                dialog.close()

        save.on_click(apply)
        dialog.open()

    def _admin(self, call: Callable[[], Awaitable[T]]) -> Awaitable[T]:
        return checked(self._role, Role.ADMIN, call)
