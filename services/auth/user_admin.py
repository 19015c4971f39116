"""Users management for admins: list, add a local user, reset a password, change a role,
disable or enable, remove.

Every change that takes rights away or replaces a password ends that user's sessions at once
(open pages too: `AuthService.cut_sessions` tells the listeners) and after a restart (the
cut-off is stored with the change). The last enabled admin can never be removed, disabled or
demoted: the store checks it in the same transaction as the write, and a lock keeps two of our
own changes from racing past it. Each change records one audit row with the admin as actor;
a password never goes into it.
"""

from __future__ import annotations

import asyncio
import math
import re
from dataclasses import dataclass
from datetime import datetime

from services.audit.log import Actor, AuditLog, Target
from services.auth.sessions import AuthService, PasswordHasher, check_password_rules
from services.errors import ValidationFailed
from services.store.models import Role, User
from services.store.users import UserStore

USERNAME_MAX = 150
USERNAME_RULE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]*")
USERNAME_HELP = "letters, digits and . _ @ - (starting with a letter or digit)"


@dataclass(frozen=True)
class UserView:
    """What the users list shows; nothing secret (no hash, no OIDC subject)."""

    id: int
    username: str
    role: Role
    disabled: bool
    oidc: bool  # signs in through the OIDC provider
    has_password: bool  # may sign in with a local password
    email: str | None
    last_login_at: datetime | None
    created_at: datetime


def view_of(user: User) -> UserView:
    assert user.id is not None  # only stored users are shown
    return UserView(
        id=user.id,
        username=user.username,
        role=Role(user.role),
        disabled=user.disabled,
        oidc=user.oidc_subject is not None,
        has_password=user.password_hash is not None,
        email=user.email,
        last_login_at=user.last_login_at,
        created_at=user.created_at,
    )


def check_username(username: str, field: str = "username") -> str:
    """The username as stored; ValidationFailed naming `field` when it breaks the rules."""
    if not username:
        raise ValidationFailed.single(field, "must not be empty")
    if len(username) > USERNAME_MAX:
        raise ValidationFailed.single(field, f"must have at most {USERNAME_MAX} characters")
    if not USERNAME_RULE.fullmatch(username):
        raise ValidationFailed.single(field, f"may contain only {USERNAME_HELP}")
    return username


class UserAdmin:
    """The users section of the settings page and `/api/users` both call this."""

    def __init__(
        self, users: UserStore, auth: AuthService, audit: AuditLog, hasher: PasswordHasher
    ) -> None:
        self._users = users
        self._auth = auth
        self._audit = audit
        self._hasher = hasher
        self._lock = asyncio.Lock()  # one change at a time: the last-admin rule holds

    async def list(self) -> list[UserView]:
        return [view_of(u) for u in await asyncio.to_thread(self._users.all)]

    async def get(self, user_id: int) -> UserView:
        """One user; NotFound when there is none."""
        return view_of(await asyncio.to_thread(self._users.get, user_id))

    async def add(self, actor: Actor, username: str, password: str, role: Role) -> UserView:
        """A local user; refused (naming `username`) when the name is taken in any case."""
        check_username(username)
        check_password_rules(password)
        hashed = await asyncio.to_thread(self._hasher.hash, password)
        async with self._lock:
            user = await asyncio.to_thread(self._create, username, hashed, Role(role))
        await self._record(actor, "user_add", user, {"role": Role(role).value})
        return view_of(user)

    async def set_role(self, actor: Actor, user_id: int, role: Role) -> UserView:
        """A new role ends the user's sessions (their token carries the old one)."""
        role = Role(role)
        before = await asyncio.to_thread(self._users.get, user_id)
        if before.role == role:
            return view_of(before)
        user = await self._change(user_id, "role", role=role)
        detail = {"from": Role(before.role).value, "to": role.value}
        await self._record(actor, "user_role", user, detail)
        return view_of(user)

    async def set_disabled(self, actor: Actor, user_id: int, disabled: bool) -> UserView:
        """Disabling ends the user's sessions; a disabled user cannot sign in."""
        before = await asyncio.to_thread(self._users.get, user_id)
        if before.disabled == disabled:
            return view_of(before)
        user = await self._change(user_id, "disabled", disabled=disabled)
        await self._record(actor, "user_disable" if disabled else "user_enable", user)
        return view_of(user)

    async def reset_password(self, actor: Actor, user_id: int, password: str) -> UserView:
        """A new local password (also for an OIDC user: then both ways in work)."""
        check_password_rules(password)
        hashed = await asyncio.to_thread(self._hasher.hash, password)
        user = await self._change(user_id, "password", password_hash=hashed)
        await self._record(actor, "user_password_reset", user)
        return view_of(user)

    async def remove(self, actor: Actor, user_id: int) -> None:
        """Remove the user; their tokens stay void, also after a restart."""
        async with self._lock:
            cut_off = self._auth.cut_off()
            removed_at_ms = math.ceil(cut_off * 1000)
            user = await asyncio.to_thread(
                self._users.remove_keeping_an_admin, user_id, removed_at_ms
            )
            self._auth.cut_sessions(user_id, cut_off)
        await self._record(actor, "user_remove", user)

    async def _change(self, user_id: int, field: str, **changes: object) -> User:
        """Apply `changes` and end the user's sessions, unless no enabled admin would remain
        (then nothing changes and no session ends)."""
        async with self._lock:
            cut_off = self._auth.cut_off()
            user = await asyncio.to_thread(
                self._users.change_keeping_an_admin,
                user_id,
                field,
                sessions_valid_from=math.ceil(cut_off),
                **changes,
            )
            self._auth.cut_sessions(user_id, cut_off)
            return user

    def _create(self, username: str, hashed: str, role: Role) -> User:
        """Runs in a worker thread. Names differing only in letter case are refused too."""
        taken = {u.username.casefold() for u in self._users.all()}
        if username.casefold() in taken:
            raise ValidationFailed.single("username", "is already taken")
        return self._users.create(username=username, password_hash=hashed, role=role)

    async def _record(
        self, actor: Actor, action: str, user: User, detail: dict[str, str] | None = None
    ) -> None:
        await self._audit.record(actor, action, Target(other=user.username), detail=detail)
