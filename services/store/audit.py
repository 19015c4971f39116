"""The audit log's table: rows are appended, never changed; old ones are purged.

Reading is newest first with keyset paging: a page ends with the id of its last row, and the
next page asks for rows `before` it. Unlike an offset, rows appended while someone pages never
shift what the next page shows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, delete, func
from sqlmodel import col, select

from services.store.db import Database
from services.store.models import AuditEvent, AuditOutcome

PAGE_MAX = 500  # rows one query returns at most


@dataclass(frozen=True)
class AuditFilter:
    """Which rows to read; every part left empty matches all."""

    actor: str = ""  # exact username, or webhook / poller / system
    project: str = ""  # exact project name
    action: str = ""  # exact action name, e.g. deploy
    outcome: AuditOutcome | None = None
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive


@dataclass(frozen=True)
class AuditPage:
    """One page of rows, newest first; `next_before` asks for the following page (None: last)."""

    rows: list[AuditEvent]
    total: int  # rows matching the filter, all pages together
    next_before: int | None


class AuditStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    def append(self, event: AuditEvent) -> AuditEvent:
        with self._db.session() as session:
            session.add(event)
            session.flush()
            session.refresh(event)
            return event

    def page(
        self, where: AuditFilter = AuditFilter(), *, limit: int = 50, before: int | None = None
    ) -> AuditPage:
        """Rows matching `where`, newest first, at most `limit` (capped at PAGE_MAX), older
        than the row id `before` when given."""
        limit = max(1, min(limit, PAGE_MAX))
        conditions = _conditions(where)
        with self._db.session() as session:
            count = select(func.count()).select_from(AuditEvent).where(*conditions)
            total = int(session.exec(count).one())
            query = select(AuditEvent).where(*conditions)
            if before is not None:
                query = query.where(col(AuditEvent.id) < before)
            query = query.order_by(col(AuditEvent.id).desc()).limit(limit + 1)
            rows = list(session.exec(query).all())
        more = len(rows) > limit
        rows = rows[:limit]
        return AuditPage(rows, total, rows[-1].id if more and rows else None)

    def distinct(self, column: str) -> list[str]:
        """The values one of actor / action / project_name takes, sorted (filter choices)."""
        field = {"actor": AuditEvent.actor, "action": AuditEvent.action}.get(
            column, AuditEvent.project_name
        )
        with self._db.session() as session:
            values = session.exec(select(col(field)).distinct()).all()
        return sorted(str(v) for v in values if v)

    def purge_before(self, cut_off: datetime) -> int:
        """Delete rows older than `cut_off`; returns how many went."""
        with self._db.session() as session:
            result: Any = session.exec(delete(AuditEvent).where(col(AuditEvent.ts) < cut_off))
            return int(result.rowcount or 0)


def _conditions(where: AuditFilter) -> list[ColumnElement[bool]]:
    found: list[ColumnElement[bool]] = []
    if where.actor:
        found.append(col(AuditEvent.actor) == where.actor)
    if where.project:
        found.append(col(AuditEvent.project_name) == where.project)
    if where.action:
        found.append(col(AuditEvent.action) == where.action)
    if where.outcome is not None:
        found.append(col(AuditEvent.outcome) == where.outcome)
    if where.since is not None:
        found.append(col(AuditEvent.ts) >= where.since)
    if where.until is not None:
        found.append(col(AuditEvent.ts) < where.until)
    return found
