"""The audit log as the Audit page and GET /api/audit read it: filtered pages, newest first,
and the values the filters can choose from."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.store.audit import PAGE_MAX, AuditFilter, AuditPage, AuditStore
from services.store.models import utcnow

__all__ = ["PAGE_MAX", "AuditChoices", "AuditFilter", "AuditPage", "AuditQueries", "since"]


@dataclass(frozen=True)
class AuditChoices:
    """What the page's filters offer: the values present in the log."""

    actors: list[str]
    actions: list[str]
    projects: list[str]


def since(hours: float | None, now: datetime | None = None) -> datetime | None:
    """The start of the last `hours` (None: no limit), for "last 24 hours"-style filters."""
    if hours is None:
        return None
    return (now or utcnow()) - timedelta(hours=hours)


class AuditQueries:
    def __init__(self, store: AuditStore) -> None:
        self._store = store

    async def page(
        self, where: AuditFilter | None = None, *, limit: int = 50, before: int | None = None
    ) -> AuditPage:
        """Rows matching `where`, newest first, `limit` capped at PAGE_MAX; `before` is the
        previous page's `next_before`."""
        where = where or AuditFilter()
        return await asyncio.to_thread(self._store.page, where, limit=limit, before=before)

    async def choices(self) -> AuditChoices:
        return await asyncio.to_thread(self._choices)

    def _choices(self) -> AuditChoices:
        return AuditChoices(
            actors=self._store.distinct("actor"),
            actions=self._store.distinct("action"),
            projects=self._store.distinct("project_name"),
        )
