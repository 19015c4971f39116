"""/api/deploys: deploy history, one deploy with its step timings, and its live log (SSE).

The log stream sends the lines stored so far (after `after_id`, or the browser's
`Last-Event-ID` on reconnect), then every new line and step change as it happens, and ends with a
`finished` event carrying the deploy's outcome. Event ids are log line ids.
"""

from __future__ import annotations

from collections.abc import AsyncIterable
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Header, Query
from fastapi.sse import EventSourceResponse, ServerSentEvent

from app.api.errors import error_responses
from app.api.roles import require
from app.api.schemas import DeployId, DeployOut, LogLineOut, StepOut
from services.fields import MAX_ID
from services.store.models import Role
from services.views.deploy_history import MAX_LIMIT, DeployQueries, FollowItem


class DeployDetailOut(DeployOut):
    steps: list[StepOut]


def _event(item: FollowItem) -> ServerSentEvent | None:
    if item.line is not None:
        line = LogLineOut.model_validate(item.line)
        return ServerSentEvent(event="log", id=str(line.id), data=line.model_dump(mode="json"))
    if item.step is not None:
        step = StepOut.model_validate(item.step).model_dump(mode="json")
        return ServerSentEvent(event="step", data=step)
    if item.deploy is not None:
        deploy = DeployOut.model_validate(item.deploy).model_dump(mode="json")
        return ServerSentEvent(event="finished", data=deploy)
    return None  # a keepalive: FastAPI sends its own pings while the stream is idle


def _start(after_id: int, last_event_id: str | None) -> int:
    """Resume after the browser's last event on reconnect, else after `after_id`."""
    if last_event_id and last_event_id.isdigit():
        return max(after_id, min(int(last_event_id), MAX_ID))
    return after_id


def register(api: FastAPI, queries: DeployQueries) -> None:
    router = APIRouter(prefix="/api/deploys", tags=["deploys"])

    async def existing(deploy_id: DeployId) -> None:
        await queries.get(deploy_id)  # NotFound → 404, before the stream starts

    @router.get(
        "",
        summary="Deploy history, newest first",
        responses=error_responses(422),
        dependencies=require(Role.VIEWER),
    )
    async def recent(
        project_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
    ) -> list[DeployOut]:
        return [DeployOut.model_validate(d) for d in await queries.recent(project_id, limit)]

    @router.get(
        "/{deploy_id}",
        summary="A deploy with its steps",
        responses=error_responses(404, 422),
        dependencies=require(Role.VIEWER),
    )
    async def one(deploy_id: DeployId) -> DeployDetailOut:
        detail = await queries.get(deploy_id)
        steps = [StepOut.model_validate(s) for s in detail.steps]
        return DeployDetailOut(**DeployOut.model_validate(detail.deploy).model_dump(), steps=steps)

    @router.get(
        "/{deploy_id}/logs",
        summary="A deploy's log as server-sent events, live until it finishes",
        response_class=EventSourceResponse,
        responses=error_responses(404, 422),
        dependencies=[*require(Role.VIEWER), Depends(existing)],
    )
    async def logs(
        deploy_id: DeployId,
        after_id: Annotated[int, Query(ge=0, le=MAX_ID, description="skip lines up to it")] = 0,
        last_event_id: Annotated[str | None, Header(max_length=32)] = None,
    ) -> AsyncIterable[ServerSentEvent]:
        async for item in queries.follow(deploy_id, _start(after_id, last_event_id)):
            event = _event(item)
            if event is not None:
                yield event

    api.include_router(router)
