"""Read models of projects for the dashboard, the project page and the REST API.

Rows as the database holds them (no secret columns live on these tables), grouped the way a page
shows them, plus the one status "light" a person looks at first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from services.store.models import Deploy, Instance, InstanceStatus, Project, Stage
from services.views.models import RUNNING, Light, worst_light

ProjectLight = Light | Literal["empty"]  # "empty": the project has no instance


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
        return sum(self.instance_counts.get(status, 0) for status in RUNNING)

    @property
    def light(self) -> ProjectLight:
        """failing > starting > healthy > stopped > empty: the status a person must see first."""
        present = [status for status, count in self.instance_counts.items() if count]
        return worst_light(present) or "empty"


@dataclass(frozen=True)
class StageDetail:
    stage: Stage
    instances: tuple[Instance, ...]  # oldest first


@dataclass(frozen=True)
class ProjectDetail:
    project: Project
    registry_name: str | None
    stages: tuple[StageDetail, ...]
