"""What every deploy benchmark needs around its measurement: the engine, a test registry with
htpasswd login in a temp folder, and afterwards no image of that registry left on the engine."""

from __future__ import annotations

import asyncio
import secrets
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

import docker

from tests.support.registry_server import RegistryServer, basic_auth_config, run_registry

Measure = Callable[[docker.DockerClient, RegistryServer, Path], Awaitable[None]]


def run_bench(measure: Measure) -> None:
    """Run `measure(client, registry, workdir)` on its own event loop, then clean up."""
    client = docker.from_env()
    with tempfile.TemporaryDirectory(prefix="dw-bench-") as tmp:
        workdir = Path(tmp)
        username, password = "bench", secrets.token_urlsafe(12)
        with run_registry(workdir, basic_auth_config(workdir, username, password)) as url:
            registry = RegistryServer(url, url.removeprefix("http://"), username, password)
            try:
                asyncio.run(measure(client, registry, workdir / "world"))
            finally:
                remove_images(client, registry.host)


def remove_images(client: docker.DockerClient, host: str) -> None:
    """Every local image of the bench's registry (the name filter misses nested repositories)."""
    for image in client.images.list():
        names = image.tags + list(image.attrs.get("RepoDigests") or [])  # pulled by digest too
        if any(name.startswith(f"{host}/") for name in names):
            client.images.remove(image.id, force=True)
