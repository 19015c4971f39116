"""The dashboard in a simulated browser over a real installation (engine, registry, SQLite)."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from services.store.models import DeployStatus
from tests.support.audit import TESTER
from tests.support.ui_site import UiSite
from tests.support.world import manual

SLOW = 100  # should_see attempts (0.1 s apart) while real containers change


def card(site: UiSite, name: str) -> dict[str, Any]:
    """The row the browser draws a project's card from."""
    (grid,) = site.user.find(marker="projects").elements
    (row,) = [r for r in grid.rows if r["name"] == name]
    return dict(row)


async def test_dashboard_lists_the_project_with_its_lights(site: UiSite) -> None:
    await site.user.open("/")
    await site.user.should_see(site.world.project.name)
    await site.user.should_see("No deploys yet")
    await site.user.should_see("0 healthy")


async def test_without_projects_the_first_steps_are_explained(site: UiSite) -> None:
    assert site.world.project.id is not None
    site.world.projects.delete(site.world.project.id)
    await site.user.open("/")
    await site.user.should_see(marker="empty-state")
    await site.user.should_see("Add the registry your CI pushes to")
    await site.user.should_see("Point your CI at the secret webhook URL")
    await site.user.should_see("Settings → Webhook")


async def test_a_card_follows_deploys_and_stops_without_reloading(site: UiSite) -> None:
    world = site.world
    await world.push("dev-1")
    await site.user.open("/")
    await site.user.should_see("0 healthy")
    deploy = await world.deploy("dev-1", **manual())
    assert deploy.status == DeployStatus.SUCCEEDED and deploy.instance_id is not None
    await site.user.should_see("1 healthy", retries=SLOW)
    await site.user.should_see("dev-1 → dev")
    assert card(site, world.project.name)["running"] == 1
    assert card(site, world.project.name)["status"] == "succeeded"

    (container,) = world.containers()
    await asyncio.to_thread(container.stop, timeout=1)  # from outside the app
    await world.services.reconciler.sync_statuses()  # what the Engine's event stream triggers
    await site.user.should_see("1 stopped", retries=SLOW)
    await site.user.should_see("0 healthy")
    assert card(site, world.project.name)["running"] == 0


async def test_a_project_created_meanwhile_appears(site: UiSite) -> None:
    await site.user.open("/")
    await site.user.should_see(site.world.project.name)
    await site.world.push("dev-3", marker="other")
    proposal = await site.detection.quick.inspect(f"{site.world.project.image}:dev-3")
    await site.detection.quick.accept(dataclasses.replace(proposal, name="newcomer"), actor=TESTER)
    await site.user.should_see("newcomer", retries=SLOW)
