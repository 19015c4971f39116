"""What one deploy was asked to do (frozen) and what its report records while the steps run.

Steps hand their results to the next step as values (the pull's image, the plan's route plan,
the started instance); nothing is left on the job for a later step to find. The report is the
only part that changes: the live log, and what to undo when a later step fails.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from services.audit.log import SYSTEM, Actor
from services.deploy.container_config import ContainerConfig
from services.deploy.step_log import DeployRecorder
from services.errors import WatcherError
from services.store.models import Deploy, DeployTrigger, GlobalSettings, Project, Stage

AUTOMATIC_TRIGGERS = (DeployTrigger.WEBHOOK, DeployTrigger.POLL)
Undo = Callable[[], Awaitable[None]]
CLEANUP_PENDING = (
    "clean-up pending: not everything this deploy created could be removed yet; "
    "it is removed once the Docker Engine and the proxy answer again"
)


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
    # Who asked: kept on the deploy record and its audit row. Not compared, so identical
    # requests from different people still merge into one queued deploy.
    actor: Actor = field(default=SYSTEM, compare=False)


@dataclass
class DeployReport:
    """The run's live log and its undo stack: each step that creates something pushes how to
    remove it, so a failure at any point removes exactly what this deploy made."""

    log: DeployRecorder
    undo: list[Undo] = field(default_factory=list)

    async def roll_back(self) -> bool:
        """Undo in reverse order; True when everything this deploy made is gone.

        The first undo that fails stops the rollback and nothing claims it was done: the rest
        is left for the reconciler's clean-up (`cleanup.py`), which finds it again through the
        instance rows this deploy made (container names, proxy host ids) and removes hosts
        before containers. Going on past a failed route undo could remove a container while a
        proxy host still points at it.
        """
        made = bool(self.undo)
        while self.undo:
            undo = self.undo.pop()
            try:
                await undo()
            except Exception as exc:  # the engine or NPM is away: the reconciler finishes it
                await self.log.log(f"rollback step failed: {exc}", "warning")
                await self.log.log(CLEANUP_PENDING, "warning")
                return False
        if made:
            await self.log.log("rolled back: removed what this deploy created")
        return True


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
