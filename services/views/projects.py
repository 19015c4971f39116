"""Read models of projects for the dashboard, the project page and the REST API.

Rows as the database holds them (no secret columns live on these tables), grouped the way a page
shows them, plus the one status "light" a person looks at first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from services.store.models import Deploy, Instance, InstanceStatus, Project, Stage

_FAILING = (InstanceStatus.UNHEALTHY, InstanceStatus.FAILED, InstanceStatus.MISSING)
_RUNNING = (InstanceStatus.HEALTHY, InstanceStatus.STARTING, InstanceStatus.UNHEALTHY)
Light = Literal["failing", "starting", "healthy", "stopped", "empty"]
_LIGHTS: tuple[tuple[InstanceStatus, Light], ...] = (
    (InstanceStatus.STARTING, "starting"),
    (InstanceStatus.HEALTHY, "healthy"),
    (InstanceStatus.STOPPED, "stopped"),
)


@dataclass(frozen=True)
class ProjectSummary:
    """One dashboard row: counts by instance status and the latest deploy."""

    project: Project
    registry_name: str | None
    stage_count: int
    instance_counts: dict[InstanceStatus, int]
    latest_deploy: Deploy | None

    @property
    def running(self) -> int:
        return sum(self.instance_counts.get(status, 0) for status in _RUNNING)

    @property
    def light(self) -> Light:
        """failing > starting > healthy > stopped > empty: the status a person must see first."""
        counts = self.instance_counts
        if any(counts.get(status) for status in _FAILING):
            return "failing"
        for status, light in _LIGHTS:
            if counts.get(status):
                return light
        return "empty"


@dataclass(frozen=True)
class StageDetail:
    stage: Stage
    instances: tuple[Instance, ...]  # oldest first


@dataclass(frozen=True)
class ProjectDetail:
    project: Project
    registry_name: str | None
    stages: tuple[StageDetail, ...]
