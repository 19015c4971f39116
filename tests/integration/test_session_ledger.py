"""Sign-outs and password changes survive a restart (real SQLite, a new AuthService per start)."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

from services.auth.sessions import AuthService
from services.errors import InvalidAuth
from services.store.db import Database
from services.store.models import Role
from services.store.sessions import SessionLedger
from services.store.users import UserStore
from tests.support.auth_fakes import ADMIN_PASSWORD, JWT_KEY, FakeClock, SpyHasher


class Installation:
    """One data directory; `start()` builds the service as a fresh process would."""

    def __init__(self, tmp: Path) -> None:
        self.db = Database(tmp / "watcher.db")
        self.db.migrate()
        self.clock = FakeClock()
        self.hasher = SpyHasher()
        self.users = UserStore(self.db)
        self.users.create(
            username="admin", password_hash=self.hasher.hash(ADMIN_PASSWORD), role=Role.ADMIN
        )

    def start(self) -> AuthService:
        auth = AuthService(
            self.users,
            JWT_KEY,
            clock=self.clock,
            hasher=self.hasher,
            records=SessionLedger(self.db),
        )
        auth.restore()
        return auth


@pytest.fixture
def installation(tmp_path: Path) -> Installation:
    return Installation(tmp_path)


async def test_a_signed_out_token_stays_signed_out_after_a_restart(
    installation: Installation,
) -> None:
    before = installation.start()
    gone = (await before.login("admin", ADMIN_PASSWORD)).token
    kept = (await before.login("admin", ADMIN_PASSWORD)).token
    await before.sign_out(gone)
    await before.sign_out(gone)  # twice is fine

    after = installation.start()

    with pytest.raises(InvalidAuth, match="signed out"):
        after.verify(gone)
    assert after.verify(kept).username == "admin"


async def test_sessions_older_than_a_password_change_stay_void_after_a_restart(
    installation: Installation,
) -> None:
    before = installation.start()
    old = (await before.login("admin", ADMIN_PASSWORD)).token
    installation.clock.advance(1)
    user = installation.users.by_username("admin")
    assert user is not None and user.id is not None
    await before.set_password(user.id, "a brand new secret")
    installation.clock.advance(1)
    new = (await before.login("admin", "a brand new secret")).token

    after = installation.start()

    with pytest.raises(InvalidAuth, match="password was changed"):
        after.verify(old)
    assert after.verify(new).username == "admin"


async def test_expired_revocations_are_dropped_from_the_database(
    installation: Installation,
) -> None:
    auth = installation.start()
    token = (await auth.login("admin", ADMIN_PASSWORD)).token
    await auth.sign_out(token)
    ledger = SessionLedger(installation.db)
    now = int(installation.clock.now.timestamp())
    assert len(ledger.revoked(now)) == 1

    installation.clock.advance(13 * 3600)  # past the 12 h session lifetime
    later = int(installation.clock.now.timestamp())

    assert ledger.revoked(later) == []
    assert ledger.revoked(now) == []  # deleted, not merely filtered


def test_the_migrated_schema_matches_the_models(tmp_path: Path) -> None:
    db = Database(tmp_path / "schema.db")
    db.migrate()
    with db.engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), SQLModel.metadata) == []
