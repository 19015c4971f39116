"""GET /api/audit: the audit log, newest first, filtered and paged.

Paging is by cursor: each page answers `next_before`; pass it as `before` for the next page
(rows appended meanwhile never shift the pages). The lead makes this admin-only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Query
from pydantic import BaseModel, Field

from app.api.errors import error_responses
from app.api.roles import require
from app.api.schemas import Out
from services.fields import MAX_ID
from services.store.models import ActorKind, AuditOutcome, Role
from services.views.audit_log import PAGE_MAX, AuditFilter, AuditQueries

Name = Annotated[str, Query(max_length=150)]


class AuditEventOut(Out):
    id: int
    ts: datetime
    actor: str
    actor_kind: ActorKind
    action: str
    outcome: AuditOutcome
    project_name: str | None
    stage_name: str | None
    instance_id: int | None
    target: str
    detail: dict[str, Any] = Field(description="names of changed fields and other facts")
    address: str
    message: str


class AuditPageOut(BaseModel):
    items: list[AuditEventOut]
    total: int = Field(description="rows matching the filters, all pages together")
    next_before: int | None = Field(description="pass as `before` for the next page; null: last")


def register(api: FastAPI, queries: AuditQueries) -> None:
    router = APIRouter(prefix="/api/audit", tags=["audit"])

    @router.get(
        "",
        summary="The audit log, newest first",
        responses=error_responses(422),
        dependencies=require(Role.ADMIN),
    )
    async def audit_log(
        actor: Name = "",
        project: Name = "",
        action: Annotated[str, Query(max_length=64)] = "",
        outcome: AuditOutcome | None = None,
        since: Annotated[datetime | None, Query(description="from this time (inclusive)")] = None,
        until: Annotated[datetime | None, Query(description="before this time")] = None,
        limit: Annotated[int, Query(ge=1, le=PAGE_MAX)] = 50,
        before: Annotated[int | None, Query(ge=1, le=MAX_ID, description="a row id")] = None,
    ) -> AuditPageOut:
        where = AuditFilter(actor, project, action, outcome, since, until)
        page = await queries.page(where, limit=limit, before=before)
        items = [AuditEventOut.model_validate(row) for row in page.rows]
        return AuditPageOut(items=items, total=page.total, next_before=page.next_before)

    api.include_router(router)
