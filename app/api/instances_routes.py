"""/api/projects/{id}/stages/{stage}/instances: list, deploy a tag, stop/start/restart, remove."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, FastAPI, Query, Response
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, Field, StringConstraints

from app.api.acting import RequestActor
from app.api.errors import error_responses
from app.api.roles import require
from app.api.schemas import (
    DeployAccepted,
    InstanceId,
    InstanceOut,
    ProjectId,
    StagePath,
    accepted,
)
from services.admin.instance_admin import InstanceAdmin
from services.store.models import Role

Action = Literal["stop", "start", "restart"]


class DeployIn(BaseModel):
    tag: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    confirmed: bool = Field(False, description="required for stages with `confirm`")


def register(api: FastAPI, admin: InstanceAdmin) -> None:
    router = APIRouter(
        prefix="/api/projects/{project_id}/stages/{stage}/instances", tags=["instances"]
    )
    upstream = error_responses(404, 422, 502, 504)

    @router.get(
        "",
        summary="Instances of a stage",
        responses=error_responses(404, 422),
        dependencies=require(Role.VIEWER),
    )
    async def list_instances(project_id: ProjectId, stage: StagePath) -> list[InstanceOut]:
        return [InstanceOut.model_validate(i) for i in await admin.list(project_id, stage)]

    @router.post(
        "",
        status_code=202,
        summary="Deploy a tag to the stage (runs in the background)",
        responses=error_responses(404, 422),
        dependencies=require(Role.DEPLOYER),
    )
    async def deploy(
        project_id: ProjectId, stage: StagePath, body: DeployIn, actor: RequestActor
    ) -> DeployAccepted:
        """Checks the stage's rules first (pattern, confirmation, promotion), then queues."""
        queued = await admin.deploy(
            project_id, stage, body.tag, actor=actor, confirmed=body.confirmed
        )
        return accepted(queued.id, queued.project_id, queued.status)

    @router.delete(
        "/{instance_id}",
        status_code=204,
        summary="Remove an instance (container and proxy hosts; data is kept)",
        responses=upstream,
        dependencies=require(Role.ADMIN),
    )
    async def remove(
        project_id: ProjectId, stage: StagePath, instance_id: InstanceId, actor: RequestActor
    ) -> Response:
        await admin.remove(project_id, stage, instance_id, actor)
        return Response(status_code=204)

    @router.post(
        "/{instance_id}/{action}",
        summary="Stop, start or restart",
        responses=upstream,
        dependencies=require(Role.DEPLOYER),
    )
    async def act(
        project_id: ProjectId,
        stage: StagePath,
        instance_id: InstanceId,
        action: Action,
        actor: RequestActor,
    ) -> InstanceOut:
        method = {"stop": admin.stop, "start": admin.start, "restart": admin.restart}[action]
        return InstanceOut.model_validate(await method(project_id, stage, instance_id, actor))

    @router.get(
        "/{instance_id}/logs",
        summary="The container's last log lines",
        response_class=PlainTextResponse,
        responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}, **upstream},
        dependencies=require(Role.DEPLOYER),
    )
    async def logs(
        project_id: ProjectId,
        stage: StagePath,
        instance_id: InstanceId,
        tail: Annotated[int, Query(ge=1, le=10_000)] = 200,
    ) -> PlainTextResponse:
        return PlainTextResponse(await admin.logs(project_id, stage, instance_id, tail))

    api.include_router(router)
