"""A stage's strategy, honoured: blue_green and stop_first deploys on the real engine, routed
through the NPM emulator over a real nginx, with the engine's own event log as the witness of
which containers ran at the same time."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from docker import DockerClient

from services.store.models import Deploy, DeployStatus, DeployStrategy, Instance, InstanceStatus
from services.types import LABEL_PROJECT, LABEL_TAG
from tests.support.docker_env import async_wait_until
from tests.support.npm_emulator import NpmEmulator
from tests.support.registry_server import RegistryServer
from tests.support.world import DOMAIN, World, make_routed_world

pytest_plugins = ["tests.support.npm_fixtures"]
STAGE = "rel"  # one instance (max_instances 1), tags v*


@pytest.fixture
async def world(
    docker_client: DockerClient,
    registry: RegistryServer,
    tmp_path: Path,
    npm_emulator: NpmEmulator,
) -> AsyncIterator[World]:
    async with make_routed_world(docker_client, registry, tmp_path, npm_emulator) as built:
        yield built


@dataclass(frozen=True)
class EngineEvent:
    action: str  # "start" or "die"
    tag: str  # the container's tag label
    at: float = 0.0  # epoch seconds by the engine's clock (this machine's)


class EngineWatch:
    """Follows the engine's start/die events of the project's containers as they happen.

    The daemon keeps only its last 256 events (health-check execs of every test's containers
    fill that in seconds), so the events are read live rather than asked for afterwards.
    """

    def __init__(self, world: World) -> None:
        labels = f"{LABEL_PROJECT}={world.project.name}"
        filters = {"type": "container", "event": ["start", "die"], "label": labels}
        self._stream = world.client.events(decode=True, filters=filters)  # subscribed on return
        self.events: list[EngineEvent] = []
        self._thread = threading.Thread(target=self._follow, daemon=True)
        self._thread.start()

    def _follow(self) -> None:
        for e in self._stream:
            tag = e["Actor"]["Attributes"].get(LABEL_TAG, "")
            self.events.append(EngineEvent(e["Action"], tag, e["timeNano"] / 1e9))

    async def until(self, *wanted: tuple[str, str]) -> list[EngineEvent]:
        """The events so far, once all `wanted` (action, tag) events came, each as often as
        listed (the stream is ordered, so every event before them is in too)."""

        async def arrived() -> bool:
            return not Counter(wanted) - Counter((e.action, e.tag) for e in self.events)

        await async_wait_until(arrived, timeout=10, message=f"the engine's events {wanted}")
        return list(self.events)

    def close(self) -> None:
        self._stream.close()
        self._thread.join(timeout=10)


@pytest.fixture
def watch(world: World) -> Iterator[EngineWatch]:
    watcher = EngineWatch(world)
    try:
        yield watcher
    finally:
        watcher.close()


def most_running_at_once(events: list[EngineEvent]) -> int:
    """The peak number of this project's containers running together (start to die)."""
    running: dict[str, int] = {}
    peak = 0
    for event in events:
        if event.action == "start":
            running[event.tag] = running.get(event.tag, 0) + 1
        elif event.action == "die":
            running[event.tag] = running.get(event.tag, 0) - 1
        peak = max(peak, sum(running.values()))
    return peak


def first(events: list[EngineEvent], action: str, tag: str) -> int:
    return next(i for i, e in enumerate(events) if (e.action, e.tag) == (action, tag))


async def answers(world: World, instance: Instance, tag: str) -> bool:
    """The instance's container answers with `tag`'s content (asked directly on the network)."""
    try:
        return (await world.fetch(instance, "/tag.txt")).text.strip().endswith(tag)
    except httpx.HTTPError:
        return False


def default_domain(world: World) -> str:
    return f"stage-{STAGE}-{world.project.name}.{DOMAIN}"


def tag_domain(world: World, tag: str) -> str:
    return f"stage-{STAGE}-{world.project.name}-{tag.replace('.', '-')}.{DOMAIN}"


async def via_proxy(npm: NpmEmulator, host: str) -> httpx.Response:
    return await asyncio.to_thread(npm.get_via_proxy, host, "/tag.txt")


def use_strategy(world: World, strategy: DeployStrategy) -> None:
    stage = world.stage(STAGE)
    assert stage.id is not None
    world.projects.update_stage(stage.id, strategy=strategy)


def step_end(world: World, deploy: Deploy, name: str) -> float:
    """When the deploy's step `name` ended (epoch seconds)."""
    assert deploy.id is not None
    (step,) = [s for s in world.deploys.steps(deploy.id) if s.name == name]
    assert step.finished_at is not None
    return step.finished_at.timestamp()


def log_of(world: World, deploy: Deploy) -> list[str]:
    assert deploy.id is not None
    return [line.message for line in world.deploys.log_lines(deploy.id)]


async def deployed(world: World, tag: str, variant: str = "ok") -> Deploy:
    await world.push(tag, variant=variant)
    return await world.deploy(tag, stage=STAGE)


async def test_blue_green_keeps_the_old_instance_until_the_new_one_is_healthy(
    world: World, npm_emulator: NpmEmulator, watch: EngineWatch
) -> None:
    assert world.stage(STAGE).strategy == DeployStrategy.BLUE_GREEN  # the default
    assert (await deployed(world, "v1.0.0")).status == DeployStatus.SUCCEEDED

    swapped = await deployed(world, "v1.1.0")

    assert swapped.status == DeployStatus.SUCCEEDED, swapped.error
    assert any(line.startswith("strategy: blue_green — ") for line in log_of(world, swapped))
    events = await watch.until(("start", "v1.1.0"), ("die", "v1.0.0"))
    assert most_running_at_once(events) == 2, events
    healthy = step_end(world, swapped, "health")
    old_died = events[first(events, "die", "v1.0.0")].at
    assert healthy < step_end(world, swapped, "switch") < old_died
    answer = await via_proxy(npm_emulator, default_domain(world))
    assert answer.status_code == 200 and answer.text.strip().endswith("v1.1.0")
    (instance,) = world.live(STAGE)
    assert instance.tag == "v1.1.0"


async def test_stop_first_never_runs_two_instances_at_once(
    world: World, npm_emulator: NpmEmulator, watch: EngineWatch
) -> None:
    use_strategy(world, DeployStrategy.STOP_FIRST)
    assert (await deployed(world, "v1.0.0")).status == DeployStatus.SUCCEEDED

    swapped = await deployed(world, "v1.1.0")

    assert swapped.status == DeployStatus.SUCCEEDED, swapped.error
    events = await watch.until(("start", "v1.0.0"), ("die", "v1.0.0"), ("start", "v1.1.0"))
    assert most_running_at_once(events) == 1, events
    assert "stop" in world.step_names(swapped)
    lines = log_of(world, swapped)
    assert any(line.startswith("strategy: stop_first — ") for line in lines), lines
    (instance,) = world.live(STAGE)
    assert instance.tag == "v1.1.0" and instance.status == InstanceStatus.HEALTHY
    assert set(instance.proxy_host_ids) == {default_domain(world), tag_domain(world, "v1.1.0")}
    answer = await via_proxy(npm_emulator, default_domain(world))
    assert answer.status_code == 200 and answer.text.strip().endswith("v1.1.0")
    assert [c.labels[LABEL_TAG] for c in world.containers()] == ["v1.1.0"]


async def test_stop_first_starts_the_old_instance_again_when_the_new_one_fails(
    world: World, npm_emulator: NpmEmulator, watch: EngineWatch
) -> None:
    use_strategy(world, DeployStrategy.STOP_FIRST)
    assert (await deployed(world, "v1.0.0")).status == DeployStatus.SUCCEEDED
    (old,) = world.live(STAGE)
    hosts = dict(old.proxy_host_ids)

    failed = await deployed(world, "v1.1.0", variant="unhealthy")

    assert failed.status == DeployStatus.FAILED and failed.step == "health"
    assert "health check failed" in (failed.error or "")
    lines = log_of(world, failed)
    assert f"started {old.container_name} (v1.0.0) again with its domains" in lines, lines
    events = await watch.until(
        ("start", "v1.0.0"), ("die", "v1.0.0"), ("start", "v1.1.0"), ("die", "v1.1.0"),
        ("start", "v1.0.0"),
    )  # fmt: skip
    assert most_running_at_once(events) == 1, events
    assert (events[-1].action, events[-1].tag) == ("start", "v1.0.0")  # the old one, last
    (survivor,) = world.live(STAGE)
    assert survivor.id == old.id and survivor.proxy_host_ids == hosts
    assert set(hosts) == {default_domain(world), tag_domain(world, "v1.0.0")}
    (container,) = world.containers()
    assert container.labels[LABEL_TAG] == "v1.0.0" and container.status == "running"
    await async_wait_until(
        lambda: answers(world, survivor, "v1.0.0"), timeout=10, message="the old one serves again"
    )
    forwards = {h["forward_host"] for h in npm_emulator.live_hosts()}
    assert forwards == {old.container_name}


async def test_a_stop_first_deploy_cut_short_starts_the_old_instance_at_the_next_start(
    world: World,
) -> None:
    """The process dies after "stop" (no undo runs): the reconciler starts the old one again."""
    use_strategy(world, DeployStrategy.STOP_FIRST)
    assert (await deployed(world, "v1.0.0")).status == DeployStatus.SUCCEEDED
    (old,) = world.live(STAGE)
    await world.push("v1.1.0", variant="slow")  # 3 s before it answers: time to "crash"
    task = asyncio.create_task(world.deploy("v1.1.0", stage=STAGE))

    async def new_one_started() -> bool:
        return any(i.tag == "v1.1.0" and i.container_id for i in world.live(STAGE))

    await async_wait_until(new_one_started, timeout=60, message="the new one never started")
    task.cancel()  # the process dies here: no undo runs
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert world.instances.get(old.id or 0).stopped_by_deploy is not None

    await world.restart()
    report = await world.services.reconciler.reconcile_startup()

    assert len(report.interrupted_deploys) == 1
    (survivor,) = world.live(STAGE)
    assert survivor.id == old.id and survivor.stopped_by_deploy is None
    (container,) = world.containers()
    assert container.labels[LABEL_TAG] == "v1.0.0" and container.status == "running"
