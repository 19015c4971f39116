"""Builds the domain services over the stores and adapters (used by the app and by tests)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import httpx

from services.deploy.check import CheckStep
from services.deploy.deployer import Deployer
from services.deploy.health import HealthChecker
from services.deploy.image_fetch import ImageFetcher
from services.deploy.instance_control import InstanceControl
from services.deploy.plan import PlanStep
from services.deploy.pull import PullStep
from services.deploy.reconciler import Reconciler
from services.deploy.records import DeployRecords
from services.deploy.routing import Router
from services.deploy.start import HealthStep, StartStep
from services.deploy.switch import RetireStep, RouteStep
from services.docker_engine import DockerEngine
from services.events import EventBus
from services.notify.notifier import Notifier, channels_from_urls
from services.npm.provider import ProxyProvider
from services.npm.proxy import ProxySource
from services.registry.pool import RegistryPool
from services.store.deploys import DeployStore
from services.store.instances import InstanceStore
from services.store.projects import ProjectStore
from services.store.registries import RegistryStore
from services.store.settings_store import SettingsStore


@dataclass
class DomainServices:
    bus: EventBus
    notifier: Notifier
    router: Router
    proxies: ProxySource
    control: InstanceControl
    deployer: Deployer
    reconciler: Reconciler
    health: HealthChecker
    registries: RegistryPool  # one client per registry, shared with detection


@dataclass
class WiringInputs:
    projects: ProjectStore
    instances: InstanceStore
    deploys: DeployStore
    registries: RegistryStore
    settings: SettingsStore
    engine: DockerEngine
    http: httpx.AsyncClient
    data_dir: Path
    in_network: bool = False
    drain_seconds: float = 3.0
    # Health probes go to container addresses: a client with trust_env=False, so an HTTP_PROXY
    # in the environment never captures them. Defaults to `http` (tests).
    probe_http: httpx.AsyncClient | None = None


def build_services(inputs: WiringInputs, proxies: ProxySource | None = None) -> DomainServices:
    """Wire deployer, controls, reconciler and friends; `proxies` may be replaced in tests."""
    bus = EventBus()
    installation = inputs.settings.installation_id()
    urls = [plain for _, plain in inputs.settings.notification_urls()]
    notifier = Notifier(channels_from_urls(urls, inputs.http))
    router = Router(inputs.instances)
    registries = RegistryPool(inputs.registries, inputs.http)
    proxy_source: ProxySource = proxies or ProxyProvider(inputs.settings, inputs.http)
    health = HealthChecker(inputs.probe_http or inputs.http, inputs.engine)
    control = InstanceControl(
        inputs.instances, inputs.projects, inputs.settings, inputs.engine, router, proxy_source, bus
    )
    instances = inputs.instances
    deployer = Deployer(
        records=DeployRecords(inputs.projects, inputs.deploys, bus, notifier),
        check=CheckStep(
            inputs.projects, instances, inputs.settings, inputs.data_dir / "volumes", registries
        ),
        pull=PullStep(ImageFetcher(inputs.engine, registries), inputs.deploys, instances),
        plan=PlanStep(proxy_source, instances),
        start=StartStep(inputs.engine, instances, installation),
        health=HealthStep(health, instances, in_network=inputs.in_network),
        route=RouteStep(router, instances),
        retire=RetireStep(instances, control, drain_seconds=inputs.drain_seconds),
    )
    reconciler = Reconciler(
        inputs.instances, inputs.deploys, inputs.engine, control, bus, installation
    )
    return DomainServices(
        bus, notifier, router, proxy_source, control, deployer, reconciler, health, registries
    )
