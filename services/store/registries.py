"""Registries and their (encrypted) credentials."""

from __future__ import annotations

from typing import Any

from sqlmodel import select

from services.errors import Conflict
from services.secrets import SecretBox
from services.store.base import apply_changes, get_or_raise
from services.store.db import Database
from services.store.models import Registry

TOKEN_CONTEXT = "registry.token"  # noqa: S105 (a label, not a secret)


class RegistryStore:
    def __init__(self, db: Database, box: SecretBox) -> None:
        self._db = db
        self._box = box

    def all(self) -> list[Registry]:
        with self._db.session() as session:
            return list(session.exec(select(Registry).order_by(Registry.name)).all())

    def get(self, registry_id: int) -> Registry:
        with self._db.session() as session:
            return get_or_raise(session, Registry, registry_id, "registry")

    def get_by_name(self, name: str) -> Registry | None:
        with self._db.session() as session:
            return session.exec(select(Registry).where(Registry.name == name)).first()

    def create(self, *, token: str | None = None, **fields: Any) -> Registry:
        if self.get_by_name(fields["name"]):
            raise Conflict(f"a registry named {fields['name']!r} already exists")
        row = Registry(**fields)
        if token:
            row.token_enc = self._box.encrypt(token, TOKEN_CONTEXT)
        with self._db.session() as session:
            session.add(row)
        return row

    def update(self, registry_id: int, *, token: str | None = None, **changes: Any) -> Registry:
        """Update fields; `token` None keeps the stored token, "" clears it."""
        with self._db.session() as session:
            row = get_or_raise(session, Registry, registry_id, "registry")
            if token is not None:
                changes["token_enc"] = self._box.encrypt(token, TOKEN_CONTEXT) if token else None
            apply_changes(row, changes)
            session.add(row)
            return row

    def delete(self, registry_id: int) -> None:
        with self._db.session() as session:
            session.delete(get_or_raise(session, Registry, registry_id, "registry"))

    def token(self, registry: Registry) -> str | None:
        """The plaintext token, for the registry and Docker clients only."""
        if not registry.token_enc:
            return None
        return self._box.decrypt(registry.token_enc, TOKEN_CONTEXT)
