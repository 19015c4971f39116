"""/api/projects/{id}/env and /volumes: a project's env and mounts, and each stage's overrides.

A PUT replaces one scope (the project, or one stage) all or nothing. Secret values are never
returned (`••••••••`); sending a secret without a value (or the mask) keeps the stored one.
Changes apply at the next deploy; running containers are left alone.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, FastAPI
from pydantic import BaseModel, Field, StringConstraints

from app.api.acting import RequestActor
from app.api.errors import error_responses
from app.api.roles import require
from app.api.schemas import ProjectId, StagePath
from services.admin.env_config import EnvChange, EnvConfigService, ProjectEnvView
from services.admin.volume_config import ProjectVolumesView, VolumeChange, VolumeConfigService
from services.env_rules import MAX_ENTRIES, MAX_KEY_CHARS, MAX_VALUE_CHARS
from services.store.models import Role

Path_ = Annotated[str, StringConstraints(max_length=4096)]


class EnvEntryIn(BaseModel):
    key: Annotated[str, StringConstraints(max_length=MAX_KEY_CHARS)]
    value: Annotated[str, StringConstraints(max_length=MAX_VALUE_CHARS)] | None = Field(
        None, description="null on a secret keeps the stored value"
    )
    secret: bool = False
    unset: bool = Field(False, description="stages only: remove the project's key here")


class EnvIn(BaseModel):
    entries: list[EnvEntryIn] = Field(max_length=MAX_ENTRIES)


class VolumeIn(BaseModel):
    source: Path_ = Field(description="host path (absolute) or a named volume")
    target: Path_ = Field(description="path inside the container")
    mode: Literal["shared", "isolated"] = "shared"
    read_only: bool = False


class VolumesIn(BaseModel):
    volumes: list[VolumeIn] = Field(max_length=100)


def _env(body: EnvIn) -> list[EnvChange]:
    return [EnvChange(e.key, e.value, e.secret, e.unset) for e in body.entries]


def _volumes(body: VolumesIn) -> list[VolumeChange]:
    return [VolumeChange(v.source, v.target, v.mode, v.read_only) for v in body.volumes]


def register(api: FastAPI, env: EnvConfigService, volumes: VolumeConfigService) -> None:
    router = APIRouter(prefix="/api/projects/{project_id}", tags=["projects"])
    errors = error_responses(404, 422)

    @router.get(
        "/env",
        summary="Env of a project and its stages",
        responses=errors,
        dependencies=require(Role.DEPLOYER),
    )
    async def get_env(project_id: ProjectId) -> ProjectEnvView:
        return await env.read(project_id)

    @router.put(
        "/env",
        summary="Replace the project's env",
        responses=errors,
        dependencies=require(Role.ADMIN),
    )
    async def put_env(project_id: ProjectId, body: EnvIn, actor: RequestActor) -> ProjectEnvView:
        return await env.update(project_id, None, _env(body), actor=actor)

    @router.put(
        "/stages/{stage}/env",
        summary="Replace a stage's env overrides",
        responses=errors,
        dependencies=require(Role.ADMIN),
    )
    async def put_stage_env(
        project_id: ProjectId, stage: StagePath, body: EnvIn, actor: RequestActor
    ) -> ProjectEnvView:
        return await env.update(project_id, stage, _env(body), actor=actor)

    @router.get(
        "/volumes",
        summary="Volumes of a project and its stages",
        responses=errors,
        dependencies=require(Role.DEPLOYER),
    )
    async def get_volumes(project_id: ProjectId) -> ProjectVolumesView:
        return await volumes.read(project_id)

    @router.put(
        "/volumes",
        summary="Replace the project's volumes",
        responses=errors,
        dependencies=require(Role.ADMIN),
    )
    async def put_volumes(
        project_id: ProjectId, body: VolumesIn, actor: RequestActor
    ) -> ProjectVolumesView:
        return await volumes.update(project_id, None, _volumes(body), actor=actor)

    @router.put(
        "/stages/{stage}/volumes",
        summary="Replace a stage's volume overrides",
        responses=errors,
        dependencies=require(Role.ADMIN),
    )
    async def put_stage_volumes(
        project_id: ProjectId, stage: StagePath, body: VolumesIn, actor: RequestActor
    ) -> ProjectVolumesView:
        return await volumes.update(project_id, stage, _volumes(body), actor=actor)

    api.include_router(router)
