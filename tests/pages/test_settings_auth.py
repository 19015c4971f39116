"""The Sign-in card of /settings in a simulated browser, against the real loopback provider:
redirect URI, Test discovery, save with the secret masked, lock-out refusal, admins only."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from nicegui import ui
from sqlmodel import select

from app.auth_guard import SESSION_COOKIE
from services.store.models import AuditEvent, AuthMode, Role
from tests.pages.conftest import ConfigSite
from tests.pages.test_settings import element, text_field, until
from tests.support.oidc_provider import OidcProvider

SECRET = "Page-Oidc-Secret-3f9a"


@pytest.fixture
def provider() -> Iterator[OidcProvider]:
    with OidcProvider() as running:
        yield running


def audit_rows(site: ConfigSite) -> list[AuditEvent]:
    with site.runtime.db.session() as session:
        return list(session.exec(select(AuditEvent)).all())


def choose(site: ConfigSite, marker: str, value: str) -> None:
    field = element(site, marker)
    assert isinstance(field, ui.select)
    field.value = value


async def test_redirect_uri_and_test_discovery_of_the_typed_url(
    config_site: ConfigSite, provider: OidcProvider
) -> None:
    site = config_site
    await site.user.open("/settings")
    redirect = text_field(site, "auth-redirect-uri").value
    assert redirect.startswith("http") and redirect.endswith("/api/auth/oidc/callback")

    text_field(site, "auth-discovery_url").value = provider.discovery_url
    site.user.find(marker="auth-test").click()
    await site.user.should_see(f"Provider found: {provider.issuer}")
    await site.user.should_see(f"Token: {provider.issuer}/token")
    assert site.stores.settings.get_auth().oidc_discovery_url == ""  # tested, not saved


async def test_save_masks_the_secret_and_records_who_saved(
    config_site: ConfigSite, provider: OidcProvider
) -> None:
    site = config_site
    await site.user.open("/settings")
    choose(site, "auth-mode", "both")
    text_field(site, "auth-discovery_url").value = provider.discovery_url
    text_field(site, "auth-client_id").value = provider.client_id
    text_field(site, "auth-client_secret").value = SECRET
    text_field(site, "auth-role_map").value = "watchers = deployer\nops = admin"
    site.user.find(marker="auth-save").click()
    await site.user.should_see("Sign-in settings saved")

    row = site.stores.settings.get_auth()
    assert row.mode == AuthMode.BOTH and row.oidc_client_id == provider.client_id
    assert row.oidc_role_map == {"watchers": "deployer", "ops": "admin"}
    assert site.stores.settings.oidc_client_secret() == SECRET
    shown = text_field(site, "auth-client_secret").value
    assert shown.startswith("•") and SECRET not in shown
    (audit,) = audit_rows(site)
    assert (audit.action, audit.actor) == ("auth_settings", "admin")
    assert SECRET not in audit.model_dump_json()

    site.user.find(marker="auth-save").click()  # the mask left in place keeps the secret
    await until(lambda: len(audit_rows(site)) == 2)
    assert site.stores.settings.oidc_client_secret() == SECRET


async def test_bad_role_lines_and_oidc_only_lock_out_are_shown_at_their_fields(
    config_site: ConfigSite, provider: OidcProvider
) -> None:
    site = config_site
    await site.user.open("/settings")
    text_field(site, "auth-role_map").value = "no role here"
    site.user.find(marker="auth-save").click()
    await until(lambda: text_field(site, "auth-role_map").error)

    text_field(site, "auth-role_map").value = ""
    choose(site, "auth-mode", "oidc")
    text_field(site, "auth-discovery_url").value = provider.discovery_url
    text_field(site, "auth-client_id").value = provider.client_id
    site.user.find(marker="auth-save").click()
    mode = element(site, "auth-mode")
    await until(lambda: getattr(mode, "error", None))
    assert "lock everyone out" in str(getattr(mode, "error", ""))
    assert site.stores.settings.get_auth().mode == AuthMode.LOCAL


async def test_only_admins_get_the_card(config_site: ConfigSite) -> None:
    site = config_site
    viewer = site.stores.users.create(username="watcher", password_hash="x", role=Role.VIEWER)
    site.user.http_client.cookies.set(SESSION_COOKIE, site.auth.issue_token(viewer).token)
    await site.user.open("/settings")
    await site.user.should_see("Account")
    await site.user.should_not_see(marker="auth-save")


async def test_discovery_of_an_unreachable_provider_says_so(
    config_site: ConfigSite, provider: OidcProvider
) -> None:
    site = config_site
    url = provider.discovery_url
    provider.stop()
    await site.user.open("/settings")
    text_field(site, "auth-discovery_url").value = url
    site.user.find(marker="auth-test").click()
    await site.user.should_see("Test discovery: Could not connect")
    await site.user.should_not_see("Provider found")
