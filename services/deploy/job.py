"""What one deploy is asked to do and what it learns on the way (crosses the deploy modules)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from services.deploy import container_config
from services.deploy.step_log import DeployRecorder
from services.errors import WatcherError
from services.npm.proxy import ProxyTarget
from services.npm.values import ProxyHost
from services.store.models import Deploy, DeployTrigger, GlobalSettings, Instance, Project, Stage
from services.types import ContainerInfo, ImageInfo, PullProgress, PullUpdate

AUTOMATIC_TRIGGERS = (DeployTrigger.WEBHOOK, DeployTrigger.POLL)
MAX_PULL_LINES = 30
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


@dataclass
class DeployJob:
    """Everything one deploy run knows; filled in step by step."""

    request: DeployRequest
    deploy: Deploy
    project: Project
    stage: Stage
    settings: GlobalSettings
    recorder: DeployRecorder
    target: ProxyTarget | None = None
    image: ImageInfo | None = None
    digest: str = ""
    instance: Instance | None = None
    container: ContainerInfo | None = None  # as it was right after starting
    domains: list[str] = field(default_factory=list)
    hosts_seen: dict[str, ProxyHost | None] = field(default_factory=dict)  # by plan, per domain
    undo: list[Undo] = field(default_factory=list)
    moved_from: set[int] = field(default_factory=set)  # instances that lost a domain to us
    config: container_config.ContainerConfig | None = None  # env and mounts, checked in "check"

    @property
    def image_ref(self) -> str:
        return f"{self.project.image}:{self.request.tag}"

    def redact(self, text: str) -> str:
        """Mask this deploy's secret env values: a crashing app may print them in its logs."""
        return self.config.redact(text) if self.config is not None else text


def progress_collector(lines: list[str]) -> PullProgress:
    """Keep the pull's milestones (layer done, digest, status), not its byte counters."""

    def collect(update: PullUpdate) -> None:
        if update.current is None and str(update) not in lines[-1:]:
            lines.append(str(update))

    return collect
