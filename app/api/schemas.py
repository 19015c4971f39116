"""Response models shared by the REST routes: what a project, stage, instance and deploy look like.

Built from the database rows with `model_validate` (from attributes), listing their fields one by
one, so a column added later (an `_enc` secret, say) never reaches a client by accident.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Path
from pydantic import BaseModel, ConfigDict, Field

from services.fields import MAX_ID
from services.store.models import (
    DeployStatus,
    DeployStrategy,
    DeployTrigger,
    InstanceStatus,
    StepStatus,
)

ProjectId = Annotated[int, Path(ge=1, le=MAX_ID, description="project id")]
StagePath = Annotated[str, Path(min_length=1, max_length=64, description="stage name")]
InstanceId = Annotated[int, Path(ge=1, le=MAX_ID, description="instance id")]
DeployId = Annotated[int, Path(ge=1, le=MAX_ID, description="deploy id")]
RegistryId = Annotated[int, Path(ge=1, le=MAX_ID, description="registry id")]


class Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class ProjectOut(Out):
    id: int
    name: str
    registry_id: int | None
    image: str
    port: int
    healthcheck: str | None
    healthcheck_retries: int
    healthcheck_interval: float
    healthcheck_timeout: float
    created_at: datetime
    updated_at: datetime


class StageOut(Out):
    name: str
    tag_pattern: str
    auto_deploy: bool
    max_instances: int
    confirm: bool
    promote_from: str | None
    subdomain: str | None
    strategy: DeployStrategy
    certificate_id: int | None
    position: int


class InstanceOut(Out):
    id: int
    tag: str
    digest: str
    container_name: str
    subdomains: list[str]
    url: str
    status: InstanceStatus
    error: str | None
    created_at: datetime
    started_at: datetime | None
    healthy_at: datetime | None
    stopped_at: datetime | None


class DeployOut(Out):
    id: int
    project_id: int | None = Field(description="null once the project was deleted")
    project_name: str
    stage_name: str
    tag: str
    digest: str
    trigger: DeployTrigger
    status: DeployStatus
    step: str | None = Field(description="the step running now, or the one that failed")
    error: str | None
    instance_id: int | None
    rollback_of: int | None = Field(None, description="a rollback: the deploy it returns to")
    cleanup_pending: bool = Field(
        description="failed, and what it created is not all removed yet: the engine or the "
        "proxy did not answer; removed once they answer again"
    )
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class StepOut(Out):
    name: str
    status: StepStatus
    started_at: datetime
    finished_at: datetime | None
    duration_ms: int | None


class LogLineOut(Out):
    id: int
    step: str
    level: str
    message: str
    ts: datetime


class DeployAccepted(BaseModel):
    """A queued deploy: follow it at `log_url` (server-sent events)."""

    deploy_id: int
    project_id: int | None
    status: DeployStatus
    log_url: str


def accepted(deploy_id: int | None, project_id: int | None, status: DeployStatus) -> DeployAccepted:
    assert deploy_id is not None
    return DeployAccepted(
        deploy_id=deploy_id,
        project_id=project_id,
        status=status,
        log_url=f"/api/deploys/{deploy_id}/logs",
    )


class Message(BaseModel):
    """The outcome of a connection test, in plain words."""

    message: str
