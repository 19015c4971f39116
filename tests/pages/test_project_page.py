"""The project page in a simulated browser over a real installation: instances, controls,
"Deploy new version" against the real registry and engine, history with the live log."""

from __future__ import annotations

import asyncio
from typing import Any

from services.admin.project_admin import ProjectAdmin
from services.store.models import (
    Deploy,
    DeployStatus,
    DeployStrategy,
    DeployTrigger,
    InstanceStatus,
)
from tests.support.audit import TESTER
from tests.support.detection import hook_path, settled, webhook_client
from tests.support.docker_env import async_wait_until
from tests.support.ui_site import UiSite
from tests.support.world import World, manual

SLOW = 100  # should_see attempts (0.1 s apart) while a real deploy runs


async def status_is(world: World, instance_id: int, status: InstanceStatus) -> bool:
    row = await asyncio.to_thread(world.instances.get, instance_id)
    return row.status == status


def the(site: UiSite, marker: str) -> Any:
    """The one element carrying `marker`."""
    (element,) = site.user.find(marker=marker).elements
    return element


def page_of(world: World) -> str:
    return f"/projects/{world.project.id}"


async def deployed(world: World, tag: str, stage: str = "dev") -> int:
    """Push and deploy `tag`; the new instance's id."""
    await world.push(tag)
    deploy = await world.deploy(tag, stage, **manual(confirmed=True))
    assert deploy.status == DeployStatus.SUCCEEDED, deploy.error
    assert deploy.instance_id is not None
    return deploy.instance_id


async def test_stages_show_their_instances_with_status_digest_and_history(site: UiSite) -> None:
    world = site.world
    instance_id = await deployed(world, "dev-1")
    await site.user.open(page_of(world))
    for stage in ("dev", "rel", "prod"):
        await site.user.should_see(marker=f"stage-{stage}")
    await site.user.should_see(marker=f"instance-{instance_id}")
    await site.user.should_see(marker="status-healthy")
    digest = world.instances.get(instance_id).digest.split(":")[1][:12]
    await site.user.should_see(digest)
    await site.user.should_see("promotes from rel")
    await site.user.should_see("dev-1 → dev")
    await site.user.should_see(marker="deploy-succeeded")


async def test_remove_asks_first_and_cancel_keeps_the_instance(site: UiSite) -> None:
    world = site.world
    instance_id = await deployed(world, "dev-1")
    await site.user.open(page_of(world))
    site.user.find(marker=f"remove-{instance_id}").click()
    await site.user.should_see("Remove dev-1 from dev?")
    site.user.find("Cancel").click()
    await site.user.should_not_see("Remove dev-1 from dev?")
    assert world.instances.find(instance_id) is not None

    site.user.find(marker=f"remove-{instance_id}").click()
    await site.user.should_see("Remove dev-1 from dev?")
    site.user.find(marker="confirm-ok").click()
    await site.user.should_not_see(marker=f"instance-{instance_id}", retries=SLOW)
    assert world.instances.find(instance_id) is None
    assert world.containers() == []


async def test_stop_from_the_page_turns_the_chip_grey_live(site: UiSite) -> None:
    world = site.world
    instance_id = await deployed(world, "dev-1")
    await site.user.open(page_of(world))
    site.user.find(marker=f"stop-{instance_id}").click()
    await async_wait_until(  # `docker stop` waits for its grace period: busybox ignores SIGTERM
        lambda: status_is(world, instance_id, InstanceStatus.STOPPED), timeout=30, message="stop"
    )
    await site.user.should_see(marker="status-stopped")
    await site.user.should_see(marker=f"start-{instance_id}")


async def test_deploy_a_tag_from_the_dropdown_against_the_real_registry(site: UiSite) -> None:
    world = site.world
    await world.push("dev-1")
    await world.push("dev-2")
    await world.push("v1.0.0")  # another stage's tag: not offered for dev
    await site.user.open(page_of(world))
    site.user.find(marker="deploy-new-dev").click()
    await site.user.should_see(marker="tag-select", retries=SLOW)
    assert the(site, "tag-select").options == ["dev-2", "dev-1"]  # newest first, dev-* only
    site.user.find(marker="tag-select").click()
    site.user.find("dev-1").click()
    site.user.find(marker="deploy-go").click()

    (deploy,) = await settled(world, 1)
    assert (deploy.tag, deploy.status) == ("dev-1", DeployStatus.SUCCEEDED)
    await site.user.should_see(marker=f"instance-{deploy.instance_id}", retries=SLOW)
    await site.user.should_see(marker="deploy-succeeded", retries=SLOW)
    await site.user.should_see(marker="step-health-ok")  # the log view of the run stays open


async def test_prod_offers_only_healthy_rel_tags_and_asks_to_confirm(site: UiSite) -> None:
    world = site.world
    await deployed(world, "v1.0.0", "rel")
    await world.push("v2.0.0")  # in the registry, never in rel: not promotable
    await site.user.open(page_of(world))
    site.user.find(marker="deploy-new-prod").click()
    await site.user.should_see(marker="tag-select", retries=SLOW)
    assert the(site, "tag-select").options == ["v1.0.0"]
    site.user.find(marker="deploy-go").click()
    await site.user.should_see("Deploy v1.0.0 to prod?")
    site.user.find(marker="confirm-ok").click()

    deploys = await settled(world, 2)
    assert (deploys[-1].stage_name, deploys[-1].trigger.value) == ("prod", "promote")
    assert deploys[-1].status == DeployStatus.SUCCEEDED, deploys[-1].error


async def test_a_running_deploy_streams_its_steps_into_the_open_page(site: UiSite) -> None:
    world = site.world
    await world.push("dev-1", variant="unhealthy")  # its health step runs ≥ 1 s, then fails
    await site.user.open(page_of(world))
    await site.user.should_see("Nothing deployed yet.")
    task = asyncio.create_task(world.deploy("dev-1", **manual()))
    await site.user.should_see(marker="step-pull-ok", retries=SLOW)
    await site.user.should_see(marker="step-health-running", retries=SLOW)
    assert not task.done()  # seen while it ran, without reopening the page
    deploy = await task
    await site.user.should_see(marker="step-health-failed", retries=SLOW)
    await site.user.should_see(marker="deploy-failed")
    lines = [child.text for child in the(site, f"deploy-log-{deploy.id}").default_slot.children]
    assert any("present and current: not pulled" in line for line in lines)
    assert any("health check failed" in line for line in lines)


async def test_an_unknown_project_says_so(site: UiSite) -> None:
    await site.user.open("/projects/999999")
    await site.user.should_see("There is no project #999999.")


async def test_a_tag_waiting_for_a_person_appears_live_and_deploys_from_there(
    site: UiSite,
) -> None:
    world = site.world
    digest = await world.push("v1.0.0")
    await site.user.open(page_of(world))
    await site.user.should_not_see(marker="waiting")
    async with webhook_client(site.detection) as hook:  # rel deploys by hand: the tag waits
        answer = await hook.post(hook_path(world), json={"image": f"{world.project.image}:v1.0.0"})
        assert answer.status_code == 202, answer.text
    await site.user.should_see(marker="waiting", retries=SLOW)
    await site.user.should_see(digest.split(":")[1][:12])
    site.user.find("Deploy to rel").click()
    await site.user.should_see(marker="tag-select", retries=SLOW)
    assert the(site, "tag-select").value == "v1.0.0"
    site.user.find(marker="deploy-go").click()
    (deploy,) = await settled(world, 1)
    assert (deploy.stage_name, deploy.status) == ("rel", DeployStatus.SUCCEEDED), deploy.error
    await site.user.should_see(marker=f"instance-{deploy.instance_id}", retries=SLOW)
    with site.user.scope(marker="waiting"):
        await site.user.should_not_see("Deploy to rel")  # rel runs it now
        await site.user.should_see("Deploy to prod")  # prod (by hand, promoting rel's) may still


async def test_a_project_deleted_meanwhile_sends_the_page_home(site: UiSite) -> None:
    world = site.world
    await deployed(world, "dev-1")
    await site.user.open(page_of(world))
    admin = ProjectAdmin(
        world.projects,
        world.instances,
        world.registries,
        world.services.control,
        world.deploys,
        world.settings,
        audit=world.runtime.audit,
    )
    await admin.delete_project(
        world.project.id or 0, actor=TESTER
    )  # removes the instance first: an event
    await site.user.should_see(marker="empty-state", retries=SLOW)  # the dashboard


async def test_a_hostile_tag_pattern_forced_into_the_database_is_shown_as_text(
    site: UiSite,
) -> None:
    """Saving such a pattern is refused; one already in the database stays a value, never
    attributes of the page (it used to be written into a props string)."""
    world = site.world
    hostile = '*" innerHTML="<img src=x onerror=alert(1)>" x="'
    await world.push("dev-1")  # the repository exists; no tag matches the pattern
    stage = world.stage("dev")
    assert stage.id is not None
    await asyncio.to_thread(world.projects.update_stage, stage.id, tag_pattern=hostile)
    await site.user.open(page_of(world))
    site.user.find(marker="deploy-new-dev").click()
    await site.user.should_see(marker="tag-select", retries=SLOW)

    select = the(site, "tag-select")
    assert select.props["hint"] == f"The registry has no tag matching {hostile}."
    assert not {"innerHTML", "x", "onerror"} & set(select.props)
    await site.user.should_see(f"Registry tags matching {hostile}, newest first.")


async def test_a_failed_deploy_with_its_clean_up_pending_says_so_until_it_is_done(
    site: UiSite,
) -> None:
    world = site.world
    assert world.project.id is not None
    row = Deploy(
        project_id=world.project.id,
        project_name=world.project.name,
        stage_name="dev",
        tag="dev-1",
        trigger=DeployTrigger.MANUAL,
        status=DeployStatus.FAILED,
        step="health",
        error="Docker Engine not reachable",
        cleanup_pending=True,
    )
    deploy = await asyncio.to_thread(world.deploys.create, row)
    await site.user.open(page_of(world))
    await site.user.should_see(marker="deploy-failed")
    await site.user.should_see(marker="deploy-cleanup-pending")

    assert await world.services.cleanup.finish_all() == [deploy.id]  # it left nothing behind

    await site.user.should_not_see(marker="deploy-cleanup-pending", retries=SLOW)
    await site.user.should_see(marker="deploy-failed")


async def test_each_stage_shows_its_strategy(site: UiSite) -> None:
    world = site.world
    rel = world.stage("rel")
    assert rel.id is not None
    await asyncio.to_thread(world.projects.update_stage, rel.id, strategy=DeployStrategy.STOP_FIRST)
    await site.user.open(page_of(world))
    await site.user.should_see(marker="strategy-rel")

    assert the(site, "strategy-dev").text == "blue-green"
    assert the(site, "strategy-rel").text == "stop first"
    assert the(site, "strategy-prod").text == "blue-green"
