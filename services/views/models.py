"""Read models of the dashboard and the project page: plain frozen data, safe to hand to a page.

Nothing here holds a secret (no env values, no credentials), so a view may be rendered as is.
Status "lights" group the instance statuses a person cares about at a glance: healthy, starting,
stopped and failing (unhealthy, failed, or a container that vanished).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from services.store.models import Deploy, DeployLogLine, DeployStep, Instance, InstanceStatus

DIGEST_CHARS = 12


class Light(StrEnum):
    HEALTHY = "healthy"
    STARTING = "starting"
    STOPPED = "stopped"
    FAILING = "failing"


_LIGHTS = {
    InstanceStatus.HEALTHY: Light.HEALTHY,
    InstanceStatus.STARTING: Light.STARTING,
    InstanceStatus.STOPPED: Light.STOPPED,
    InstanceStatus.UNHEALTHY: Light.FAILING,
    InstanceStatus.FAILED: Light.FAILING,
    InstanceStatus.MISSING: Light.FAILING,
}
RUNNING = (InstanceStatus.HEALTHY, InstanceStatus.STARTING, InstanceStatus.UNHEALTHY)


LIGHT_PRIORITY = (Light.FAILING, Light.STARTING, Light.HEALTHY, Light.STOPPED)  # most urgent first


def light_of(status: InstanceStatus) -> Light:
    return _LIGHTS[status]


def worst_light(statuses: Iterable[InstanceStatus]) -> Light | None:
    """The light a person must see first among these statuses (None when there are none)."""
    present = {light_of(status) for status in statuses}
    return next((light for light in LIGHT_PRIORITY if light in present), None)


def short_digest(digest: str) -> str:
    """`sha256:0123456789abcdef…` → `0123456789ab`, the form `docker images` shows."""
    return digest.split(":", 1)[-1][:DIGEST_CHARS]


@dataclass(frozen=True)
class Activity:
    """One deploy attempt as a line of history."""

    deploy_id: int
    stage: str
    tag: str
    status: str
    trigger: str
    at: datetime
    step: str | None = None
    error: str | None = None
    finished_at: datetime | None = None
    started_at: datetime | None = None
    cleanup_pending: bool = False  # failed, and what it created is not all removed yet

    @property
    def finished(self) -> bool:
        return self.status not in ("queued", "running")

    @classmethod
    def of(cls, deploy: Deploy) -> Activity:
        assert deploy.id is not None
        return cls(
            deploy.id,
            deploy.stage_name,
            deploy.tag,
            deploy.status.value,
            deploy.trigger.value,
            deploy.created_at,
            deploy.step,
            deploy.error,
            deploy.finished_at,
            deploy.started_at,
            deploy.cleanup_pending,
        )


@dataclass(frozen=True)
class ProjectCard:
    """A project on the dashboard: how many instances run, in which state, what happened last."""

    id: int
    name: str
    image: str
    stages: tuple[str, ...]
    lights: dict[Light, int]
    running: int
    latest: Activity | None
    waiting: int  # tags waiting for a person to deploy them

    @property
    def instances(self) -> int:
        return sum(self.lights.values())


@dataclass(frozen=True)
class InstanceView:
    id: int
    stage: str
    tag: str
    status: InstanceStatus
    url: str
    digest: str
    container_name: str
    created_at: datetime
    started_at: datetime | None
    stopped_at: datetime | None
    error: str | None
    outdated: bool  # env or volumes changed since it was deployed

    @property
    def light(self) -> Light:
        return light_of(self.status)

    @property
    def running(self) -> bool:
        return self.status in RUNNING

    @classmethod
    def of(cls, row: Instance, stage: str, outdated: bool) -> InstanceView:
        assert row.id is not None
        return cls(
            row.id,
            stage,
            row.tag,
            row.status,
            row.url,
            short_digest(row.digest),
            row.container_name,
            row.created_at,
            row.started_at,
            row.stopped_at,
            row.error,
            outdated,
        )


@dataclass(frozen=True)
class StageView:
    name: str
    tag_pattern: str
    auto_deploy: bool
    confirm: bool
    promote_from: str | None
    max_instances: int
    strategy: str  # how its deploys replace an instance: blue_green or stop_first
    instances: tuple[InstanceView, ...]


@dataclass(frozen=True)
class WaitingTag:
    """A tag noticed in the registry that waits for a person (stages without auto-deploy)."""

    tag: str
    digest: str
    seen_at: datetime
    stages: tuple[str, ...]


@dataclass(frozen=True)
class ProjectView:
    id: int
    name: str
    image: str
    port: int
    healthcheck: str | None
    stages: tuple[StageView, ...]
    waiting: tuple[WaitingTag, ...]
    history: tuple[Activity, ...]


@dataclass(frozen=True)
class StepView:
    name: str
    status: str
    duration_ms: int | None

    @classmethod
    def of(cls, row: DeployStep) -> StepView:
        return cls(row.name, row.status.value, row.duration_ms)


@dataclass(frozen=True)
class LogLine:
    step: str
    level: str
    message: str
    at: datetime

    @classmethod
    def of(cls, row: DeployLogLine) -> LogLine:
        return cls(row.step, row.level, row.message, row.ts)


@dataclass(frozen=True)
class DeployDetail:
    """A recorded deploy with its steps and log (the live board holds running ones)."""

    activity: Activity
    steps: tuple[StepView, ...]
    lines: tuple[LogLine, ...]
