"""A whole product installation for integration tests: real SQLite, engine, registry and wiring.

`World` holds the app's own service graph (`app.wiring.build_runtime`, through
`tests.support.runtime`) over a temporary data directory, a project whose image lives in the
test registry, and a fresh Docker network. Everything it or the product creates is removed when
the test ends.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import httpx
from docker import DockerClient

from app.wiring import DeployServices, ImagesPeer, Runtime
from services.deploy.deployer import DeployRequest
from services.docker_engine import DockerEngine
from services.npm.proxy import ProxySource
from services.redaction import Redactor
from services.store.db import Database
from services.store.deploys import DeployStore
from services.store.instances import InstanceStore
from services.store.models import Deploy, DeployTrigger, Instance, Project, Stage
from services.store.projects import ProjectStore
from services.store.registries import RegistryStore
from services.store.settings_store import SettingsStore
from services.types import LABEL_PROJECT
from tests.support.images import RegistryAccess, push_test_image
from tests.support.npm_emulator import NpmEmulator, docker_resolver
from tests.support.runtime import notify_to, open_runtime, settings_for

DOMAIN = "test.example"
DRAIN_SECONDS = "0.3"  # the old instance's grace before it is stopped (the app's default: 3 s)


@dataclass
class World:
    client: DockerClient
    registry: RegistryAccess
    runtime: Runtime
    project: Project
    network: str
    data_dir: Path
    reopen: Callable[[], Runtime]  # a new graph over the same data directory and key

    # The runtime's parts the tests use most, by their short names.
    @property
    def db(self) -> Database:
        return self.runtime.db

    @property
    def projects(self) -> ProjectStore:
        return self.runtime.stores.projects

    @property
    def instances(self) -> InstanceStore:
        return self.runtime.stores.instances

    @property
    def deploys(self) -> DeployStore:
        return self.runtime.stores.deploys

    @property
    def settings(self) -> SettingsStore:
        return self.runtime.stores.settings

    @property
    def registries(self) -> RegistryStore:
        return self.runtime.stores.registries

    @property
    def engine(self) -> DockerEngine:
        return self.runtime.clients.engine

    @property
    def http(self) -> httpx.AsyncClient:
        return self.runtime.clients.http

    @property
    def services(self) -> DeployServices:
        return self.runtime.services

    async def restart(self) -> None:
        """What a new process start does: a fresh graph over the same database and key (the
        old one is closed without touching containers)."""
        old, self.runtime = self.runtime, self.reopen()
        await old.close(drain_seconds=30, notify_grace=1)

    @property
    def repo(self) -> str:
        return f"demo/{self.project.name}"

    async def push(self, tag: str, variant: str = "ok", marker: str | None = None) -> str:
        """Push a test image for this project's repository; returns its digest."""
        return await asyncio.to_thread(
            push_test_image,
            self.client,
            self.registry,
            self.repo,
            tag,
            variant=variant,
            marker=marker,
        )

    def stage(self, name: str) -> Stage:
        assert self.project.id is not None
        return self.projects.stage_by_name(self.project.id, name)

    async def deploy(self, tag: str, stage: str = "dev", **kwargs: Any) -> Deploy:
        assert self.project.id is not None
        request = DeployRequest(self.project.id, stage, tag, **kwargs)
        return await self.services.deployer.deploy(request)

    def live(self, stage: str = "dev") -> list[Instance]:
        return self.instances.all(stage_id=self.stage(stage).id)

    def containers(self) -> list[Any]:
        """Every container (any state) of this world's project."""
        filters = {"label": f"{LABEL_PROJECT}={self.project.name}"}
        return list(self.client.containers.list(all=True, filters=filters))

    async def fetch(self, instance: Instance, path: str = "/") -> httpx.Response:
        """GET straight from the instance's container on the test network."""
        assert instance.container_id
        info = await self.engine.get(instance.container_id)
        address = info.ip_by_network[self.network]
        return await self.http.get(f"http://{address}:8080{path}", timeout=5)

    async def run_in(self, instance: Instance, *command: str) -> str:
        """Run a command inside the instance's container; its output (fails on non-zero exit)."""
        assert instance.container_id
        container = await asyncio.to_thread(self.client.containers.get, instance.container_id)
        code, output = await asyncio.to_thread(container.exec_run, list(command))
        text = bytes(output).decode("utf-8", "replace")
        assert code == 0, f"{command} exited {code}: {text}"
        return text

    def step_names(self, deploy: Deploy) -> list[str]:
        assert deploy.id is not None
        return [s.name for s in self.deploys.steps(deploy.id)]


def _add_stages(projects: ProjectStore, project_id: int) -> None:
    projects.add_stage(
        project_id, name="dev", tag_pattern="dev-*", auto_deploy=True, max_instances=2
    )
    projects.add_stage(project_id, name="rel", tag_pattern="v*", max_instances=1)
    projects.add_stage(
        project_id,
        name="prod",
        tag_pattern="v*",
        max_instances=1,
        promote_from="rel",
        confirm=True,
        subdomain="launcher",
    )


@asynccontextmanager
async def make_world(
    client: DockerClient,
    registry: RegistryAccess,
    tmp: Path,
    *,
    proxies: ProxySource | None = None,
    npm: dict[str, Any] | None = None,
    notification_urls: list[str] | None = None,
    redactor: Redactor | None = None,
    images: ImagesPeer | None = None,
    docker_host: str | None = None,
) -> AsyncIterator[World]:
    """Build a world; `npm` holds NPM settings (url/email/password) or None for no proxy.
    `docker_host` points the product at another engine than the shared one (`client`'s)."""
    engine = {"DOCKER_HOST": docker_host} if docker_host else {}
    settings = settings_for(tmp, DW_DRAIN_SECONDS=DRAIN_SECONDS, **engine)
    reopen = partial(open_runtime, settings, redactor=redactor, proxies=proxies, images=images)
    runtime = reopen()
    network = f"dw-test-{uuid.uuid4().hex[:8]}"
    try:
        project = _configure(runtime, registry, network, npm)
        notify_to(runtime, notification_urls or [])
    except BaseException:
        await runtime.close(drain_seconds=0)
        raise
    world = World(client, registry, runtime, project, network, tmp, reopen)
    try:
        yield world
    finally:
        await _teardown(world)


def _configure(
    runtime: Runtime, registry: RegistryAccess, network: str, npm: dict[str, Any] | None
) -> Project:
    """The installation's settings, the test registry and a project with three stages."""
    stores = runtime.stores
    stores.settings.update_global(domain=DOMAIN, network=network)
    if npm:
        stores.settings.update_npm(**npm)
    reg = stores.registries.create(
        name="test", url=registry.url, username=registry.username, token=registry.password
    )
    name = f"app-{uuid.uuid4().hex[:6]}"
    project = stores.projects.create(
        name=name,
        registry_id=reg.id,
        image=f"{registry.host}/demo/{name}",
        port=8080,
        healthcheck="/health",
        healthcheck_interval=0.5,
        healthcheck_retries=2,
        healthcheck_timeout=2,
    )
    assert project.id is not None
    _add_stages(stores.projects, project.id)
    return project


async def _teardown(world: World) -> None:
    """Deploys drained and the graph closed first, so nothing starts a container meanwhile."""
    await world.runtime.close(drain_seconds=30, notify_grace=1)
    for container in world.containers():
        container.remove(force=True, v=True)
    for network in world.client.networks.list(names=[world.network]):
        network.remove()


@asynccontextmanager
async def make_routed_world(
    client: DockerClient, registry: RegistryAccess, tmp: Path, npm: NpmEmulator, **options: Any
) -> AsyncIterator[World]:
    """A world whose deploys are routed through the NPM emulator `npm` (its nginx resolves
    container names on the world's network)."""
    settings = {"url": npm.url, "email": npm.email, "password": npm.password}
    async with make_world(client, registry, tmp, npm=settings, **options) as built:
        npm.resolve = docker_resolver(client, built.network)
        yield built


def manual(**kwargs: Any) -> dict[str, Any]:
    """Request options for a person's deploy from the UI."""
    return {"trigger": DeployTrigger.MANUAL, **kwargs}
