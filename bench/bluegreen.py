"""Zero downtime, measured: steady load at a stage's default subdomain during successive deploys.

Traffic goes through real nginx (the NPM emulator's, in its own process as NPM is) to the
stage's default subdomain while the product deploys SWAPS new versions to a stage that keeps one
instance (blue-green: start new, healthy, move the domains, drain, remove old). In the same run
the same load meets a naive swap done by hand: stop and remove the old container, run the new
one, repoint the proxy host (what a deploy script without blue-green does).

Fresh connections and kept-alive ones are counted apart (see `bench/load.py`). Printed per
phase: requests, failures by kind, the longest time without a 200, and per deploy the nginx
reloads and proxy-host writes the emulator saw. Target: 0 failed requests on fresh connections
during the product's swaps; kept-alive clients may lose only what a reload closes.

Needs the Docker Engine, Debian's docker-registry and nginx (as `scripts/test.sh` provisions).
Run: .venv/bin/python bench/bluegreen.py
"""

from __future__ import annotations

import asyncio
import secrets
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import docker

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.threads import use_io_threads
from bench.deploy_latency import wait_http
from bench.harness import run_bench
from bench.load import Answer, Load, longest_gap
from bench.npm_api import NpmApi
from bench.npm_process import NpmAddress, NpmProcess, NpmStats
from services import naming
from services.store.models import DeployStatus
from tests.support.images import push_same_image
from tests.support.registry_server import RegistryServer
from tests.support.world import DOMAIN, DRAIN_SECONDS, World, make_world

SWAPS = 5
KEPT_ALIVE = 2  # clients (as Load's default)
SETTLE = 1.0  # steady load before the first and after the last swap


@dataclass
class Phase:
    name: str
    answers: list[Answer]
    start: float
    end: float
    reloads: int
    host_writes: int
    swaps: int

    @classmethod
    def of(
        cls,
        name: str,
        answers: list[Answer],
        window: tuple[float, float],
        before: NpmStats,
        after: NpmStats,
    ) -> Phase:
        """A phase of SWAPS swaps from its load's answers and the emulator's counters."""
        reloads, writes = after.reloads - before.reloads, after.host_writes - before.host_writes
        return cls(name, answers, *window, reloads, writes, SWAPS)


async def product_phase(world: World, emulator: NpmProcess, npm: NpmAddress) -> Phase:
    """SWAPS deploys to the `rel` stage (one instance kept) under load at its default domain."""
    stage = world.stage("rel")
    settings = world.settings.get_global()
    host = naming.default_fqdn(settings, world.project, stage)
    tags = [f"v1.0.{i}" for i in range(SWAPS + 1)]
    await asyncio.to_thread(push_same_image, world.client, world.registry, world.repo, tags)
    await deploy_ok(world, tags[0])
    await asyncio.to_thread(wait_http, "127.0.0.1", npm.nginx_port, host)
    with Load(npm.nginx_port, host) as load:
        await asyncio.sleep(SETTLE)
        before, start = emulator.stats(), time.monotonic()
        for tag in tags[1:]:
            await deploy_ok(world, tag)
        end, after = time.monotonic(), emulator.stats()
        await asyncio.sleep(SETTLE)
    return Phase.of("product blue-green", load.answers, (start, end), before, after)


async def deploy_ok(world: World, tag: str) -> None:
    deploy = await world.deploy(tag, stage="rel")
    if deploy.status != DeployStatus.SUCCEEDED:
        raise RuntimeError(f"deploy of {tag} ended {deploy.status}: {deploy.error}")


def naive_phase(
    client: docker.DockerClient, world: World, emulator: NpmProcess, npm: NpmAddress
) -> Phase:
    """The same load while a script swaps by hand: stop+remove old, run new, repoint the host."""
    image = f"{world.project.image}:v1.0.0"
    host = f"naive.{DOMAIN}"
    names = [f"dw-bench-naive-{secrets.token_hex(3)}-{i}" for i in range(SWAPS + 1)]
    current = client.containers.run(image, name=names[0], detach=True, network=world.network)
    try:
        with NpmApi(npm.url, npm.email, npm.password) as api:
            host_id = api.create_host(host, names[0], world.project.port)
            wait_http("127.0.0.1", npm.nginx_port, host)
            with Load(npm.nginx_port, host) as load:
                time.sleep(SETTLE)
                before, start = emulator.stats(), time.monotonic()
                for name in names[1:]:
                    current.remove(force=True)
                    current = client.containers.run(
                        image, name=name, detach=True, network=world.network
                    )
                    api.point_host(host_id, host, name, world.project.port)
                    wait_http("127.0.0.1", npm.nginx_port, host)
                end, after = time.monotonic(), emulator.stats()
                time.sleep(SETTLE)
            api.delete_host(host_id)
    finally:
        current.remove(force=True)
    return Phase.of("naive stop-then-start", load.answers, (start, end), before, after)


def report(phase: Phase) -> None:
    print(f"\n{phase.name}: {phase.swaps} swaps in {phase.end - phase.start:.1f} s")
    for kind in ("fresh", "kept-alive"):
        mine = [a for a in phase.answers if a.kind == kind]
        failures = Counter(a.outcome for a in mine if a.outcome != "200")
        shown = ", ".join(f"{k} {n}" for k, n in failures.most_common()) or "none"
        gap = longest_gap(mine, phase.start, phase.end)
        print(
            f"  {kind:<10} requests {len(mine):6d}  failed {sum(failures.values()):5d}"
            f"  ({shown})  longest gap without a 200: {gap * 1000:.0f} ms"
        )
    print(
        f"  per deploy: {phase.reloads / phase.swaps:.1f} nginx reloads, "
        f"{phase.host_writes / phase.swaps:.1f} proxy-host writes"
    )
    bound = KEPT_ALIVE * phase.reloads
    print(f"  a reload closes each kept-alive connection at most once: at most {bound} such losses")


async def measure(client: docker.DockerClient, registry: RegistryServer, tmp: Path) -> None:
    use_io_threads(asyncio.get_running_loop())  # as the app does at start-up
    emulator = NpmProcess()
    with emulator as npm:
        npm_settings = {"url": npm.url, "email": npm.email, "password": npm.password}
        async with make_world(client, registry, tmp, npm=npm_settings) as world:
            emulator.resolve_on(world.network)
            product = await product_phase(world, emulator, npm)
            naive = await asyncio.to_thread(naive_phase, client, world, emulator, npm)
    print("load: 2 fresh-connection and 2 kept-alive clients, a request each every 10 ms")
    print(f"drain after moving the domains: {DRAIN_SECONDS} s (DW_DRAIN_SECONDS)")
    report(product)
    report(naive)
    fresh_failed = sum(1 for a in product.answers if a.kind == "fresh" and a.outcome != "200")
    print(f"\ntarget: 0 failed fresh-connection requests during blue-green swaps: {fresh_failed}")


def main() -> None:
    run_bench(measure)


if __name__ == "__main__":
    main()
