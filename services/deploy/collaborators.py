"""The collaborators a deploy needs, bundled so the deployer's constructor stays readable."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from services.deploy.health import HealthChecker
from services.deploy.image_fetch import ImageFetcher
from services.deploy.routing import Router
from services.docker_engine import DockerEngine
from services.events import EventBus
from services.notify.notifier import Notifier
from services.npm.proxy import ProxyTarget
from services.store.deploys import DeployStore
from services.store.instances import InstanceStore
from services.store.projects import ProjectStore
from services.store.settings_store import SettingsStore

if TYPE_CHECKING:
    from services.deploy.instance_control import InstanceControl


class ProxySource(Protocol):
    """Anything that yields the currently configured proxy (see ProxyProvider)."""

    async def current(self) -> ProxyTarget | None: ...


@dataclass
class DeployPorts:
    projects: ProjectStore
    instances: InstanceStore
    deploys: DeployStore
    settings: SettingsStore
    engine: DockerEngine
    health: HealthChecker
    router: Router
    proxies: ProxySource
    control: InstanceControl
    notifier: Notifier
    bus: EventBus
    images: ImageFetcher
    volume_defaults: Path  # where volumes may live when no roots are configured
    installation: str  # labelled on every container, see types.LABEL_INSTALLATION
