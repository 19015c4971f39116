"""Users of the dashboard (local accounts with bcrypt hashes, or OIDC identities)."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, func, select

from services.errors import Conflict, ValidationFailed
from services.store.base import apply_changes, get_or_raise
from services.store.db import Database
from services.store.models import RemovedUser, Role, User


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

    def change_keeping_an_admin(self, user_id: int, field: str, **changes: Any) -> User:
        """Apply `changes` unless no enabled admin would be left (ValidationFailed naming
        `field`); checked in the same transaction as the write."""
        with self._db.session() as session:
            user = get_or_raise(session, User, user_id, "user")
            apply_changes(user, changes)
            session.add(user)
            session.flush()
            _keep_an_admin(session, field)
            return user

    def remove_keeping_an_admin(self, user_id: int, removed_at_ms: int) -> User:
        """Delete the user and remember when (`RemovedUser`), unless it is the last enabled
        admin (ValidationFailed naming `role`). Its signed-out tokens go with it."""
        with self._db.session() as session:
            user = get_or_raise(session, User, user_id, "user")
            session.delete(user)
            session.flush()
            _keep_an_admin(session, "role")
            earlier = session.get(RemovedUser, user_id)
            if earlier is None:
                session.add(RemovedUser(user_id=user_id, removed_at_ms=removed_at_ms))
            else:
                earlier.removed_at_ms = max(earlier.removed_at_ms, removed_at_ms)
                session.add(earlier)
            return user


def _keep_an_admin(session: Session, field: str) -> None:
    query = select(func.count()).select_from(User)
    query = query.where(User.role == Role.ADMIN, col(User.disabled).is_(False))
    if int(session.exec(query).one()) == 0:
        raise ValidationFailed.single(field, "the last enabled admin must stay an enabled admin")
