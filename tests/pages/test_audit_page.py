"""The Audit page and the page paths of audited actions, in a simulated browser over the app's
graph (real database): sign-in on the login page (its websocket path), settings saved and the
webhook URL regenerated on the settings page, then the rows listed, filtered and paged."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from nicegui import app as nicegui_app
from nicegui import ui
from nicegui.testing import User
from nicegui.testing.user_simulation import user_simulation

from app.api import auth_routes
from app.auth_guard import SESSION_COOKIE, AuthGuard
from app.wiring import Runtime, build_pages
from pages import audit, login, settings
from services.audit.log import POLLER, Actor, Target
from services.store.models import AuditEvent, AuditOutcome
from tests.support.audit import audit_rows
from tests.support.auth_fakes import ADMIN_PASSWORD
from tests.support.runtime import add_admin, running

NAVIGATION = 30  # should_see attempts (0.1 s apart) while a navigation completes


@dataclass
class Site:
    user: User
    runtime: Runtime

    def rows(self, **where: str) -> list[AuditEvent]:
        return audit_rows(self.runtime.db, **where)


@pytest.fixture
async def site(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> AsyncIterator[Site]:
    """Login, settings and audit pages over a real runtime; signed out at first."""
    async with running(tmp_path) as runtime, user_simulation() as user:
        add_admin(runtime)
        nicegui_app.add_middleware(AuthGuard, auth=runtime.auth)
        pages = build_pages(runtime)
        auth_routes.register(nicegui_app, runtime.auth, pages.sign_in)
        login.register(runtime.auth, pages.sign_in)
        settings.register(pages.settings)
        audit.register(pages.audit)

        @ui.page("/")
        def home() -> None:
            ui.label("Home page stub")

        try:
            yield Site(user, runtime)
        finally:
            pages.close()
    errors = [r.getMessage() for r in caplog.get_records("call") if r.levelno >= logging.ERROR]
    assert not errors, f"unexpected error logs: {errors}"


def sign_in_as_admin(site: Site) -> None:
    users = site.runtime.stores.users
    admin = users.by_username("admin")
    assert admin is not None
    site.user.http_client.cookies.set(SESSION_COOKIE, site.runtime.auth.issue_token(admin).token)


async def test_login_page_sign_ins_leave_one_row_each(site: Site) -> None:
    await site.user.open("/login")
    site.user.find("Username").clear().type("mallory")
    site.user.find("Password").type("not the password").trigger("keydown.enter")
    await site.user.should_see("Invalid username or password.")
    site.user.find("Username").clear().type("admin")
    site.user.find("Password").type(ADMIN_PASSWORD).trigger("keydown.enter")
    await site.user.should_see("Home page stub", retries=NAVIGATION)

    failed = site.rows(action="sign_in", actor="mallory")
    assert [(r.outcome, r.target) for r in failed] == [(AuditOutcome.FAILED, "mallory")]
    assert [r.outcome for r in site.rows(action="sign_in", actor="admin")] == [AuditOutcome.OK]
    assert failed[0].address  # the page's client address


async def test_settings_page_changes_leave_one_row_each_by_the_signed_in_user(
    site: Site,
) -> None:
    sign_in_as_admin(site)
    await site.user.open("/settings")
    retention = site.user.find(marker="global-audit_retention_days").elements.pop()
    assert isinstance(retention, ui.number)
    retention.value = 30
    site.user.find(marker="global-save").click()
    await site.user.should_see("Settings saved.")
    site.user.find(marker="webhook-regenerate").click()
    await site.user.should_see("Regenerate the webhook URL?")
    site.user.find(marker="confirm").click()
    await site.user.should_see("New webhook URL made; the old one no longer works.")

    assert site.runtime.stores.settings.get_global().audit_retention_days == 30
    (saved,) = [r for r in site.rows(action="config_change") if r.target == "global"]
    assert (saved.actor, saved.detail["fields"]) == ("admin", ["audit_retention_days"])
    (regenerated,) = site.rows(action="webhook_regenerate")
    assert regenerated.actor == "admin"
    secret = site.runtime.stores.settings.webhook_secret()
    assert all(secret not in str(r.model_dump()) for r in site.rows())


async def test_audit_page_lists_filters_pages_and_says_when_nothing_matches(
    site: Site,
) -> None:
    audit_log = site.runtime.audit
    for n in range(55):
        actor = Actor.user("alice", "10.0.0.7")
        await audit_log.record(actor, "stop", Target("web", "dev", n + 1))
    await audit_log.record(
        POLLER, "deploy", Target("api", "prod"), outcome=AuditOutcome.FAILED, message="pull failed"
    )
    sign_in_as_admin(site)

    await site.user.open("/audit")
    await site.user.should_see("Audit")  # the nav link
    await site.user.should_see("pull failed")
    await site.user.should_see("api / prod")
    await site.user.should_see("web / dev / #55")
    await site.user.should_see("10.0.0.7")
    await site.user.should_see("Entries 1–50 of 56")
    site.user.find(marker="audit-older").click()
    await site.user.should_see("Entries 51–56 of 56")
    await site.user.should_see("web / dev / #1")
    site.user.find(marker="audit-newer").click()
    await site.user.should_see("Entries 1–50 of 56")

    user_filter = site.user.find(marker="audit-actor").elements.pop()
    assert isinstance(user_filter, ui.select)
    user_filter.value = "poller"
    await site.user.should_see("Entries 1–1 of 1")
    await site.user.should_not_see("web / dev / #55")
    action_filter = site.user.find(marker="audit-action").elements.pop()
    assert isinstance(action_filter, ui.select)
    action_filter.value = "stop"
    await site.user.should_see("No audit entries match these filters.")
    user_filter.value = ""
    project_filter = site.user.find(marker="audit-project").elements.pop()
    assert isinstance(project_filter, ui.select)
    project_filter.value = "web"
    await site.user.should_see("Entries 1–50 of 55")
    time_filter = site.user.find(marker="audit-time").elements.pop()
    assert isinstance(time_filter, ui.select)
    time_filter.value = "Last hour"
    await site.user.should_see("Entries 1–50 of 55")
