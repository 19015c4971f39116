"""Fakes for authentication tests: an in-memory user directory, a settable clock, a spy hasher."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from services.auth.oidc_sign_in import SignInOptions
from services.auth.sessions import AuthService, PasswordHasher
from services.store.models import Role, User

JWT_KEY = bytes(range(32))
ADMIN_PASSWORD = "correct horse battery"
CHEAP_ROUNDS = 4  # bcrypt's minimum cost: same code path, milliseconds instead of ~250 ms


class FakeClock:
    """Stands still until told to move, so expiry and lockout tests never sleep."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2025, 1, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class FakeUsers:
    """The two UserStore methods the service uses, over a dict."""

    def __init__(self, *users: User) -> None:
        self.users = {user.username: user for user in users}

    def by_username(self, username: str) -> User | None:
        return self.users.get(username)

    def update(self, user_id: int, **changes: Any) -> User:
        user = next(u for u in self.users.values() if u.id == user_id)
        for name, value in changes.items():
            setattr(user, name, value)
        return user


@dataclass
class FixedModes:
    """The sign-in modes as set here, with failure notes by key; local passwords only by
    default (no provider configured): for tests without a settings store."""

    password: bool = True
    oidc: bool = False
    display_name: str = ""
    notes: dict[str, str] = field(default_factory=dict)

    async def options(self) -> SignInOptions:
        return SignInOptions(self.password, self.oidc, self.display_name)

    async def password_allowed(self) -> bool:
        return self.password

    def noted(self, key: str | None) -> str | None:
        return self.notes.get(key) if key else None


class SpyHasher(PasswordHasher):
    """Real bcrypt at minimum cost, recording which hashes were checked and where."""

    def __init__(self) -> None:
        super().__init__(rounds=CHEAP_ROUNDS)
        self.checked: list[str] = []
        self.checked_on_loop: list[bool] = []

    def check(self, password: str, hashed: str) -> bool:
        self.checked.append(hashed)
        self.checked_on_loop.append(_on_event_loop())
        return super().check(password, hashed)


def _on_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def make_auth(
    *users: User, clock: FakeClock | None = None, hasher: SpyHasher | None = None
) -> tuple[AuthService, FakeUsers, FakeClock, SpyHasher]:
    """A service over the given users (default: admin with ADMIN_PASSWORD)."""
    hasher = hasher or SpyHasher()
    if not users:
        users = (
            User(
                id=1,
                username="admin",
                password_hash=hasher.hash(ADMIN_PASSWORD),
                role=Role.ADMIN,
            ),
        )
    store, clock = FakeUsers(*users), clock or FakeClock()
    return AuthService(store, JWT_KEY, clock=clock, hasher=hasher), store, clock, hasher
