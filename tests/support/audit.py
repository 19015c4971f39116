"""The audit log for tests: who the tests act as, and reading the rows back."""

from __future__ import annotations

from services.audit.log import Actor, AuditLog
from services.store.audit import AuditFilter, AuditStore
from services.store.db import Database
from services.store.models import AuditEvent

TESTER = Actor.user("tester", "203.0.113.7")  # the person the tests act as (a TEST-NET address)


def audit_log(db: Database) -> AuditLog:
    return AuditLog(AuditStore(db))


def audit_rows(db: Database, **where: str) -> list[AuditEvent]:
    """Every row matching `where` (AuditFilter's fields), oldest first."""
    page = AuditStore(db).page(AuditFilter(**where), limit=500)  # type: ignore[arg-type]
    return list(reversed(page.rows))
