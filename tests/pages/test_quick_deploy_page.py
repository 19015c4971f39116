"""Quick deploy in a simulated browser: paste, inspect (real pull), review, deploy, land on the
project page that follows the deploy."""

from __future__ import annotations

from typing import Any

from services.store.models import DeployStatus
from tests.support.detection import settled
from tests.support.ui_site import UiSite
from tests.support.world import DOMAIN

SLOW = 100  # should_see attempts (0.1 s apart) while a real pull or deploy runs


def the(site: UiSite, marker: str) -> Any:
    (element,) = site.user.find(marker=marker).elements
    return element


async def inspect(site: UiSite, reference: str) -> None:
    await site.user.open("/quick-deploy")
    site.user.find(marker="reference").type(reference)
    site.user.find(marker="inspect").click()


async def test_paste_inspect_review_and_deploy_lands_on_the_project(site: UiSite) -> None:
    world = site.world
    await world.push("dev-7")
    await inspect(site, f"{world.project.image}:dev-7")
    await site.user.should_see(marker="proposal", retries=SLOW)
    assert the(site, "project-name").value == f"{world.project.name}-2"  # the name is taken
    await site.user.should_see(f"A project named {world.project.name!r} already exists.")
    await site.user.should_see("This image is already deployed by a project.")
    assert (the(site, "stage").value, the(site, "tag-pattern").value) == ("dev", "dev-*")
    assert the(site, "port").value == 8080
    the(site, "project-name").set_value("shop")
    site.user.find(marker="deploy").click()

    await site.user.should_see(marker="stage-dev", retries=SLOW)  # the project page
    project = world.projects.get_by_name("shop")
    assert project is not None and project.id is not None
    (deploy,) = await settled(world, 1, project.id)
    assert deploy.status == DeployStatus.SUCCEEDED, deploy.error
    await site.user.should_see(marker=f"instance-{deploy.instance_id}", retries=SLOW)
    await site.user.should_see(marker=f"deploy-log-{deploy.id}")  # opened for the visitor


async def test_warnings_and_addresses_follow_the_edited_name(site: UiSite) -> None:
    world = site.world
    await world.push("dev-7")
    await inspect(site, f"{world.project.image}:dev-7")
    await site.user.should_see(marker="proposal", retries=SLOW)
    clash = f"A project named {world.project.name!r} already exists."
    await site.user.should_see(clash)

    the(site, "project-name").set_value("shop")
    await site.user.should_not_see(clash, retries=20)
    await site.user.should_see(f"This tag: https://stage-dev-shop-dev-7.{DOMAIN}", retries=20)

    the(site, "project-name").set_value(world.project.name)
    await site.user.should_see(clash, retries=20)


async def test_a_bad_reference_is_pointed_out_at_the_field(site: UiSite) -> None:
    await inspect(site, "Not An Image!")
    await site.user.should_see(marker="error-banner", retries=SLOW)
    assert the(site, "reference").error  # the reason, next to the input
    await site.user.should_not_see(marker="proposal")


async def test_an_image_missing_from_the_registry_is_a_plain_error(site: UiSite) -> None:
    await inspect(site, f"{site.world.project.image}:dev-404")
    await site.user.should_see("Inspecting", retries=SLOW)
    await site.user.should_not_see(marker="proposal")


async def test_a_refused_field_is_shown_at_its_input(site: UiSite) -> None:
    world = site.world
    await world.push("dev-1")
    await inspect(site, f"{world.project.image}:dev-1")
    await site.user.should_see(marker="proposal", retries=SLOW)
    the(site, "tag-pattern").set_value("v*")
    site.user.find(marker="deploy").click()
    await site.user.should_see("does not match tag 'dev-1'", retries=SLOW)
    assert the(site, "tag-pattern").error == "does not match tag 'dev-1'"
    assert world.projects.get_by_name(f"{world.project.name}-2") is None  # nothing half-made


async def test_env_and_a_custom_subdomain_reach_the_first_deploy(site: UiSite) -> None:
    world = site.world
    await world.push("dev-3")
    await inspect(site, f"{world.project.image}:dev-3")
    await site.user.should_see(marker="proposal", retries=SLOW)
    the(site, "project-name").set_value("notes")
    the(site, "stage-subdomain").set_value("notes-app")
    wanted = (("MODE", "demo", False), ("API_TOKEN", "tok-31337", True))
    for _ in wanted:
        site.user.find(marker="add-env").click()
    rows = zip(*(in_order(site, m) for m in ("env-key", "env-value", "env-secret")), strict=True)
    for (key, value, secret), (key_in, value_in, secret_in) in zip(wanted, rows, strict=True):
        key_in.set_value(key)
        value_in.set_value(value)
        secret_in.set_value(secret)
    site.user.find(marker="deploy").click()

    await site.user.should_see(marker="stage-dev", retries=SLOW)
    project = world.projects.get_by_name("notes")
    assert project is not None and project.id is not None
    (deploy,) = await settled(world, 1, project.id)
    assert deploy.status == DeployStatus.SUCCEEDED, deploy.error
    assert world.projects.stage_by_name(project.id, "dev").subdomain == "notes-app"
    secret_rows = [e for e in world.projects.env_entries(project.id) if e.secret]
    assert [e.key for e in secret_rows] == ["API_TOKEN"] and secret_rows[0].value != "tok-31337"
    instance = world.instances.get(deploy.instance_id or 0)
    env = world.client.containers.get(instance.container_id).exec_run("env").output.decode()
    assert "MODE=demo" in env and "API_TOKEN=tok-31337" in env


async def test_a_bad_env_key_is_shown_at_its_row(site: UiSite) -> None:
    world = site.world
    await world.push("dev-4")
    await inspect(site, f"{world.project.image}:dev-4")
    await site.user.should_see(marker="proposal", retries=SLOW)
    site.user.find(marker="add-env").click()
    (key_input,) = in_order(site, "env-key")
    key_input.set_value("9LIVES")
    site.user.find(marker="deploy").click()
    await site.user.should_see("is not a valid environment variable name", retries=SLOW)
    assert "not a valid environment variable name" in (key_input.error or "")
    assert world.projects.get_by_name(f"{world.project.name}-2") is None


def in_order(site: UiSite, marker: str) -> list[Any]:
    """The marked elements in the order they were created."""
    return sorted(site.user.find(marker=marker).elements, key=lambda element: element.id)
