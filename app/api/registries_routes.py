"""/api/registries: registries (tokens never returned), connection tests and tag lists."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, FastAPI, Response
from fastapi import Path as PathParam
from pydantic import BaseModel, Field

from app.api.acting import RequestActor
from app.api.errors import error_responses
from app.api.roles import require
from app.api.schemas import Message, Out, RegistryId
from services.admin.registry_admin import RegistryAdmin, RegistryInput
from services.fields import MAX_ID
from services.store.models import Role

ImagePath = Annotated[
    str, PathParam(min_length=1, max_length=255, description="repository, e.g. owner/app")
]


class RegistryOut(Out):
    """A registry; `has_token` tells whether a token is stored (it is never returned)."""

    id: int
    name: str
    url: str
    type: str
    username: str
    has_token: bool
    created_at: datetime
    used_by: list[str] = Field(description="projects pulling from it")


class RegistryTestIn(RegistryInput):
    registry_id: int | None = Field(
        None, ge=1, le=MAX_ID, description="when editing: its stored token is used if none given"
    )


class TagList(BaseModel):
    registry_id: int
    image: str
    tags: list[str] = Field(description="newest first")


def register(api: FastAPI, admin: RegistryAdmin) -> None:
    router = APIRouter(prefix="/api/registries", tags=["registries"])
    upstream = error_responses(404, 422, 429, 502, 504)

    @router.get("", summary="List registries", dependencies=require(Role.DEPLOYER))
    async def list_registries() -> list[RegistryOut]:
        return [RegistryOut.model_validate(r) for r in await admin.list()]

    @router.post(
        "",
        status_code=201,
        summary="Add a registry",
        responses=error_responses(409, 422),
        dependencies=require(Role.ADMIN),
    )
    async def create_registry(body: RegistryInput, actor: RequestActor) -> RegistryOut:
        return RegistryOut.model_validate(await admin.create(body, actor=actor))

    @router.post(
        "/test",
        summary="Test a URL and credentials before saving them",
        responses=error_responses(404, 422, 502, 504),
        dependencies=require(Role.ADMIN),
    )
    async def test_unsaved(body: RegistryTestIn) -> Message:
        data = RegistryInput.model_validate(body.model_dump(exclude={"registry_id"}))
        return Message(message=await admin.test_input(data, registry_id=body.registry_id))

    @router.get(
        "/{registry_id}",
        summary="One registry",
        responses=error_responses(404, 422),
        dependencies=require(Role.DEPLOYER),
    )
    async def get_registry(registry_id: RegistryId) -> RegistryOut:
        return RegistryOut.model_validate(await admin.get(registry_id))

    @router.put(
        "/{registry_id}",
        summary="Change a registry (token null keeps the stored one)",
        responses=error_responses(404, 409, 422),
        dependencies=require(Role.ADMIN),
    )
    async def update_registry(
        registry_id: RegistryId, body: RegistryInput, actor: RequestActor
    ) -> RegistryOut:
        return RegistryOut.model_validate(await admin.update(registry_id, body, actor=actor))

    @router.delete(
        "/{registry_id}",
        status_code=204,
        summary="Delete a registry no project uses",
        responses=error_responses(404, 409, 422),
        dependencies=require(Role.ADMIN),
    )
    async def delete_registry(registry_id: RegistryId, actor: RequestActor) -> Response:
        await admin.delete(registry_id, actor=actor)
        return Response(status_code=204)

    @router.post(
        "/{registry_id}/test",
        summary="Test the stored URL and credentials",
        responses=error_responses(404, 422, 502, 504),
        dependencies=require(Role.ADMIN),
    )
    async def test_registry(registry_id: RegistryId) -> Message:
        return Message(message=await admin.test(registry_id))

    @router.get(
        "/{registry_id}/tags/{image:path}",
        summary="Tags of a repository",
        responses=upstream,
        dependencies=require(Role.DEPLOYER),
    )
    async def list_tags(registry_id: RegistryId, image: ImagePath) -> TagList:
        found = await admin.tags(registry_id, image)
        return TagList(registry_id=registry_id, image=image, tags=found)

    api.include_router(router)
