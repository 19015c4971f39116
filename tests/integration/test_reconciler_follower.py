"""The reconciler's event follower cannot die: retires racing engine events, odd events."""

from __future__ import annotations

import asyncio
import logging

import pytest

from services.events import Event
from services.store.models import Instance, InstanceStatus
from services.types import LABEL_INSTANCE, EngineEvent
from tests.support.docker_env import async_wait_until
from tests.support.following import following, status_is, throwaway
from tests.support.world import World

ROUNDS = 200  # retires raced against their containers' create/start/kill/destroy events
AT_ONCE = 10


async def _stop_from_outside_shows_within_a_second(world: World, survivor: Instance) -> None:
    container = await asyncio.to_thread(world.client.containers.get, survivor.container_id)
    await asyncio.to_thread(container.stop, timeout=1)
    await async_wait_until(
        lambda: status_is(world, survivor.id, InstanceStatus.STOPPED),
        timeout=1,
        message="an outside docker stop did not reach the store within a second",
    )


async def test_retires_racing_engine_events_leave_the_follower_alive(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    await world.push("dev-1")
    await world.deploy("dev-1")
    (survivor,) = world.live()
    caplog.set_level(logging.WARNING, logger="services.deploy")
    seen: list[Event] = []
    world.services.bus.subscribe(seen.append)

    async def one_round(index: int) -> None:
        instance = await throwaway(world, f"race-{index}")
        assert instance.id is not None
        if index % 2:  # half die first: their die/stop events race the removal too
            await world.engine.stop(instance.container_id or "", timeout=0)
        await world.services.control.remove(instance.id, reassign_default=False)

    async with following(world) as follower:
        for start in range(0, ROUNDS, AT_ONCE):
            await asyncio.gather(*(one_round(i) for i in range(start, start + AT_ONCE)))
        assert not follower.done()
        assert [i.id for i in world.live()] == [survivor.id]
        await _stop_from_outside_shows_within_a_second(world, survivor)
    unexpected = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert unexpected == []
    assert [e for e in seen if "lost" in e.data] == []  # our own removals are no losses


async def test_an_event_no_row_can_match_is_ignored_and_the_follower_goes_on(
    world: World,
) -> None:
    """Labels come from outside: a container of ours whose instance label is no row id
    SQLite can even hold (the old follower died of its OverflowError)."""
    await world.push("dev-1")
    await world.deploy("dev-1")
    (survivor,) = world.live()
    async with following(world) as follower:
        odd = await throwaway(world, "odd", instance_id="9" * 30)
        assert odd.id is not None and odd.container_id is not None
        await world.engine.remove(odd.container_id)  # events: create, start, kill, die, destroy
        await asyncio.to_thread(world.instances.delete, odd.id)
        await _stop_from_outside_shows_within_a_second(world, survivor)
        assert not follower.done()


async def test_a_late_event_of_a_removed_container_leaves_the_row_that_reuses_its_id(
    world: World,
) -> None:
    """SQLite gives a deleted row's id to the next row: the old container's last events then
    carry the new instance's id (found racing retires: newer instances were marked missing)."""
    await world.push("dev-1")
    old = await throwaway(world, "old")
    assert old.id is not None and old.container_id is not None
    await world.services.control.remove(old.id, reassign_default=False)
    new = await throwaway(world, "new", status=InstanceStatus.HEALTHY)
    assert new.id == old.id  # the id was reused

    labels = {LABEL_INSTANCE: str(old.id)}
    late = EngineEvent("destroy", old.container_id, old.container_name, labels)
    await world.services.reconciler.apply(late)

    assert world.instances.get(new.id).status == InstanceStatus.HEALTHY
