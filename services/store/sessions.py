"""What outlives a restart of sign-in state: signed-out tokens and password-change cut-offs."""

from __future__ import annotations

from sqlalchemy import delete
from sqlmodel import col, select

from services.store.db import Database
from services.store.models import RemovedUser, RevokedToken, User


class SessionLedger:
    """The durable half of `AuthService`'s session checks (which keeps a copy in memory)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def revoke(self, token_id: str, user_id: int, expires_at: int) -> None:
        """Remember a signed-out token until it expires (signing out twice is fine)."""
        with self._db.session() as session:
            if session.get(RevokedToken, token_id) is None:
                session.add(RevokedToken(token_id=token_id, user_id=user_id, expires_at=expires_at))

    def revoked(self, now: int) -> list[RevokedToken]:
        """Tokens still signed out at `now`; those that expired meanwhile are deleted."""
        with self._db.session() as session:
            session.exec(delete(RevokedToken).where(col(RevokedToken.expires_at) <= now))
            query = select(RevokedToken).where(col(RevokedToken.expires_at) > now)
            return list(session.exec(query).all())

    def valid_from(self) -> dict[int, float]:
        """Per user id, the epoch second before which its session tokens are void: a
        password change or an ended session, or the removal of a user whose id is gone."""
        with self._db.session() as session:
            removed = session.exec(select(RemovedUser.user_id, RemovedUser.removed_at_ms)).all()
            found = {int(uid): at / 1000 for uid, at in removed}
            query = select(User.id, User.sessions_valid_from).where(User.sessions_valid_from > 0)
            for uid, since in session.exec(query).all():
                if uid:
                    found[int(uid)] = max(float(since), found.get(int(uid), 0.0))
            return found
