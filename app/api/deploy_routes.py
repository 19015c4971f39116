"""/api/deploy/inspect and /api/deploy/quick: quick deploy over the REST API.

Inspect pulls the image and answers a proposal (name, port, health check, stage, subdomains and
clash warnings); quick takes the reviewed proposal, saves the project and queues its deploy.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, FastAPI
from pydantic import BaseModel, Field, StringConstraints

from app.api.acting import RequestActor
from app.api.errors import error_responses
from app.api.roles import require
from app.api.schemas import DeployAccepted, accepted
from services.admin.project_admin import ProjectAdmin
from services.detect.proposals import Proposal, StagePlan
from services.detect.quick_deploy import QuickDeploy
from services.fields import (
    PROJECT_DEFAULTS,
    STAGE_DEFAULTS,
    HealthPath,
    ImageName,
    MaxInstances,
    Port,
    ProjectName,
    RowId,
    StageName,
    TagPattern,
)
from services.store.models import Role

TAG = r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$"
Tag = Annotated[str, StringConstraints(pattern=TAG)]


class InspectIn(BaseModel):
    reference: Annotated[str, StringConstraints(min_length=1, max_length=512)] = Field(
        description="image reference, e.g. ghcr.io/owner/app:v1 (no tag: latest)"
    )


class StagePlanIn(BaseModel):
    name: StageName
    tag_pattern: TagPattern
    auto_deploy: bool
    max_instances: MaxInstances = STAGE_DEFAULTS.max_instances


class QuickDeployIn(BaseModel):
    """The proposal from inspect, as the person reviewed it."""

    image: ImageName
    tag: Tag
    name: ProjectName
    port: Port
    stage: StagePlanIn
    healthcheck: HealthPath | None = PROJECT_DEFAULTS.healthcheck
    registry_id: RowId | None = None

    def proposal(self) -> Proposal:
        plan = StagePlan(**self.stage.model_dump())
        fields = self.model_dump(exclude={"stage"})
        return Proposal(stage=plan, **fields)


def register(api: FastAPI, quick: QuickDeploy, projects: ProjectAdmin) -> None:
    router = APIRouter(prefix="/api/deploy", tags=["quick deploy"])

    @router.post(
        "/inspect",
        summary="Pull an image and propose a project for it",
        responses=error_responses(404, 422, 429, 502, 504),
        dependencies=require(Role.ADMIN),
    )
    async def inspect(body: InspectIn) -> Proposal:
        """Waits for the pull (minutes for a large image)."""
        return await quick.inspect(body.reference)

    @router.post(
        "/quick",
        status_code=202,
        summary="Save a reviewed proposal as a project and deploy it",
        responses=error_responses(409, 422),
        dependencies=require(Role.ADMIN),
    )
    async def quick_deploy(body: QuickDeployIn, actor: RequestActor) -> DeployAccepted:
        await projects.check_registry(body.registry_id, body.image)
        queued = await quick.accept(body.proposal(), actor=actor)
        return accepted(queued.id, queued.project_id, queued.status)

    api.include_router(router)
