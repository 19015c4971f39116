"""Instance controls and reconciliation with the real engine: crashes, outside changes, events."""

from __future__ import annotations

import asyncio
import contextlib

from services.deploy.deployer import DeployRequest
from services.events import Event
from services.store.models import DeployStatus, InstanceStatus
from services.types import LABEL_INSTALLATION, labels_for
from tests.support.docker_env import async_wait_until
from tests.support.world import World


async def test_interrupted_deploy_is_cleaned_up_at_next_start(world: World) -> None:
    await world.push("dev-1", variant="slow")  # 3 s before it answers: time to "crash"
    assert world.project.id is not None
    task = asyncio.create_task(
        world.services.deployer.deploy(DeployRequest(world.project.id, "dev", "dev-1"))
    )
    await async_wait_until(
        lambda: _started(world), timeout=30, message="the deploy never started its container"
    )
    task.cancel()  # the process dies here: no rollback runs
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert len(world.containers()) == 1
    (stuck,) = world.deploys.unfinished()

    await world.restart()  # what a fresh process start builds, over the same database
    report = await world.services.reconciler.reconcile_startup()

    assert report.interrupted_deploys == [stuck.id]
    assert world.containers() == [] and world.live() == []
    assert stuck.id is not None
    final = world.deploys.get(stuck.id)
    assert final.status == DeployStatus.FAILED and "interrupted" in (final.error or "")


async def _started(world: World) -> bool:
    return any(i.container_id for i in world.live())


async def test_orphan_container_with_our_labels_is_removed(world: World) -> None:
    await world.push("dev-1")
    await world.engine.ensure_network(world.network)
    labels = labels_for(world.project.name, "dev", "dev-1", 999_999, 1)
    image = f"{world.project.image}:dev-1"
    ours = {**labels, LABEL_INSTALLATION: world.settings.installation_id()}
    theirs = {**labels, LABEL_INSTALLATION: "another-watcher"}
    orphan = world.client.containers.run(image, detach=True, labels=ours, network=world.network)
    foreign = world.client.containers.run(image, detach=True, labels=theirs, network=world.network)

    report = await world.services.reconciler.reconcile_startup()

    assert report.removed_orphans == [orphan.name]
    assert [c.id for c in world.containers()] == [foreign.id]  # another installation's: kept


async def test_outside_stop_and_start_reach_the_instance_through_events(world: World) -> None:
    await world.push("dev-1")
    await world.deploy("dev-1")
    (instance,) = world.live()
    seen: list[Event] = []
    world.services.bus.subscribe(seen.append)
    stop = asyncio.Event()
    follower = asyncio.create_task(world.services.reconciler.run(stop))
    try:
        await asyncio.sleep(0.2)  # let the event stream attach
        world.client.containers.get(instance.container_id).stop(timeout=1)
        await _wait_status(world, InstanceStatus.STOPPED)
        world.client.containers.get(instance.container_id).start()
        await _wait_status(world, InstanceStatus.HEALTHY)
    finally:
        stop.set()
        await asyncio.wait_for(follower, 10)
    assert any(e.kind == "instance.changed" and e.instance_id == instance.id for e in seen)


async def _wait_status(world: World, status: InstanceStatus) -> None:
    async def reached() -> bool:
        return [i.status for i in world.live()] == [status]

    await async_wait_until(reached, timeout=20, message=f"instance never became {status}")


async def test_vanished_container_is_marked_missing(world: World) -> None:
    await world.push("dev-1")
    await world.deploy("dev-1")
    (instance,) = world.live()
    world.client.containers.get(instance.container_id).remove(force=True)

    report = await world.services.reconciler.sync_statuses()

    assert report.status_changes == {instance.id: "missing"}
    assert world.live()[0].status == InstanceStatus.MISSING


async def test_stop_start_restart_remove_and_logs(world: World) -> None:
    await world.push("dev-1")
    await world.deploy("dev-1")
    (instance,) = world.live()
    assert instance.id is not None
    control = world.services.control

    assert (await control.stop(instance.id)).status == InstanceStatus.STOPPED
    assert not world.client.containers.get(instance.container_id).attrs["State"]["Running"]
    await control.start(instance.id)
    assert world.client.containers.get(instance.container_id).attrs["State"]["Running"]
    await control.restart(instance.id)
    assert world.client.containers.get(instance.container_id).attrs["State"]["Running"]
    assert isinstance(await control.logs(instance.id), str)

    await control.remove(instance.id)
    assert world.live() == [] and world.containers() == []
    assert (await world.deploy("dev-1")).status == DeployStatus.SUCCEEDED  # can deploy again
