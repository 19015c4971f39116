"""Users of the dashboard (local accounts with bcrypt hashes, or OIDC identities)."""

from __future__ import annotations

from typing import Any

from sqlmodel import func, select

from services.errors import Conflict
from services.store.base import apply_changes, get_or_raise
from services.store.db import Database
from services.store.models import User


class UserStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    def count(self) -> int:
        with self._db.session() as session:
            return int(session.exec(select(func.count()).select_from(User)).one())

    def get(self, user_id: int) -> User:
        with self._db.session() as session:
            return get_or_raise(session, User, user_id, "user")

    def by_username(self, username: str) -> User | None:
        with self._db.session() as session:
            return session.exec(select(User).where(User.username == username)).first()

    def by_oidc_identity(self, issuer: str, subject: str) -> User | None:
        """The account a provider's person signed in as before (never matched by username)."""
        with self._db.session() as session:
            query = select(User).where(User.oidc_issuer == issuer, User.oidc_subject == subject)
            return session.exec(query).first()

    def all(self) -> list[User]:
        with self._db.session() as session:
            return list(session.exec(select(User).order_by(User.username)).all())

    def create(self, **fields: Any) -> User:
        with self._db.session() as session:
            if session.exec(select(User).where(User.username == fields["username"])).first():
                raise Conflict(f"user {fields['username']!r} already exists")
            user = User(**fields)
            session.add(user)
            session.flush()
            return user

    def update(self, user_id: int, **changes: Any) -> User:
        with self._db.session() as session:
            user = get_or_raise(session, User, user_id, "user")
            apply_changes(user, changes)
            session.add(user)
            return user
