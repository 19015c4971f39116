"""What one deploy was asked to do (frozen) and what its report records while the steps run.

Steps hand their results to the next step as values (the pull's image, the plan's route plan,
the started instance); nothing is left on the job for a later step to find. The report is the
only part that changes: the live log, and what to undo when a later step fails.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from services.deploy.container_config import ContainerConfig
from services.deploy.step_log import DeployRecorder
from services.errors import WatcherError
from services.store.models import Deploy, DeployTrigger, GlobalSettings, Project, Stage

AUTOMATIC_TRIGGERS = (DeployTrigger.WEBHOOK, DeployTrigger.POLL)
Undo = Callable[[], Awaitable[None]]


class Refused(WatcherError):
    """A rule forbids this deploy; nothing was touched."""


class HealthFailed(WatcherError):
    """The new container never became healthy."""


@dataclass(frozen=True)
class DeployRequest:
    project_id: int
    stage: str
    tag: str
    trigger: DeployTrigger = DeployTrigger.MANUAL
    confirmed: bool = False  # a person confirmed it (stages with `confirm: true`)
    rollback_of: int | None = None  # a rollback: the deploy whose digest and config run again


@dataclass
class DeployReport:
    """The run's live log and its undo stack: each step that creates something pushes how to
    remove it, so a failure at any point removes exactly what this deploy made."""

    log: DeployRecorder
    undo: list[Undo] = field(default_factory=list)

    async def roll_back(self) -> None:
        """Undo in reverse order; an undo that fails is logged and the rest still run."""
        for undo in reversed(self.undo):
            try:
                await undo()
            except Exception as exc:  # keep undoing the rest; the reconciler finishes the job
                await self.log.log(f"rollback step failed: {exc}", "warning")
        if self.undo:
            await self.log.log("rolled back: removed what this deploy created")


@dataclass(frozen=True)
class DeployJob:
    """The deploy as the "check" step read and approved it; every later step reads it."""

    request: DeployRequest
    deploy: Deploy
    project: Project
    stage: Stage
    settings: GlobalSettings
    config: ContainerConfig  # env and mounts, checked before anything is pulled
    report: DeployReport
    digest: str | None = None  # the registry manifest digest resolved at check: what runs

    @property
    def image_ref(self) -> str:
        return f"{self.project.image}:{self.request.tag}"

    @property
    def log(self) -> DeployRecorder:
        return self.report.log

    def redact(self, text: str) -> str:
        """Mask this deploy's secret env values: a crashing app may print them in its logs."""
        return self.config.redact(text)
