"""/api/projects/{id}/stages/{stage}/rollback: what "Roll back" would do, and doing it."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from pydantic import BaseModel, Field

from app.api.acting import RequestActor
from app.api.errors import error_responses
from app.api.roles import require
from app.api.schemas import DeployAccepted, ProjectId, StagePath, accepted
from services.deploy.rollback import Rollbacks
from services.store.models import Role


class RollbackTargetOut(BaseModel):
    deploy_id: int
    tag: str
    digest: str = Field(description="the registry manifest digest that would run again")
    image_present: bool = Field(
        description="false: the image is gone from the engine and will be pulled by digest"
    )


def register(api: FastAPI, rollbacks: Rollbacks) -> None:
    router = APIRouter(prefix="/api/projects/{project_id}/stages/{stage}", tags=["instances"])

    @router.get(
        "/rollback",
        summary="The deploy a rollback would return to (null: none)",
        responses=error_responses(404, 422),
        dependencies=require(Role.VIEWER),
    )
    async def target(project_id: ProjectId, stage: StagePath) -> RollbackTargetOut | None:
        found = await rollbacks.target(project_id, stage)
        if found is None or found.deploy.id is None:
            return None
        deploy = found.deploy
        return RollbackTargetOut(
            deploy_id=deploy.id,
            tag=deploy.tag,
            digest=deploy.digest,
            image_present=found.image_present,
        )

    @router.post(
        "/rollback",
        status_code=202,
        summary="Redeploy the stage's previous successful digest with the config it ran with",
        responses=error_responses(404, 409, 422),
        dependencies=require(Role.DEPLOYER),
    )
    async def roll_back(
        project_id: ProjectId, stage: StagePath, actor: RequestActor
    ) -> DeployAccepted:
        """409 when the stage has no previous successful deploy."""
        queued = await rollbacks.roll_back(project_id, stage, actor=actor)
        return accepted(queued.id, queued.project_id, queued.status)

    api.include_router(router)
