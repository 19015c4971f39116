"""/api/projects: projects and their stages; env and volumes: project_config_routes."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request, Response
from pydantic import BaseModel, Field

from app.api.acting import RequestActor
from app.api.errors import error_responses
from app.api.roles import require
from app.api.schemas import (
    DeployOut,
    InstanceOut,
    ProjectId,
    ProjectOut,
    StageOut,
    StagePath,
)
from app.auth_guard import current_principal
from services.admin.env_config import EnvConfigService, ProjectEnvView
from services.admin.project_admin import (
    ProjectAdmin,
    ProjectInput,
    ProjectLight,
    ProjectSummary,
    StageInput,
)
from services.admin.volume_config import ProjectVolumesView, VolumeConfigService
from services.auth.roles import allows
from services.store.models import InstanceStatus, Role


class ProjectSummaryOut(BaseModel):
    project: ProjectOut
    registry_name: str | None
    stage_count: int
    instance_counts: dict[InstanceStatus, int]
    running: int
    light: ProjectLight
    latest_deploy: DeployOut | None


class StageDetailOut(StageOut):
    instances: list[InstanceOut]


class ProjectDetailOut(ProjectOut):
    """A project with its stages and instances, env (secret values masked) and volumes."""

    registry_name: str | None
    stages: list[StageDetailOut]
    env: ProjectEnvView | None = Field(description="null for a viewer (configuration)")
    volumes: ProjectVolumesView | None = Field(description="null for a viewer (configuration)")


def _summary(summary: ProjectSummary) -> ProjectSummaryOut:
    latest = summary.latest_deploy
    return ProjectSummaryOut(
        project=ProjectOut.model_validate(summary.project),
        registry_name=summary.registry_name,
        stage_count=summary.stage_count,
        instance_counts=summary.instance_counts,
        running=summary.running,
        light=summary.light,
        latest_deploy=DeployOut.model_validate(latest) if latest else None,
    )


def register(
    api: FastAPI, admin: ProjectAdmin, env: EnvConfigService, volumes: VolumeConfigService
) -> None:
    router = APIRouter(prefix="/api/projects", tags=["projects"])

    @router.get(
        "",
        summary="List projects with status counts and latest deploy",
        dependencies=require(Role.VIEWER),
    )
    async def list_projects() -> list[ProjectSummaryOut]:
        return [_summary(s) for s in await admin.list_overview()]

    @router.post(
        "",
        status_code=201,
        summary="Create a project",
        responses=error_responses(409, 422),
        dependencies=require(Role.ADMIN),
    )
    async def create_project(body: ProjectInput, actor: RequestActor) -> ProjectOut:
        return ProjectOut.model_validate(await admin.create_project(body, actor=actor))

    @router.get(
        "/{project_id}",
        summary="A project in detail",
        responses=error_responses(404, 422),
        dependencies=require(Role.VIEWER),
    )
    async def get_project(project_id: ProjectId, request: Request) -> ProjectDetailOut:
        """Env and volumes are configuration: left out (null) for a viewer."""
        principal = current_principal(request)
        sees_config = principal is not None and allows(principal.role, Role.DEPLOYER)
        detail = await admin.get(project_id)
        stages = [
            StageDetailOut(
                **StageOut.model_validate(s.stage).model_dump(),
                instances=[InstanceOut.model_validate(i) for i in s.instances],
            )
            for s in detail.stages
        ]
        return ProjectDetailOut(
            **ProjectOut.model_validate(detail.project).model_dump(),
            registry_name=detail.registry_name,
            stages=stages,
            env=await env.read(project_id) if sees_config else None,
            volumes=await volumes.read(project_id) if sees_config else None,
        )

    @router.put(
        "/{project_id}",
        summary="Change a project",
        responses=error_responses(404, 409, 422),
        dependencies=require(Role.ADMIN),
    )
    async def update_project(
        project_id: ProjectId, body: ProjectInput, actor: RequestActor
    ) -> ProjectOut:
        return ProjectOut.model_validate(await admin.update_project(project_id, body, actor=actor))

    @router.delete(
        "/{project_id}",
        status_code=204,
        summary="Delete a project, removing its instances first",
        responses=error_responses(404, 409, 422, 502, 504),
        dependencies=require(Role.ADMIN),
    )
    async def delete_project(project_id: ProjectId, actor: RequestActor) -> Response:
        await admin.delete_project(project_id, actor=actor)
        return Response(status_code=204)

    @router.post(
        "/{project_id}/stages",
        status_code=201,
        summary="Add a stage",
        responses=error_responses(404, 409, 422),
        dependencies=require(Role.ADMIN),
    )
    async def add_stage(project_id: ProjectId, body: StageInput, actor: RequestActor) -> StageOut:
        return StageOut.model_validate(await admin.add_stage(project_id, body, actor=actor))

    @router.put(
        "/{project_id}/stages/{stage}",
        summary="Change a stage",
        responses=error_responses(404, 409, 422),
        dependencies=require(Role.ADMIN),
    )
    async def update_stage(
        project_id: ProjectId, stage: StagePath, body: StageInput, actor: RequestActor
    ) -> StageOut:
        updated = await admin.update_stage(project_id, stage, body, actor=actor)
        return StageOut.model_validate(updated)

    @router.delete(
        "/{project_id}/stages/{stage}",
        status_code=204,
        summary="Delete a stage, removing its instances first",
        responses=error_responses(404, 409, 422, 502, 504),
        dependencies=require(Role.ADMIN),
    )
    async def delete_stage(
        project_id: ProjectId, stage: StagePath, actor: RequestActor
    ) -> Response:
        await admin.delete_stage(project_id, stage, actor=actor)
        return Response(status_code=204)

    api.include_router(router)
