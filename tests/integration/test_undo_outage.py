"""An undo cut short by an outage is recorded as pending and finished when the engine is back.

A private dockerd (never the shared one) is stopped while a deploy waits on its health check and
started again afterwards: the deploy's record must say the clean-up is pending (never "rolled
back"), and once the engine answers the reconciler removes what the deploy made, including the
container the engine's restart policy started again, and says so on the deploy.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from docker import DockerClient

from services.errors import CannotConnect
from services.store.models import Deploy, DeployStatus
from tests.support.docker_env import async_wait_until
from tests.support.images import push_test_image
from tests.support.private_engine import PrivateEngine
from tests.support.registry_server import RegistryServer
from tests.support.world import World, make_world


@pytest.fixture
def private_engine() -> Iterator[PrivateEngine]:
    engine = PrivateEngine()
    try:
        engine.start()
        yield engine
    finally:
        engine.close()


@pytest.fixture
async def outage_world(
    private_engine: PrivateEngine,
    docker_client: DockerClient,
    registry: RegistryServer,
    tmp_path: Path,
) -> AsyncIterator[World]:
    """A world whose product talks to the private engine; the image comes from the registry."""
    async with make_world(
        private_engine.client, registry, tmp_path, docker_host=private_engine.url
    ) as world:
        await asyncio.to_thread(private_engine.network, world.network)
        repo = f"demo/{world.project.name}"
        await asyncio.to_thread(push_test_image, docker_client, registry, repo, "dev-1")
        assert world.project.id is not None
        # The app answers 404 on this path, so the health check keeps waiting (10 s start
        # period plus retries): the engine goes away while it waits.
        world.projects.update(world.project.id, healthcheck="/never", healthcheck_retries=50)
        try:
            yield world
        finally:
            if not private_engine.running:  # the test failed while it was stopped
                await asyncio.to_thread(private_engine.start)


async def test_dockerd_restart_while_a_deploy_waits_on_health_leaves_nothing_unknown(
    outage_world: World, private_engine: PrivateEngine
) -> None:
    world = outage_world
    stop = asyncio.Event()
    follower = asyncio.create_task(world.services.reconciler.run(stop))
    try:
        running = asyncio.create_task(world.deploy("dev-1"))
        await async_wait_until(
            lambda: _in_health(world), timeout=60, message="the deploy never reached health"
        )
        await asyncio.to_thread(private_engine.stop)  # SIGTERM, and wait for the exit
        failed = await asyncio.wait_for(running, 120)

        assert failed.id is not None and failed.status == DeployStatus.FAILED
        lines = _lines(world, failed)
        assert not any(line.startswith("rolled back") for line in lines), lines
        assert any(line.startswith("clean-up pending") for line in lines), lines
        assert world.deploys.get(failed.id).cleanup_pending
        (kept,) = world.live()  # the row stays, so the clean-up can find its container
        assert kept.deploy_id == failed.id and kept.container_name

        await asyncio.to_thread(private_engine.start)
        await async_wait_until(
            lambda: _cleaned_up(world, failed),
            timeout=90,
            message="the pending clean-up never finished after the engine came back",
        )
    finally:
        stop.set()
        await asyncio.wait_for(follower, 30)

    assert world.live() == []
    running_now = await asyncio.to_thread(private_engine.client.containers.list, all=True)
    assert running_now == [], "a container runs that the product does not know"
    assert any(line.startswith("clean-up finished") for line in _lines(world, failed))


async def _in_health(world: World) -> bool:
    deploys = await asyncio.to_thread(world.deploys.recent, limit=1)
    started = any(i.container_id for i in await asyncio.to_thread(world.live))
    return bool(deploys) and deploys[0].step == "health" and started


async def _cleaned_up(world: World, deploy: Deploy) -> bool:
    assert deploy.id is not None
    record = await asyncio.to_thread(world.deploys.get, deploy.id)
    return not record.cleanup_pending


def _lines(world: World, deploy: Deploy) -> list[str]:
    assert deploy.id is not None
    return [line.message for line in world.deploys.log_lines(deploy.id)]


async def test_a_resync_leaves_a_deploy_of_this_process_running(world: World) -> None:
    """After a reconnect the start-up clean-up runs again, but a deploy this process is running
    is alive, not interrupted: it goes on and succeeds."""
    await world.push("dev-1", variant="slow")  # 3 s before it answers
    running = asyncio.create_task(world.deploy("dev-1"))
    await async_wait_until(
        lambda: _in_health(world), timeout=60, message="the deploy never reached health"
    )

    report = await world.services.reconciler.resync()

    assert report.interrupted_deploys == [] and report.removed_orphans == []
    done = await asyncio.wait_for(running, 120)
    assert done.status == DeployStatus.SUCCEEDED, done.error
    assert [i.tag for i in world.live()] == ["dev-1"]


async def test_an_interrupted_deploy_met_by_a_stopped_engine_is_cleaned_up_once_it_is_back(
    outage_world: World, private_engine: PrivateEngine
) -> None:
    """The process dies mid-deploy and starts again while the engine is down: the start-up
    clean-up cannot remove the container, so it stays pending instead of being forgotten."""
    world = outage_world
    running = asyncio.create_task(world.deploy("dev-1"))
    await async_wait_until(
        lambda: _in_health(world), timeout=60, message="the deploy never reached health"
    )
    running.cancel()  # the process dies here: no rollback runs
    with contextlib.suppress(asyncio.CancelledError):
        await running
    (stuck,) = world.deploys.unfinished()
    assert stuck.id is not None
    await asyncio.to_thread(private_engine.stop)

    await world.restart()
    with pytest.raises(CannotConnect):
        await world.services.reconciler.reconcile_startup()  # postponed: the engine is down
    record = world.deploys.get(stuck.id)
    assert record.status == DeployStatus.FAILED and record.cleanup_pending
    assert [i.deploy_id for i in world.live()] == [stuck.id]

    await asyncio.to_thread(private_engine.start)
    report = await world.services.reconciler.reconcile_startup()  # the process's retry

    assert report.finished_cleanups == [stuck.id]
    assert world.live() == []
    assert await asyncio.to_thread(private_engine.client.containers.list, all=True) == []
    assert any(line.startswith("clean-up finished") for line in _lines(world, stuck))
