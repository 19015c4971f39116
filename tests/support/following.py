"""Helpers for tests of the reconciler's event follower: follow while a block runs, and
instance rows with real containers of ours made the way a deploy's start step makes them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from services.store.models import Instance, InstanceStatus
from services.types import LABEL_INSTALLATION, LABEL_INSTANCE, labels_for
from tests.support.docker_env import async_wait_until
from tests.support.world import World


@asynccontextmanager
async def following(world: World) -> AsyncIterator[asyncio.Task[None]]:
    """The reconciler follows the engine's events while the block runs (attached first)."""
    stop = asyncio.Event()
    follower = asyncio.create_task(world.services.reconciler.run(stop))
    probe = await throwaway(world, "attach-probe", status=InstanceStatus.STOPPED)
    assert probe.id is not None and probe.container_id is not None
    container = await asyncio.to_thread(world.client.containers.get, probe.container_id)

    async def attached() -> bool:  # an event reaching the row proves the stream is on
        if await status_is(world, probe.id, InstanceStatus.STOPPED):
            await asyncio.to_thread(container.kill, signal="SIGWINCH")  # ignored, but an event
            return False
        return True

    try:
        await async_wait_until(attached, timeout=20, message="the follower never attached")
        await world.services.control.remove(probe.id, reassign_default=False)
        yield follower
    finally:
        stop.set()
        await asyncio.wait_for(follower, 10)


async def throwaway(
    world: World,
    tag: str,
    *,
    instance_id: str | None = None,
    status: InstanceStatus = InstanceStatus.STARTING,
) -> Instance:
    """An instance row with a running container of ours, as a deploy's start step leaves it."""
    assert world.project.id is not None
    stage = world.stage("dev")
    assert stage.id is not None
    row = Instance(project_id=world.project.id, stage_id=stage.id, tag=tag, status=status)
    row = await asyncio.to_thread(world.instances.add, row)
    assert row.id is not None
    name = f"{world.project.name}-{tag}-{row.id}"
    labels = labels_for(world.project.name, "dev", tag, row.id, 0)
    labels[LABEL_INSTALLATION] = world.settings.installation_id()
    if instance_id is not None:
        labels = {**labels, LABEL_INSTANCE: instance_id}
    container = await asyncio.to_thread(
        world.client.containers.run,
        f"{world.project.image}:dev-1",
        detach=True,
        name=name,
        labels=labels,
        restart_policy={"Name": "unless-stopped"},  # as the start step gives our containers
    )
    return await asyncio.to_thread(
        world.instances.update, row.id, container_id=container.id, container_name=name
    )


async def status_is(world: World, instance_id: int | None, status: InstanceStatus) -> bool:
    row = await asyncio.to_thread(world.instances.find, instance_id or 0)
    return row is not None and row.status == status
