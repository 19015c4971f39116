""" "Roll back" on the project page, over a real installation (engine and registry)."""

from __future__ import annotations

import asyncio

from services.store.models import AuditEvent, Deploy, DeployStatus, DeployTrigger
from tests.support.audit import audit_rows
from tests.support.docker_env import async_wait_until
from tests.support.ui_site import UiSite

SLOW = 100  # should_see attempts (0.1 s apart) while a real deploy runs


async def test_roll_back_asks_first_then_runs_the_previous_deploy(site: UiSite) -> None:
    world = site.world
    for tag in ("v1", "v2"):
        await world.push(tag, marker=tag)
        assert (await world.deploy(tag, stage="rel")).status == DeployStatus.SUCCEEDED
    first = world.deploys.succeeded(world.project.id or 0, "rel")[-1]
    await site.user.open(f"/projects/{world.project.id}")

    site.user.find(marker="rollback-rel").click()
    await site.user.should_see("Roll rel back to v1?")
    await site.user.should_see(f"Deploy #{first.id} runs again")
    site.user.find("Cancel").click()
    await site.user.should_not_see("Roll rel back to v1?")
    assert all(d.trigger != DeployTrigger.ROLLBACK for d in world.deploys.recent())

    site.user.find(marker="rollback-rel").click()
    await site.user.should_see("Roll rel back to v1?")
    site.user.find(marker="confirm-ok").click()

    async def rolled_back() -> Deploy | None:
        rows = await asyncio.to_thread(world.deploys.recent)
        done = [d for d in rows if d.trigger == DeployTrigger.ROLLBACK]
        return done[0] if done and done[0].status == DeployStatus.SUCCEEDED else None

    rollback = await async_wait_until(rolled_back, timeout=60, message="no rollback ran")
    assert rollback.rollback_of == first.id and rollback.digest == first.digest
    await site.user.should_see(marker="deploy-succeeded", retries=SLOW)

    async def audited() -> list[AuditEvent] | None:
        return await asyncio.to_thread(audit_rows, world.runtime.db, action="rollback") or None

    (row,) = await async_wait_until(audited, timeout=10, message="no audit row")
    assert (row.actor, row.detail["deploy_id"]) == ("admin", rollback.id)  # who clicked
    assert rollback.actor == "admin"


async def test_roll_back_without_a_previous_deploy_says_so(site: UiSite) -> None:
    await site.user.open(f"/projects/{site.world.project.id}")
    site.user.find(marker="rollback-dev").click()
    await site.user.should_see("no previous successful deploy")
    assert site.world.deploys.recent() == []


async def test_the_stage_says_when_the_rollback_image_is_gone(site: UiSite) -> None:
    world = site.world
    world.settings.update_global(rollback_keep=1)  # the clean-up removes v1's image
    for tag in ("v1", "v2"):
        await world.push(tag, marker=tag)
        assert (await world.deploy(tag, stage="rel")).status == DeployStatus.SUCCEEDED
    await site.user.open(f"/projects/{world.project.id}")

    await site.user.should_see("Roll back to v1: its image is no longer on this host")
    await site.user.should_not_see(marker="rollback-image-dev")  # visible only when gone
