"""Deploy latency: the product's full deploy against a bare `docker run` + first probe, same run.

(a) baseline: create and start the container on the network (image already present), then GET
    /health every 5 ms until it answers 200;
(b) product: from `Deployer.deploy` being called until the instance's own subdomain answers through
    nginx (NPM emulator over a real nginx, in its own process as NPM is), for the same tiny image
    (each tag has the same digest);
(c) baseline with a proxy: `docker run`, then one proxy-host create through the same NPM emulator
    (a hand-made deploy script's two calls), until the new host answers 200 through nginx.

The rounds alternate (a), (c) and (b), and the stage keeps two instances (`max_instances: 2`), so
both run beside the same number of containers: the engine's create+start slows down as containers
pile up on a host (about 310 ms with 2, 480 ms with 16 here), which would otherwise skew the ratio.
Each round starts 0.5 s after the previous one ended: a container just removed (the baseline's,
or the instance the deploy retired) is still being torn down in the engine for a moment, and a
start during that is 20-40 ms slower, a cost that fell on (b) after each (a).
Both probe loops are the same plain `http.client` GET every 5 ms on a new connection, and both
start once their container runs (in (b) when the deploy enters its health step; nothing can
answer through nginx before that): a loop running during the engine's start takes CPU from it on
a 2-vCPU machine, which (a) does not lose. (httpx was dropped: ~1 ms of CPU per probe, and making
a client costs ~40 ms of TLS set-up on the deploy's event loop.) A new connection per probe is
what a client meeting a new subdomain opens (connection pools are per host); a kept-alive one
would stay with the old nginx worker, which keeps answering 404 for ~100 ms after a reload.

Prints the medians (with the middle half of the rounds), the ratios b/a and b/c and the
product's overhead (b − a), plus the median of each step over the measured deploys.
Targets: b/c ≤ 1.15 (issue 12; the proxy write and nginx reload are in both), b/a ≤ 1.5 and
overhead < 0.5 s (issue 3).

Burst: ten webhooks for ten different projects at once (a CI pushing a release of many services)
until all ten tag subdomains answer through nginx, beside ten bare `docker run`s started together
until each answers: deploys of different stages must not wait for each other.
Needs the Docker Engine, Debian's docker-registry and nginx (as `scripts/test.sh` provisions).
Run: .venv/bin/python bench/deploy_latency.py
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import secrets
import statistics
import sys
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import docker

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.threads import use_io_threads
from bench.harness import run_bench
from bench.npm_api import NpmApi
from bench.npm_process import NpmProcess
from services import naming
from services.deploy.deployer import DeployRequest
from services.events import Event
from services.store.models import DeployStatus, Project
from services.types import LABEL_PROJECT
from tests.support.images import push_same_image, push_test_image
from tests.support.registry_server import (
    RegistryServer,
)
from tests.support.world import DOMAIN, World, make_world

ROUNDS = int(os.environ.get("DW_BENCH_ROUNDS", "15"))  # fewer for a quick look
BURST = 10
SETTLE_SECONDS = 0.5  # before each round: the previous one's container removal has settled


def answers(address: str, port: int, host: str | None) -> bool:
    """One GET /health on a new connection; True on 200."""
    conn = http.client.HTTPConnection(address, port, timeout=2)
    try:
        conn.request("GET", "/health", headers={"Host": host or address, "Connection": "close"})
        return conn.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


def wait_http(address: str, port: int, host: str | None = None, timeout: float = 30) -> None:
    """Poll every 5 ms until GET /health answers 200 (same loop for (a) and (b))."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if answers(address, port, host):
            return
        time.sleep(0.005)
    raise TimeoutError(f"{host or address}:{port} never answered")


def baseline_with_proxy_once(
    client: docker.DockerClient, image: str, network: str, api: NpmApi, nginx_port: int
) -> float:
    """(c): run the container, create its proxy host, until nginx answers 200 for it."""
    name = f"dw-bench-c-{secrets.token_hex(4)}"
    domain = f"{name}.{DOMAIN}"
    started = time.perf_counter()
    container = client.containers.run(image, name=name, detach=True, network=network)
    host_id = None
    try:
        host_id = api.create_host(domain, name, 8080)
        wait_http("127.0.0.1", nginx_port, domain)
        return time.perf_counter() - started
    finally:
        if host_id is not None:
            api.delete_host(host_id)
        container.remove(force=True)


def baseline_once(client: docker.DockerClient, image: str, network: str) -> float:
    started = time.perf_counter()
    container = client.containers.run(image, detach=True, network=network)
    try:
        container.reload()
        address = container.attrs["NetworkSettings"]["Networks"][network]["IPAddress"]
        wait_http(address, 8080)
        return time.perf_counter() - started
    finally:
        container.remove(force=True)


async def product_once(world: World, nginx_port: int, tag: str) -> float:
    assert world.project.id is not None
    host = f"stage-dev-{world.project.name}-{tag}.{DOMAIN}"
    container_up = asyncio.Event()

    def on_event(event: Event) -> None:
        if event.kind == "deploy.step" and event.data.get("step") == "health":
            container_up.set()

    unsubscribe = world.services.bus.subscribe(on_event)
    started = time.perf_counter()
    deploy = asyncio.create_task(
        world.services.deployer.deploy(DeployRequest(world.project.id, "dev", tag))
    )
    # Like (a), poll once the container runs: nothing can answer before, and a loop running
    # during the engine's start would take CPU from it that (a) does not lose.
    await asyncio.wait(
        [deploy, asyncio.create_task(container_up.wait())],
        timeout=60,
        return_when=asyncio.FIRST_COMPLETED,
    )
    await asyncio.to_thread(wait_http, "127.0.0.1", nginx_port, host)
    elapsed = time.perf_counter() - started
    unsubscribe()
    result = await deploy
    if result.status != DeployStatus.SUCCEEDED:
        raise RuntimeError(f"deploy failed: {result.error}")
    return elapsed


def step_medians(world: World, skip: int) -> dict[str, float]:
    """Median duration of each step over the measured deploys (the first `skip` warmed up)."""
    durations: dict[str, list[int]] = defaultdict(list)
    for deploy in world.deploys.recent(limit=100)[:-skip]:
        assert deploy.id is not None
        for step in world.deploys.steps(deploy.id):
            durations[step.name].append(step.duration_ms or 0)
    return {name: statistics.median(values) for name, values in durations.items()}


async def measure(client: docker.DockerClient, registry: RegistryServer, tmp: Path) -> None:
    use_io_threads(asyncio.get_running_loop())  # as the app does at start-up
    emulator = NpmProcess()
    with emulator as npm:
        npm_settings = {"url": npm.url, "email": npm.email, "password": npm.password}
        async with make_world(client, registry, tmp, npm=npm_settings) as world:
            emulator.resolve_on(world.network)
            world.projects.update_stage(
                world.stage("dev").id or 0, max_instances=2, tag_pattern="*"
            )
            world.project = world.projects.update(world.project.id or 0, healthcheck_interval=1.0)
            tags = [f"b{i}" for i in range(ROUNDS + 1)]
            await asyncio.to_thread(  # one image, several tags: the same digest everywhere
                push_same_image, client, world.registry, world.repo, tags
            )
            await world.engine.ensure_network(world.network)
            image = f"{world.project.image}:{tags[0]}"
            client.images.pull(
                image, auth_config={"username": registry.username, "password": registry.password}
            )
            await product_once(world, npm.nginx_port, tags[0])  # warm-up (NPM login, etc.)
            rounds = Rounds()
            with NpmApi(npm.url, npm.email, npm.password) as api:
                for tag in tags[1:]:
                    await asyncio.sleep(SETTLE_SECONDS)
                    rounds.bare.append(
                        await asyncio.to_thread(baseline_once, client, image, world.network)
                    )
                    await asyncio.sleep(SETTLE_SECONDS)
                    rounds.with_proxy.append(
                        await asyncio.to_thread(
                            baseline_with_proxy_once,
                            client,
                            image,
                            world.network,
                            api,
                            npm.nginx_port,
                        )
                    )
                    await asyncio.sleep(SETTLE_SECONDS)
                    rounds.product.append(await product_once(world, npm.nginx_port, tag))
            report(rounds, step_medians(world, skip=1))
            burst_product = await burst(world, npm.nginx_port)
            await asyncio.sleep(SETTLE_SECONDS)
            burst_bare = await asyncio.to_thread(bare_burst, client, image, world.network)
            report_burst(burst_bare, burst_product)


@dataclass
class Rounds:
    bare: list[float] = field(default_factory=list)  # (a)
    with_proxy: list[float] = field(default_factory=list)  # (c)
    product: list[float] = field(default_factory=list)  # (b)


async def burst(world: World, nginx_port: int) -> float:
    """Ten webhooks for ten projects at once, until every tag subdomain answers via nginx."""
    projects = [await asyncio.to_thread(burst_project, world, i) for i in range(BURST)]
    for project in projects:
        await push_for(world, project, "r1")
    settings = world.settings.get_global()
    secret = world.settings.webhook_secret()
    hosts = []
    for project in projects:
        assert project.id is not None
        stage = world.projects.stage_by_name(project.id, "dev")
        hosts.append(naming.tag_fqdn(settings, project, stage, "r1"))
    webhook = world.runtime.detection.webhook
    headers = {"content-type": "application/json"}
    started = time.perf_counter()
    answers = await asyncio.gather(
        *(
            webhook.receive(secret, headers, json.dumps({"image": f"{p.image}:r1"}).encode())
            for p in projects
        )
    )
    if any(a.status != 202 for a in answers):
        raise RuntimeError(f"a webhook was refused: {answers}")
    loop = asyncio.get_running_loop()
    try:
        with ThreadPoolExecutor(BURST) as waiters:  # not the loop's executor: the product's
            await asyncio.gather(
                *(
                    loop.run_in_executor(waiters, wait_http, "127.0.0.1", nginx_port, host, 120)
                    for host in hosts
                )
            )
        return time.perf_counter() - started
    except TimeoutError:
        for deploy in world.deploys.recent(limit=BURST):
            print(f"  {deploy.project_name}: {deploy.status} at {deploy.step}: {deploy.error}")
        raise
    finally:
        await world.runtime.services.deployer.shutdown()
        for project in projects:
            filters = {"label": f"{LABEL_PROJECT}={project.name}"}
            for container in world.client.containers.list(all=True, filters=filters):
                container.remove(force=True)


def burst_project(world: World, index: int) -> Project:
    """A project like the world's, on the same registry, with an auto-deploying stage."""
    name = f"{world.project.name}-burst{index}"
    project = world.projects.create(
        name=name,
        registry_id=world.project.registry_id,
        image=f"{world.registry.host}/demo/{name}",
        port=8080,
        healthcheck="/health",
        healthcheck_interval=1.0,
        healthcheck_retries=2,
        healthcheck_timeout=2,
    )
    assert project.id is not None
    world.projects.add_stage(
        project.id, name="dev", tag_pattern="*", auto_deploy=True, max_instances=1
    )
    return project


async def push_for(world: World, project: Project, tag: str) -> None:
    await asyncio.to_thread(
        push_test_image,
        world.client,
        world.registry,
        f"demo/{project.name}",
        tag,
        marker="same-content",
    )


def bare_burst(client: docker.DockerClient, image: str, network: str) -> float:
    """Ten `docker run`s started together, until each container answers its first probe."""
    started = time.perf_counter()
    with ThreadPoolExecutor(BURST) as pool:
        list(pool.map(lambda _i: baseline_once(client, image, network), range(BURST)))
    return time.perf_counter() - started


def spread(values: list[float]) -> str:
    """The middle half of the rounds (25th to 75th percentile), to judge the median."""
    q1, _, q3 = statistics.quantiles(values, n=4)
    return f"(middle half {q1 * 1000:.0f}-{q3 * 1000:.0f} ms)"


def report(rounds: Rounds, steps: dict[str, float]) -> None:
    a, c = statistics.median(rounds.bare), statistics.median(rounds.with_proxy)
    b = statistics.median(rounds.product)
    print(f"rounds: {ROUNDS} (medians; image already present on the engine)")
    print(f"(a) docker run + first 200 probe:          {a * 1000:8.1f} ms   {spread(rounds.bare)}")
    print(
        f"(c) docker run + proxy host + 200 via nginx: {c * 1000:6.1f} ms   "
        f"{spread(rounds.with_proxy)}"
    )
    print(
        f"(b) product deploy until routed via nginx: {b * 1000:8.1f} ms   {spread(rounds.product)}"
    )
    print(f"ratio b/c: {b / c:.2f}   (target <= 1.15)")
    print(f"ratio b/a: {b / a:.2f}   (target <= 1.5)")
    print(f"overhead b-a: {(b - a) * 1000:.1f} ms   (target < 500 ms)")
    print("median per step (ms): " + ", ".join(f"{k} {v:.0f}" for k, v in steps.items()))


def report_burst(bare: float, product: float) -> None:
    print(f"burst of {BURST} projects at once:")
    print(f"  {BURST} bare docker runs together, until each answers: {bare * 1000:8.1f} ms")
    print(f"  {BURST} webhooks together, until all routed via nginx:  {product * 1000:8.1f} ms")
    print(f"  ratio: {product / bare:.2f}")


def main() -> None:
    run_bench(measure)


if __name__ == "__main__":
    main()
