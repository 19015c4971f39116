"""/projects/new and /projects/{id}/settings in a simulated browser over the real services."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from nicegui import ui

from services import fields
from services.store.models import Project, VolumeMode, VolumeMount
from tests.pages.conftest import ConfigSite

NAVIGATION = 30  # should_see attempts (0.1 s apart) while a navigation completes


def element(site: ConfigSite, marker: str) -> ui.element:
    (found,) = site.user.find(marker=marker).elements
    return found


def error_of(site: ConfigSite, marker: str) -> str | None:
    field = element(site, marker)
    assert isinstance(field, ui.input | ui.number | ui.select)
    return field.error


async def until(condition: Callable[[], object], timeout: float = 5.0) -> None:
    """Wait until `condition` holds (checked every 20 ms), failing after `timeout` seconds."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.02)


def make_project(site: ConfigSite) -> Project:
    project = site.stores.projects.create(name="web", image="registry.test/demo/web", port=8080)
    assert project.id is not None
    site.stores.projects.add_stage(project.id, name="dev", tag_pattern="dev-*")
    return project


async def test_create_refuses_bad_fields_then_creates(config_site: ConfigSite) -> None:
    site = config_site
    await site.user.open("/projects/new")
    await site.user.should_see(marker="project-save")
    site.user.find(marker="project-name").type("Web App!")
    site.user.find(marker="project-save").click()
    await until(lambda: error_of(site, "project-name"))
    assert error_of(site, "project-image")
    assert site.stores.projects.all() == []

    site.user.find(marker="project-name").clear().type("web-app")
    site.user.find(marker="project-image").type("registry.test/demo/web-app")
    site.user.find(marker="project-save").click()
    await site.user.should_see("Configure web-app", retries=NAVIGATION)
    (project,) = site.stores.projects.all()
    assert (project.name, project.image, project.port) == (
        "web-app",
        "registry.test/demo/web-app",
        80,
    )
    await site.user.should_see(marker="stages-empty")


async def test_a_taken_name_is_shown_at_the_name_field(config_site: ConfigSite) -> None:
    site = config_site
    make_project(site)
    await site.user.open("/projects/new")
    site.user.find(marker="project-name").type("web")
    site.user.find(marker="project-image").type("registry.test/demo/other")
    site.user.find(marker="project-save").click()
    await site.user.should_see("a project named 'web' already exists")
    assert len(site.stores.projects.all()) == 1


async def test_add_a_stage_with_a_refused_subdomain_first(config_site: ConfigSite) -> None:
    site = config_site
    project = make_project(site)
    site.stores.settings.update_global(domain="example.com")
    await site.user.open(f"/projects/{project.id}/settings")
    site.user.find(marker="stage-add").click()
    await site.user.should_see(marker="stage-name")
    site.user.find(marker="stage-name").type("prod")
    site.user.find(marker="stage-tag_pattern").clear().type("v*")
    site.user.find(marker="stage-subdomain").type("Launcher_1")
    source = element(site, "stage-promote_from")
    assert isinstance(source, ui.select) and "dev" in source.options
    source.value = "dev"
    site.user.find(marker="stage-save").click()
    await until(lambda: error_of(site, "stage-subdomain"))

    field = element(site, "stage-subdomain")
    assert isinstance(field, ui.input)
    field.value = "launcher"
    await site.user.should_see("Stage address: launcher.example.com")
    certificate = element(site, "stage-certificate_id")
    assert isinstance(certificate, ui.number) and certificate.value is None
    certificate.value = 7
    site.user.find(marker="stage-save").click()
    await site.user.should_see("Stage saved.")
    assert project.id is not None
    prod = site.stores.projects.stage_by_name(project.id, "prod")
    assert (prod.tag_pattern, prod.subdomain, prod.promote_from) == ("v*", "launcher", "dev")
    assert prod.certificate_id == 7
    await site.user.should_see("promotes from dev")


def number(site: ConfigSite, marker: str) -> tuple[float | None, float, float]:
    field = element(site, marker)
    assert isinstance(field, ui.number)
    return field.value, field.min, field.max


async def test_new_project_and_stage_forms_offer_the_fields_defaults_and_limits(
    config_site: ConfigSite,
) -> None:
    site = config_site
    await site.user.open("/projects/new")
    await site.user.should_see(marker="project-save")
    defaults = fields.PROJECT_DEFAULTS
    assert number(site, "project-port") == (defaults.port, fields.PORT_MIN, fields.PORT_MAX)
    assert number(site, "project-healthcheck_retries") == (
        defaults.healthcheck_retries,
        fields.HEALTHCHECK_RETRIES_MIN,
        fields.HEALTHCHECK_RETRIES_MAX,
    )
    for name in ("interval", "timeout"):
        value, _, top = number(site, f"project-healthcheck_{name}")
        assert value == getattr(defaults, f"healthcheck_{name}")
        assert top == fields.HEALTHCHECK_SECONDS_MAX

    project = make_project(site)
    await site.user.open(f"/projects/{project.id}/settings")
    site.user.find(marker="stage-add").click()
    await site.user.should_see(marker="stage-name")
    limits = (fields.MAX_INSTANCES_MIN, fields.MAX_INSTANCES_MAX)
    assert number(site, "stage-max_instances") == (fields.STAGE_DEFAULTS.max_instances, *limits)


async def test_delete_asks_naming_what_goes_then_deletes(config_site: ConfigSite) -> None:
    site = config_site
    project = make_project(site)
    await site.user.open(f"/projects/{project.id}/settings")
    site.user.find(marker="project-delete").click()
    await site.user.should_see("Delete project web?")
    await site.user.should_see("Stages: dev.")
    site.user.find("Cancel").click()
    await site.user.should_not_see("Delete project web?")
    assert len(site.stores.projects.all()) == 1

    site.user.find(marker="project-delete").click()
    await site.user.should_see(marker="confirm")
    site.user.find(marker="confirm").click()
    await site.user.should_see("Home page stub", retries=NAVIGATION)
    assert site.stores.projects.all() == []


async def test_edit_then_delete_a_stage(config_site: ConfigSite) -> None:
    site = config_site
    project = make_project(site)
    assert project.id is not None
    await site.user.open(f"/projects/{project.id}/settings")
    site.user.find(marker="stage-edit-dev").click()
    await site.user.should_see(marker="stage-save")
    field = element(site, "stage-max_instances")
    assert isinstance(field, ui.number)
    field.value = 4
    site.user.find(marker="stage-auto").click()
    site.user.find(marker="stage-save").click()
    await site.user.should_see("Stage saved.")
    dev = site.stores.projects.stage_by_name(project.id, "dev")
    assert (dev.max_instances, dev.auto_deploy) == (4, True)

    site.user.find(marker="stage-delete-dev").click()
    await site.user.should_see("Delete stage dev?")
    await site.user.should_see("No instance runs in it.")
    site.user.find(marker="confirm").click()
    await site.user.should_see("Stage dev deleted.")
    assert site.stores.projects.stages(project.id) == []
    await site.user.should_see(marker="stages-empty")


async def test_delete_isolated_data_after_confirmation(config_site: ConfigSite) -> None:
    site = config_site
    project = make_project(site)
    assert project.id is not None
    source = site.data_dir / "volumes" / "web" / "data"
    site.stores.projects.set_volumes(
        project.id,
        None,
        [
            VolumeMount(
                project_id=project.id, source=str(source), target="/data", mode=VolumeMode.ISOLATED
            )
        ],
    )
    folder = source / "dev-dev-1"
    (folder / "nested").mkdir(parents=True)
    await site.user.open(f"/projects/{project.id}/settings")
    await site.user.should_see(str(folder))
    site.user.find(marker="data-delete-dev-dev-1").click()
    await site.user.should_see("Delete data of dev dev-1?")
    site.user.find("Cancel").click()
    await site.user.should_not_see("Delete data of dev dev-1?")
    assert folder.exists()

    site.user.find(marker="data-delete-dev-dev-1").click()
    await site.user.should_see(marker="confirm")
    site.user.find(marker="confirm").click()
    await site.user.should_see("No isolated data folders on disk.")
    assert not folder.exists() and source.exists()


async def test_a_tag_pattern_with_a_quote_is_refused_at_save(config_site: ConfigSite) -> None:
    site = config_site
    project = make_project(site)
    assert project.id is not None
    await site.user.open(f"/projects/{project.id}/settings")
    site.user.find(marker="stage-edit-dev").click()
    await site.user.should_see(marker="stage-save")
    hostile = 'dev-*" innerHTML="<img src=x onerror=alert(1)>'
    site.user.find(marker="stage-tag_pattern").clear().type(hostile)
    site.user.find(marker="stage-save").click()
    await until(lambda: error_of(site, "stage-tag_pattern"))

    assert "may contain only" in (error_of(site, "stage-tag_pattern") or "")
    assert site.stores.projects.stage_by_name(project.id, "dev").tag_pattern == "dev-*"


async def test_the_stage_form_offers_each_strategy_explained_and_saves_stop_first(
    config_site: ConfigSite,
) -> None:
    site = config_site
    project = make_project(site)
    assert project.id is not None
    await site.user.open(f"/projects/{project.id}/settings")
    await site.user.should_see("blue-green")  # the stage's chip: the default
    site.user.find(marker="stage-edit-dev").click()
    await site.user.should_see(marker="stage-save")
    field = element(site, "stage-strategy")
    assert isinstance(field, ui.select)
    assert field.value == fields.STAGE_DEFAULTS.strategy == "blue_green"
    assert set(field.options) == {"blue_green", "stop_first"}
    tooltips = site.user.find(kind=ui.tooltip).elements
    (tooltip,) = [t for t in tooltips if t.props.get("target") == f"#{field.html_id}"]
    assert isinstance(tooltip, ui.tooltip)
    for explanation in fields.STRATEGY_EXPLAINED.values():
        assert explanation in tooltip.text

    field.value = "stop_first"
    site.user.find(marker="stage-save").click()
    await site.user.should_see("Stage saved.")
    assert site.stores.projects.stage_by_name(project.id, "dev").strategy == "stop_first"
    await site.user.should_see("stop first")
