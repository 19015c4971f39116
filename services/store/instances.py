"""Instances: the containers we started and still track."""

from __future__ import annotations

from typing import Any

from sqlmodel import col, select

from services.errors import NotFound
from services.store.base import apply_changes, get_or_raise
from services.store.db import Database
from services.store.models import Instance


class InstanceStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    def all(self, *, project_id: int | None = None, stage_id: int | None = None) -> list[Instance]:
        """Instances, oldest first, optionally of one project or stage."""
        with self._db.session() as session:
            query = select(Instance)
            if project_id is not None:
                query = query.where(Instance.project_id == project_id)
            if stage_id is not None:
                query = query.where(Instance.stage_id == stage_id)
            return list(
                session.exec(query.order_by(col(Instance.created_at), col(Instance.id))).all()
            )

    def get(self, instance_id: int) -> Instance:
        with self._db.session() as session:
            return get_or_raise(session, Instance, instance_id, "instance")

    def find(self, instance_id: int) -> Instance | None:
        with self._db.session() as session:
            return session.get(Instance, instance_id)

    def add(self, instance: Instance) -> Instance:
        with self._db.session() as session:
            session.add(instance)
            session.flush()
            return instance

    def update(self, instance_id: int, **changes: Any) -> Instance:
        with self._db.session() as session:
            row = get_or_raise(session, Instance, instance_id, "instance")
            apply_changes(row, changes)
            session.add(row)
            return row

    def update_same(self, instance: Instance, **changes: Any) -> Instance:
        """Update `instance`'s row only while it still is that instance: SQLite gives a deleted
        row's id to the next row, so a late writer (the reconciler handling a removed
        container's last events) must not change a newer instance. NotFound otherwise."""
        assert instance.id is not None
        with self._db.session() as session:
            row = get_or_raise(session, Instance, instance.id, "instance")
            same_name = row.container_name == instance.container_name
            if not same_name or instance.container_id not in (None, row.container_id):
                raise NotFound("this instance was deleted meanwhile")
            apply_changes(row, changes)
            session.add(row)
            return row

    def delete(self, instance_id: int) -> None:
        with self._db.session() as session:
            row = session.get(Instance, instance_id)
            if row is not None:
                session.delete(row)

    def subdomain_owners(self) -> dict[str, int]:
        """Every subdomain in use by any instance, mapped to the instance id holding it."""
        owners: dict[str, int] = {}
        for instance in self.all():
            for domain in instance.subdomains:
                owners[domain] = instance.id or 0
        return owners
