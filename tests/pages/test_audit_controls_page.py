"""Deploying, stopping and removing from the project page leave one audit row each, naming the
signed-in user (the page path of the actions the API tests cover too)."""

from __future__ import annotations

import asyncio

from services.store.models import AuditEvent, DeployStatus, InstanceStatus
from tests.support.audit import audit_rows
from tests.support.detection import settled
from tests.support.docker_env import async_wait_until
from tests.support.ui_site import UiSite

SLOW = 100  # should_see attempts (0.1 s apart) while a real deploy runs


def rows(site: UiSite, action: str) -> list[AuditEvent]:
    return audit_rows(site.world.runtime.db, action=action)


async def test_deploy_stop_and_remove_from_the_page_are_audited_as_the_user(
    site: UiSite,
) -> None:
    world = site.world
    await world.push("dev-1")
    await site.user.open(f"/projects/{world.project.id}")
    site.user.find(marker="deploy-new-dev").click()
    await site.user.should_see(marker="tag-select", retries=SLOW)
    site.user.find(marker="tag-select").click()
    site.user.find("dev-1").click()
    site.user.find(marker="deploy-go").click()
    (deploy,) = await settled(world, 1)
    assert deploy.status == DeployStatus.SUCCEEDED, deploy.error
    instance_id = deploy.instance_id
    await site.user.should_see(marker=f"stop-{instance_id}", retries=SLOW)
    site.user.find(marker=f"stop-{instance_id}").click()

    async def stopped() -> bool:
        assert instance_id is not None
        row = await asyncio.to_thread(world.instances.get, instance_id)
        return row.status == InstanceStatus.STOPPED

    await async_wait_until(stopped, timeout=30, message="stop")
    await site.user.should_see(marker=f"start-{instance_id}", retries=SLOW)
    site.user.find(marker=f"remove-{instance_id}").click()
    await site.user.should_see("Remove dev-1 from dev?")
    site.user.find(marker="confirm-ok").click()

    async def removed() -> bool:
        assert instance_id is not None
        return await asyncio.to_thread(world.instances.find, instance_id) is None

    await async_wait_until(removed, timeout=60, message="remove")
    await site.user.should_not_see(marker=f"instance-{instance_id}", retries=SLOW)

    (deployed,) = rows(site, "deploy")
    assert (deployed.actor, deployed.detail["tag"], deployed.detail["deploy_id"]) == (
        "admin",
        "dev-1",
        deploy.id,
    )
    assert world.deploys.get(deploy.id or 0).actor == "admin"
    for action in ("stop", "remove"):
        (control,) = rows(site, action)
        assert (control.actor, control.instance_id) == ("admin", instance_id)
