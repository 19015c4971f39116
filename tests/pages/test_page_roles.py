"""Roles in the pages: what a role may not use is not created at all, pages a role may not open
say so, and the users card on the settings page (admins) manages users."""

from __future__ import annotations

from nicegui import ui
from sqlmodel import select

from app.auth_guard import SESSION_COOKIE
from services.admin.env_config import EnvChange
from services.store.models import AuditEvent, Role, User
from tests.pages.conftest import ConfigSite
from tests.pages.test_project_config import make_project
from tests.pages.test_project_page import SLOW, deployed, page_of
from tests.pages.test_settings import element, text_field, until
from tests.support.audit import TESTER
from tests.support.ui_site import UiSite


def sign_in_as(user_cookies: object, site_auth: object, user: User) -> None:
    """Replace the browser's session cookie by one of `user`."""
    token = site_auth.issue_token(user).token  # type: ignore[attr-defined]
    user_cookies.set(SESSION_COOKIE, token)  # type: ignore[attr-defined]


def person(site: ConfigSite, name: str, role: Role) -> User:
    return site.stores.users.create(username=name, role=role)


def audit_actions(site: ConfigSite) -> list[tuple[str, str, str]]:
    with site.runtime.db.session() as session:
        rows = session.exec(select(AuditEvent).order_by(AuditEvent.id)).all()  # type: ignore[arg-type]
        return [(r.actor, r.action, r.target) for r in rows]


async def test_a_viewer_sees_no_action_and_a_deployer_no_removal_nor_settings(
    site: UiSite,
) -> None:
    world = site.world
    instance_id = await deployed(world, "dev-1")
    users, auth = world.runtime.stores.users, world.runtime.auth
    sign_in_as(site.user.http_client.cookies, auth, users.create(username="vera", role=Role.VIEWER))

    await site.user.open(page_of(world))
    await site.user.should_see(marker=f"instance-{instance_id}", retries=SLOW)
    for marker in ("stop", "restart", "logs", "remove"):
        await site.user.should_not_see(marker=f"{marker}-{instance_id}")
    for marker in ("deploy-new-dev", "rollback-dev", "configure"):
        await site.user.should_not_see(marker=marker)
    await site.user.should_not_see("Quick deploy")

    deployer = users.create(username="dora", role=Role.DEPLOYER)
    sign_in_as(site.user.http_client.cookies, auth, deployer)
    await site.user.open(page_of(world))
    await site.user.should_see(marker=f"stop-{instance_id}", retries=SLOW)
    await site.user.should_see(marker="deploy-new-dev")
    await site.user.should_see(marker="rollback-dev")
    await site.user.should_not_see(marker=f"remove-{instance_id}")
    await site.user.should_see(marker="configure")  # to read the configuration
    await site.user.should_see("Account")  # the nav: own account, no settings
    await site.user.should_not_see("Settings")

    await site.user.open("/quick-deploy")
    await site.user.should_see(marker="not-allowed")


async def test_settings_and_configuration_are_not_allowed_below_admin(
    config_site: ConfigSite,
) -> None:
    site = config_site
    sign_in_as(site.user.http_client.cookies, site.auth, person(site, "dora", Role.DEPLOYER))

    await site.user.open("/settings")
    await site.user.should_see(marker="not-allowed")
    await site.user.should_see("needs the admin role")
    await site.user.should_see(marker="password-change")  # one's own account stays
    await site.user.should_not_see(marker="users")
    await site.user.should_not_see(marker="webhook-url")
    await site.user.open("/projects/new")
    await site.user.should_see(marker="not-allowed")


async def test_a_deployer_reads_the_configuration_with_nothing_to_change_and_a_viewer_not(
    config_site: ConfigSite,
) -> None:
    site = config_site
    project = make_project(site)
    assert project.id is not None
    secret = EnvChange(key="API_KEY", value="s3cret-value", secret=True)
    await site.admin.env_config.update(project.id, None, [secret], actor=TESTER)
    sign_in_as(site.user.http_client.cookies, site.auth, person(site, "dora", Role.DEPLOYER))

    await site.user.open(f"/projects/{project.id}/settings")
    await site.user.should_see(marker="config-readonly")
    await site.user.should_see("registry.test/demo/web")
    await site.user.should_see("env API_KEY")
    await site.user.should_not_see("s3cret-value")
    assert site.user.find(ui.button).elements == header_buttons(site)
    await site.user.should_not_see(kind=ui.input)

    sign_in_as(site.user.http_client.cookies, site.auth, person(site, "vera", Role.VIEWER))
    await site.user.open(f"/projects/{project.id}/settings")
    await site.user.should_see(marker="not-allowed")
    await site.user.should_not_see("registry.test/demo/web")


def header_buttons(site: ConfigSite) -> set[ui.element]:
    """The frame's own buttons (sign out), which every page has."""
    return set(site.user.find("Sign out").elements)


async def test_an_admin_adds_changes_and_removes_users_on_the_settings_page(
    config_site: ConfigSite,
) -> None:
    site = config_site
    await site.user.open("/settings")
    await site.user.should_see(marker="user-admin")

    text_field(site, "user-new-name").value = "bob"
    text_field(site, "user-new-password").value = "short"
    site.user.find(marker="user-add").click()
    await site.user.should_see("must have at least 8 characters")
    text_field(site, "user-new-password").value = "bob-secret-1"
    site.user.find(marker="user-add").click()
    await site.user.should_see(marker="user-bob")
    bob = site.stores.users.by_username("bob")
    assert bob is not None and bob.role == Role.VIEWER

    element(site, "user-role-bob").set_value("deployer")  # type: ignore[attr-defined]
    await until(lambda: site.stores.users.get(bob.id).role == Role.DEPLOYER)  # type: ignore[arg-type]

    site.user.find(marker="user-toggle-bob").click()
    await site.user.should_see("Disable bob?")
    site.user.find(marker="confirm-ok").click()
    await until(lambda: site.stores.users.get(bob.id).disabled)  # type: ignore[arg-type]

    site.user.find(marker="user-remove-admin").click()  # the last enabled admin
    await site.user.should_see("Remove admin?")
    site.user.find(marker="confirm-ok").click()
    await site.user.should_see("the last enabled admin must stay an enabled admin")

    site.user.find(marker="user-remove-bob").click()
    await site.user.should_see("Remove bob?")
    site.user.find(marker="confirm-ok").click()
    await site.user.should_not_see(marker="user-bob")
    assert site.stores.users.by_username("bob") is None
    assert [a for a in audit_actions(site) if a[2] == "bob"] == [
        ("admin", "user_add", "bob"),
        ("admin", "user_role", "bob"),
        ("admin", "user_disable", "bob"),
        ("admin", "user_remove", "bob"),
    ]
