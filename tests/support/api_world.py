"""An API app ready to deploy for real: the test registry, a project in it, a fresh network.

Configured through the API itself (settings, registry, project, stages), so these requests are
exercised too. At the end: deploys drained, then every container of this installation and the
network removed. Also: reading a deploy's server-sent events, and serving the API over a real
socket (uvicorn in-process) when a test needs true streaming.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from docker import DockerClient
from fastapi import FastAPI

from services.types import LABEL_INSTALLATION
from tests.support.api_app import ApiApp, api_app
from tests.support.docker_env import async_wait_until
from tests.support.images import push_test_image
from tests.support.registry_server import RegistryServer

DOMAIN = "test.example"
STAGES = (
    {"name": "dev", "tag_pattern": "dev-*", "max_instances": 2},
    {"name": "rel", "tag_pattern": "v*"},
    {"name": "prod", "tag_pattern": "v*", "promote_from": "rel", "confirm": True},
)


@dataclass
class ApiWorld:
    app: ApiApp
    docker: DockerClient
    registry: RegistryServer
    project_id: int
    name: str
    registry_id: int

    @property
    def client(self) -> httpx.AsyncClient:
        return self.app.client

    @property
    def repo(self) -> str:
        return f"demo/{self.name}"

    def path(self, stage: str = "dev") -> str:
        return f"/api/projects/{self.project_id}/stages/{stage}/instances"

    async def push(self, tag: str, variant: str = "ok") -> str:
        return await asyncio.to_thread(
            push_test_image, self.docker, self.registry, self.repo, tag, variant=variant
        )

    def containers(self) -> list[Any]:
        installation = self.app.runtime.stores.settings.installation_id()
        filters = {"label": f"{LABEL_INSTALLATION}={installation}"}
        return list(self.docker.containers.list(all=True, filters=filters))


async def _ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json() if response.content else None


async def _configure(
    app: ApiApp, registry: RegistryServer, network: str, name: str
) -> tuple[int, int]:
    client = app.client
    glob = {"domain": DOMAIN, "network": network}
    await _ok(await client.put("/api/settings", json={"global": glob}))
    reg = {"name": "test", "url": registry.url, "username": registry.username}
    reg_body = await _ok(
        await client.post("/api/registries", json={**reg, "token": registry.password}), 201
    )
    project = {
        "name": name,
        "registry_id": reg_body["id"],
        "image": f"{registry.host}/demo/{name}",
        "port": 8080,
        "healthcheck": "/health",
        "healthcheck_interval": 0.5,
        "healthcheck_retries": 2,
        "healthcheck_timeout": 2,
    }
    created = await _ok(await client.post("/api/projects", json=project), 201)
    for stage in STAGES:
        await _ok(await client.post(f"/api/projects/{created['id']}/stages", json=stage), 201)
    return created["id"], reg_body["id"]


@asynccontextmanager
async def api_world(
    tmp: Path, docker: DockerClient, registry: RegistryServer
) -> AsyncIterator[ApiWorld]:
    network, name = f"dw-test-{uuid.uuid4().hex[:8]}", f"app-{uuid.uuid4().hex[:6]}"
    async with api_app(tmp / "data") as app:
        world: ApiWorld | None = None
        try:
            project_id, registry_id = await _configure(app, registry, network, name)
            world = ApiWorld(app, docker, registry, project_id, name, registry_id)
            yield world
        finally:
            await app.runtime.services.deployer.shutdown(60)
            for container in world.containers() if world else []:
                container.remove(force=True, v=True)
            for found in docker.networks.list(names=[network]):
                found.remove()


async def read_events(response: httpx.Response) -> AsyncIterator[tuple[str, Any]]:
    """(event, data) pairs of a server-sent event stream, as they arrive."""
    event, data = "message", ""
    async for line in response.aiter_lines():
        if line.startswith("event:"):
            event = line.partition(":")[2].strip()
        elif line.startswith("data:"):
            data += line.partition(":")[2].strip()
        elif not line and data:
            yield event, json.loads(data)
            event, data = "message", ""


async def follow_to_end(client: httpx.AsyncClient, deploy_id: int) -> list[tuple[str, Any]]:
    """Every event of a deploy's log stream; returns once the stream ends (deploy finished)."""
    async with client.stream("GET", f"/api/deploys/{deploy_id}/logs") as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        return [item async for item in read_events(response)]


@asynccontextmanager
async def served(api: FastAPI) -> AsyncIterator[str]:
    """The API on a real socket (uvicorn in this event loop); yields its base URL."""
    config = uvicorn.Config(api, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    task = asyncio.get_running_loop().create_task(server.serve())

    async def started() -> bool:
        return server.started or task.done()

    try:
        await async_wait_until(started, timeout=10, message="uvicorn did not start")
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
