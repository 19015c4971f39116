"""The env and volume editors in a simulated browser, over real services and SQLite."""

from __future__ import annotations

import asyncio

from nicegui import ui

from services.deploy import container_config
from tests.pages.conftest import ConfigSite


def make_project(site: ConfigSite) -> int:
    project = site.stores.projects.create(name="web", image="registry.test/demo/web", port=8080)
    assert project.id is not None
    site.stores.projects.add_stage(project.id, name="dev", tag_pattern="dev-*")
    return project.id


def dev_env(site: ConfigSite, project_id: int) -> dict[str, str]:
    """What a container of the dev stage would get (secrets decrypted)."""
    stage = site.stores.projects.stage_by_name(project_id, "dev")
    assert stage.id is not None
    rows = container_config.resolve_env(site.stores.projects.env_entries(project_id), stage.id)
    return {key: site.stores.projects.reveal(row) for key, row in rows.items()}


def value_of(site: ConfigSite, marker: str) -> object:
    (element,) = site.user.find(marker=marker).elements
    assert isinstance(element, ui.input | ui.checkbox | ui.select)
    return element.value


async def test_env_secret_is_masked_and_kept_when_not_retyped(config_site: ConfigSite) -> None:
    site = config_site
    project_id = make_project(site)
    await site.user.open(f"/projects/{project_id}/settings")
    site.user.find(marker="env-key-project-0").type("API_KEY")
    site.user.find(marker="env-value-project-0").type("s3cret")
    site.user.find(marker="env-secret-project-0").click()
    site.user.find(marker="env-save-project").click()
    await site.user.should_see("Env saved; it applies at the next deploy.")
    assert dev_env(site, project_id) == {"API_KEY": "s3cret"}
    await site.user.open(f"/projects/{project_id}/settings")
    assert value_of(site, "env-value-project-0") == ""
    await site.user.should_not_see("s3cret")
    site.user.find(marker="env-save-project").click()
    await site.user.should_see("Env saved; it applies at the next deploy.")
    assert dev_env(site, project_id) == {"API_KEY": "s3cret"}


async def test_stage_override_and_unset_show_in_the_result(config_site: ConfigSite) -> None:
    site = config_site
    project_id = make_project(site)
    site.stores.projects.set_env(project_id, None, [("MODE", "prod", False), ("DEBUG", "0", False)])
    await site.user.open(f"/projects/{project_id}/settings")
    site.user.find(marker="env-key-dev-0").type("MODE")
    site.user.find(marker="env-value-dev-0").type("development")
    site.user.find(marker="env-add-dev").click()
    site.user.find(marker="env-key-dev-1").type("DEBUG")
    site.user.find(marker="env-unset-dev-1").click()
    site.user.find(marker="env-save-dev").click()
    await site.user.should_see("Env saved; it applies at the next deploy.")
    assert dev_env(site, project_id) == {"MODE": "development"}
    await site.user.should_see("(removed in this stage)")


async def test_a_bad_key_is_named_next_to_its_field(config_site: ConfigSite) -> None:
    site = config_site
    project_id = make_project(site)
    await site.user.open(f"/projects/{project_id}/settings")
    site.user.find(marker="env-key-project-0").type("1BAD")
    site.user.find(marker="env-value-project-0").type("x")
    site.user.find(marker="env-save-project").click()
    await site.user.should_see("is not a valid environment variable name")
    (key,) = site.user.find(marker="env-key-project-0").elements
    assert isinstance(key, ui.input) and key.error and "not a valid" in key.error
    assert site.stores.projects.env_entries(project_id) == []


async def test_a_source_outside_the_roots_is_refused_at_its_field(config_site: ConfigSite) -> None:
    site = config_site
    project_id = make_project(site)
    await site.user.open(f"/projects/{project_id}/settings")
    site.user.find(marker="vol-add-project").click()
    site.user.find(marker="vol-source-project-0").type("/etc/shadow-dir")
    site.user.find(marker="vol-target-project-0").type("/app/data")
    site.user.find(marker="vol-save-project").click()
    (source,) = site.user.find(marker="vol-source-project-0").elements
    await site.user.should_see(marker="vol-source-project-0")
    assert isinstance(source, ui.input)
    async with asyncio.timeout(5):
        while source.error is None:
            await asyncio.sleep(0.02)
    assert site.stores.projects.volumes(project_id) == []
    allowed = site.data_dir / "volumes" / "web"
    source.value = str(allowed)
    site.user.find(marker="vol-save-project").click()
    await site.user.should_see("Volumes saved; they apply at the next deploy.")
    assert [v.source for v in site.stores.projects.volumes(project_id)] == [str(allowed)]


async def test_unticking_secret_without_a_value_keeps_the_secret(config_site: ConfigSite) -> None:
    site = config_site
    project_id = make_project(site)
    site.stores.projects.set_env(project_id, None, [("TOKEN", "t0ps3cret", True)])
    await site.user.open(f"/projects/{project_id}/settings")
    site.user.find(marker="env-secret-project-0").click()  # untick, value left empty
    site.user.find(marker="env-save-project").click()
    await site.user.should_see("give the value again to turn a secret into a plain value")
    assert dev_env(site, project_id) == {"TOKEN": "t0ps3cret"}


async def test_saving_a_stage_keeps_its_tab_open(config_site: ConfigSite) -> None:
    site = config_site
    project_id = make_project(site)
    await site.user.open(f"/projects/{project_id}/settings")
    (tabs,) = site.user.find(marker="env-tabs").elements
    tabs.set_value("stage:dev")
    site.user.find(marker="env-key-dev-0").type("MODE")
    site.user.find(marker="env-value-dev-0").type("dev")
    site.user.find(marker="env-save-dev").click()
    await site.user.should_see("Env saved; it applies at the next deploy.")
    (tabs,) = site.user.find(marker="env-tabs").elements
    assert tabs.value == "stage:dev"
