"""Deploy latency: the product's full deploy against a bare `docker run` + first probe, same run.

(a) baseline: create and start the container on the network (image already present), then GET
    /health every 5 ms until it answers 200;
(b) product: from `Deployer.deploy` being called until the instance's own subdomain answers through
    nginx (NPM emulator over a real nginx), for the same tiny image (each tag has the same digest).

Prints both medians, their ratio and the product's overhead (b − a), plus the median of each step.
Targets (issue 3): ratio ≤ 1.5 and overhead < 0.5 s. Needs the Docker Engine, Debian's
docker-registry and nginx (as `scripts/test.sh` provisions).
Run: .venv/bin/python bench/deploy_latency.py
"""

from __future__ import annotations

import asyncio
import secrets
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import docker
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.models import DeployStatus
from services.deployer import DeployRequest
from tests.support.npm_emulator import NpmEmulator, docker_resolver
from tests.support.registry_server import (
    RegistryServer,
    basic_auth_config,
    run_registry,
)
from tests.support.world import DOMAIN, World, make_world

ROUNDS = 7


def wait_http(
    client: httpx.Client,
    url: str,
    headers: dict[str, str] | None = None,
    expect: str | None = None,
    timeout: float = 30,
) -> None:
    """Poll every 5 ms until `url` answers 200 (and contains `expect`)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            answer = client.get(url, headers=headers, timeout=2)
            if answer.status_code == 200 and (expect is None or expect in answer.text):
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.005)
    raise TimeoutError(f"{url} never answered")


def baseline_once(client: docker.DockerClient, image: str, network: str) -> float:
    started = time.perf_counter()
    container = client.containers.run(image, detach=True, network=network)
    try:
        container.reload()
        address = container.attrs["NetworkSettings"]["Networks"][network]["IPAddress"]
        with httpx.Client() as http:
            wait_http(http, f"http://{address}:8080/health")
        return time.perf_counter() - started
    finally:
        container.remove(force=True)


async def product_once(world: World, npm: NpmEmulator, tag: str) -> float:
    assert world.project.id is not None
    host = f"stage-dev-{world.project.name}-{tag}.{DOMAIN}"
    url = f"http://127.0.0.1:{npm.nginx_port}/health"
    started = time.perf_counter()
    deploy = asyncio.create_task(
        world.services.deployer.deploy(DeployRequest(world.project.id, "dev", tag))
    )
    with httpx.Client() as http:
        await asyncio.to_thread(wait_http, http, url, {"Host": host})
    elapsed = time.perf_counter() - started
    result = await deploy
    if result.status != DeployStatus.SUCCEEDED:
        raise RuntimeError(f"deploy failed: {result.error}")
    return elapsed


def step_medians(world: World) -> dict[str, float]:
    durations: dict[str, list[int]] = defaultdict(list)
    for deploy in world.deploys.recent(limit=100):
        assert deploy.id is not None
        for step in world.deploys.steps(deploy.id):
            durations[step.name].append(step.duration_ms or 0)
    return {name: statistics.median(values) for name, values in durations.items()}


async def measure(client: docker.DockerClient, registry: RegistryServer, tmp: Path) -> None:
    with NpmEmulator() as npm:
        npm_settings = {"url": npm.url, "email": npm.email, "password": npm.password}
        async with make_world(client, registry, tmp, npm=npm_settings) as world:
            npm.resolve = docker_resolver(client, world.network)
            world.projects.update_stage(
                world.stage("dev").id or 0, max_instances=ROUNDS + 2, tag_pattern="*"
            )
            world.project = world.projects.update(world.project.id or 0, healthcheck_interval=1.0)
            tags = [f"b{i}" for i in range(ROUNDS + 1)]
            for tag in tags:  # one image, several tags: the same digest everywhere
                await world.push(tag, marker="same-content")
            await world.engine.ensure_network(world.network)
            image = f"{world.project.image}:{tags[0]}"
            client.images.pull(
                image, auth_config={"username": registry.username, "password": registry.password}
            )
            await product_once(world, npm, tags[0])  # warm-up (first login to NPM, etc.)
            baseline = [
                await asyncio.to_thread(baseline_once, client, image, world.network)
                for _ in range(ROUNDS)
            ]
            product = [await product_once(world, npm, tag) for tag in tags[1:]]
            report(baseline, product, step_medians(world))


def report(baseline: list[float], product: list[float], steps: dict[str, float]) -> None:
    a, b = statistics.median(baseline), statistics.median(product)
    print(f"rounds: {ROUNDS} (medians; image already present on the engine)")
    print(f"(a) baseline docker run + first 200 probe: {a * 1000:8.1f} ms")
    print(f"(b) product deploy until routed via nginx: {b * 1000:8.1f} ms")
    print(f"ratio b/a: {b / a:.2f}   (target <= 1.5)")
    print(f"overhead b-a: {(b - a) * 1000:.1f} ms   (target < 500 ms)")
    print("median per step (ms): " + ", ".join(f"{k} {v:.0f}" for k, v in steps.items()))


def main() -> None:
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
        if any(tag.startswith(f"{host}/") for tag in image.tags):
            client.images.remove(image.id, force=True)


if __name__ == "__main__":
    main()
