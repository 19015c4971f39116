"""Nothing points at a lost container: an outside `docker rm -f` through NPM (the emulator) and
real nginx, with the reconciler following the real engine's events."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from docker import DockerClient

from services.events import Event
from services.store.models import DeployStatus, InstanceStatus
from tests.support.docker_env import async_wait_until
from tests.support.following import following
from tests.support.npm_emulator import NpmEmulator
from tests.support.receiver import FakeReceiver
from tests.support.registry_server import RegistryServer
from tests.support.world import World, make_routed_world

from .test_deploy_routing import default_domain, domains, tag_domain, via_proxy

pytest_plugins = ["tests.support.npm_fixtures"]


@pytest.fixture
async def world(
    docker_client: DockerClient,
    registry: RegistryServer,
    tmp_path: Path,
    npm_emulator: NpmEmulator,
    receiver: FakeReceiver,
) -> AsyncIterator[World]:
    async with make_routed_world(
        docker_client, registry, tmp_path, npm_emulator, notification_urls=[receiver.url]
    ) as built:
        yield built


async def _deployed(world: World, *tags: str) -> None:
    for tag in tags:
        await world.push(tag)
        deploy = await world.deploy(tag)
        assert deploy.status == DeployStatus.SUCCEEDED, deploy.error


async def test_outside_rm_deletes_its_hosts_moves_the_default_and_frees_its_place(
    world: World, npm_emulator: NpmEmulator, receiver: FakeReceiver
) -> None:
    await _deployed(world, "dev-1", "dev-2")  # max_instances 2; the default is on dev-2
    seen: list[Event] = []
    world.services.bus.subscribe(seen.append)
    dev2 = next(i for i in world.live() if i.tag == "dev-2")

    async with following(world):
        await asyncio.to_thread(world.client.containers.get(dev2.container_id).remove, force=True)

        async def settled() -> bool:
            return domains(npm_emulator) == {default_domain(world), tag_domain(world, "dev-1")}

        await async_wait_until(settled, timeout=10, message="the lost instance's hosts stayed")
        answer = await via_proxy(npm_emulator, default_domain(world))
        assert answer.status_code == 200 and answer.text.strip().endswith("dev-1")
        lost = world.instances.get(dev2.id or 0)
        assert lost.status == InstanceStatus.MISSING and lost.proxy_host_ids == {}
        assert "removed outside" in (lost.error or "") and "dev-1" in (lost.error or "")
        assert any(e.kind == "instance.changed" and "lost" in e.data for e in seen)

        async def told() -> bool:
            return any(body["event"] == "instance_lost" for body in receiver.bodies)

        await async_wait_until(told, timeout=10, message="no instance_lost notification")

        await _deployed(world, "dev-3")  # the lost one no longer counts toward max_instances
    assert sorted(i.tag for i in world.live()) == ["dev-1", "dev-2", "dev-3"]
    assert world.instances.get(dev2.id or 0).status == InstanceStatus.MISSING
    assert domains(npm_emulator) == {
        default_domain(world),
        tag_domain(world, "dev-1"),
        tag_domain(world, "dev-3"),
    }


async def test_lost_without_a_healthy_sibling_deletes_every_host(
    world: World, npm_emulator: NpmEmulator
) -> None:
    await _deployed(world, "dev-1")
    (only,) = world.live()
    async with following(world):
        await asyncio.to_thread(world.client.containers.get(only.container_id).remove, force=True)

        async def gone() -> bool:
            return domains(npm_emulator) == set()

        await async_wait_until(gone, timeout=10, message="hosts still point at a lost container")
    assert world.instances.get(only.id or 0).status == InstanceStatus.MISSING


async def test_hosts_npm_could_not_delete_go_at_the_next_status_check(
    world: World, npm_emulator: NpmEmulator
) -> None:
    await _deployed(world, "dev-1")
    (only,) = world.live()
    npm_emulator.down()
    async with following(world):
        await asyncio.to_thread(world.client.containers.get(only.container_id).remove, force=True)

        async def noted() -> bool:
            return "could not delete" in (world.instances.get(only.id or 0).error or "")

        await async_wait_until(noted, timeout=10, message="the failed host deletion was not noted")
    npm_emulator.up()
    assert domains(npm_emulator) == {default_domain(world), tag_domain(world, "dev-1")}

    stop = asyncio.Event()
    recheck = asyncio.create_task(world.services.reconciler.recheck(stop, interval=0.2))
    try:

        async def gone() -> bool:
            return domains(npm_emulator) == set()

        await async_wait_until(gone, timeout=10, message="the periodic check left the hosts")
    finally:
        stop.set()
        await recheck
    lost = world.instances.get(only.id or 0)
    assert lost.status == InstanceStatus.MISSING and lost.proxy_host_ids == {}


async def test_removing_the_default_holder_keeps_the_default_on_its_sibling(
    world: World, npm_emulator: NpmEmulator
) -> None:
    """Remove hands the default over, then deletes the rest: not the host it just handed over."""
    await _deployed(world, "dev-1", "dev-2")
    dev2 = next(i for i in world.live() if i.tag == "dev-2")
    assert dev2.id is not None

    await world.services.control.remove(dev2.id)

    assert domains(npm_emulator) == {default_domain(world), tag_domain(world, "dev-1")}
    answer = await via_proxy(npm_emulator, default_domain(world))
    assert answer.status_code == 200 and answer.text.strip().endswith("dev-1")
