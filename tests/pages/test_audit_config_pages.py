"""Configuration changed on the pages leaves one audit row per save, naming the signed-in user
and the fields, never the secret value typed into the env editor."""

from __future__ import annotations

import json

from tests.pages.conftest import ConfigSite
from tests.support.audit import audit_rows

NAVIGATION = 30  # should_see attempts (0.1 s apart) while a navigation completes
SECRET = "page-SECRET-env-value"


async def test_project_created_env_saved_and_project_deleted_on_the_pages(
    config_site: ConfigSite,
) -> None:
    site = config_site
    await site.user.open("/projects/new")
    await site.user.should_see(marker="project-save")
    site.user.find(marker="project-name").type("web-app")
    site.user.find(marker="project-image").type("registry.test/demo/web-app")
    site.user.find(marker="project-save").click()
    await site.user.should_see("Configure web-app", retries=NAVIGATION)
    site.user.find(marker="env-key-project-0").type("API_KEY")
    site.user.find(marker="env-value-project-0").type(SECRET)
    site.user.find(marker="env-secret-project-0").click()
    site.user.find(marker="env-save-project").click()
    await site.user.should_see("Env saved; it applies at the next deploy.")
    site.user.find(marker="project-delete").click()
    await site.user.should_see(marker="confirm")
    site.user.find(marker="confirm").click()
    await site.user.should_see("Home page stub", retries=NAVIGATION)

    rows = audit_rows(site.runtime.db, action="config_change", project="web-app")
    assert [(r.actor, r.target, r.detail["change"]) for r in rows] == [
        ("admin", "", "create"),
        ("admin", "env", "update"),
        ("admin", "", "delete"),
    ]
    assert rows[1].detail["fields"] == ["API_KEY"]
    everything = json.dumps([r.model_dump(mode="json") for r in audit_rows(site.runtime.db)])
    assert SECRET not in everything
