"""Removing a project or stage while a deploy of it arrives (real engine and registry).

The deploy waits for the removal and then fails at its check; it never starts a container that
nothing would own any more.
"""

from __future__ import annotations

import asyncio

import pytest

from services.admin.project_admin import ProjectAdmin
from services.deploy.deployer import DeployRequest
from services.deploy.instance_control import InstanceControl
from services.store.models import Deploy, DeployStatus
from tests.support.audit import TESTER
from tests.support.world import World

UNFINISHED = (DeployStatus.QUEUED, DeployStatus.RUNNING)


class SlowControl:
    """The real instance control, whose removals wait until the test lets them go on."""

    def __init__(self, real: InstanceControl) -> None:
        self._real = real
        self.removing = asyncio.Event()
        self.go_on = asyncio.Event()

    async def remove(self, instance_id: int, *, reassign_default: bool = True) -> None:
        self.removing.set()
        await self.go_on.wait()
        await self._real.remove(instance_id, reassign_default=reassign_default)


async def finished(world: World, deploy_id: int) -> Deploy:
    """The deploy once it has ended (submitted deploys run in the background)."""
    async with asyncio.timeout(60):
        while (deploy := world.deploys.get(deploy_id)).status in UNFINISHED:
            await asyncio.sleep(0.05)
    return deploy


def admin_of(world: World, control: SlowControl) -> ProjectAdmin:
    return ProjectAdmin(
        world.projects,
        world.instances,
        world.registries,
        control,  # type: ignore[arg-type]
        world.deploys,
        world.settings,
        audit=world.runtime.audit,
        gate=world.services.deployer,
    )


async def test_a_deploy_arriving_during_project_removal_waits_and_then_fails_cleanly(
    world: World,
) -> None:
    await world.push("dev-1")
    await world.push("dev-2")
    assert (await world.deploy("dev-1")).status == DeployStatus.SUCCEEDED
    project_id = world.project.id or 0
    control = SlowControl(world.services.control)
    removal = asyncio.create_task(admin_of(world, control).delete_project(project_id, actor=TESTER))
    await asyncio.wait_for(control.removing.wait(), 10)  # the stages are held now

    late = await world.services.deployer.submit(DeployRequest(project_id, "dev", "dev-2"))
    await asyncio.sleep(0.3)
    assert world.deploys.get(late.id or 0).status == DeployStatus.QUEUED  # waits its turn
    control.go_on.set()
    await asyncio.wait_for(removal, 30)
    await finished(world, late.id or 0)

    dropped = world.deploys.get(late.id or 0)
    assert dropped.status == DeployStatus.FAILED and dropped.step == "check"
    assert "not found" in (dropped.error or "").lower()
    assert world.containers() == []  # nothing started for a project that is gone


async def test_a_deploy_queued_before_the_removal_holds_the_stages_refuses_it(
    world: World,
) -> None:
    await world.push("dev-1")
    project_id = world.project.id or 0
    deployer = world.services.deployer
    async with deployer.exclusive(project_id, ["dev"]):  # as if another deploy ran
        queued = await deployer.submit(DeployRequest(project_id, "dev", "dev-1"))
        control = SlowControl(world.services.control)
        control.go_on.set()
        with pytest.raises(Exception, match="wait until it finishes"):
            await admin_of(world, control).delete_project(project_id, actor=TESTER)
    assert (await finished(world, queued.id or 0)).status == DeployStatus.SUCCEEDED
    assert world.projects.get(project_id).name == world.project.name
