"""The audit log's table: rows are appended, never changed; old ones are purged."""

from __future__ import annotations

from services.store.db import Database
from services.store.models import AuditEvent


class AuditStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    def append(self, event: AuditEvent) -> AuditEvent:
        with self._db.session() as session:
            session.add(event)
            session.flush()
            session.refresh(event)
            return event
