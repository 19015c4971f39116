"""AuthSettingsAdmin over a real SQLite file: field rules, the masked client secret, the lock-out
rules of the mode, and the one audit row per save (names of changed fields, never the secret)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import select

from services.admin.auth_settings_admin import AuthSettingsAdmin, AuthSettingsInput
from services.audit.log import Actor, AuditLog
from services.errors import ValidationFailed
from services.store.audit import AuditStore
from services.store.models import AuditEvent, AuthMode, Role
from services.store.users import UserStore
from tests.support.admin_fakes import Stores, stores

ISSUER = "https://sso.example.test/realms/main"
DISCOVERY = f"{ISSUER}/.well-known/openid-configuration"
SECRET = "Oidc-Client-Secret-8c1f"
ADMIN = Actor.user("root", "192.0.2.7")


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Stores]:
    with stores(tmp_path) as built:
        yield built


@pytest.fixture
async def admin(db: Stores) -> AsyncIterator[AuthSettingsAdmin]:
    async with httpx.AsyncClient() as http:
        yield AuthSettingsAdmin(db.settings, UserStore(db.db), AuditLog(AuditStore(db.db)), http)


def oidc(**changes: Any) -> AuthSettingsInput:
    values: dict[str, Any] = {
        "mode": "both",
        "discovery_url": DISCOVERY,
        "client_id": "docker-watcher",
        "client_secret": SECRET,
        **changes,
    }
    return AuthSettingsInput.parse(values)


def audit_rows(db: Stores) -> list[AuditEvent]:
    with db.db.session() as session:
        return list(session.exec(select(AuditEvent).order_by(AuditEvent.id)).all())


def add_user(db: Stores, name: str, **fields: Any) -> None:
    UserStore(db.db).create(username=name, **fields)


def oidc_admin(db: Stores, name: str = "ops", **fields: Any) -> None:
    values: dict[str, Any] = {
        "role": Role.ADMIN,
        "oidc_subject": f"sub-{name}",
        "oidc_issuer": ISSUER,
        "last_login_at": datetime.now(UTC),
        **fields,
    }
    add_user(db, name, **values)


def test_every_bad_field_is_named() -> None:
    bad = {
        "mode": "ldap",
        "display_name": " ",
        "discovery_url": "sso.example.test",
        "client_id": "two words",
        "username_claim": "",
        "groups_claim": "a b",
        "allowed_users": ["ok", " "],
        "allowed_email_domains": ["nodot"],
        "role_map": {"ops": "root"},
        "default_role": "boss",
    }
    with pytest.raises(ValidationFailed) as caught:
        AuthSettingsInput.parse(bad)
    assert {e.path for e in caught.value.errors} == {
        "mode",
        "display_name",
        "discovery_url",
        "client_id",
        "username_claim",
        "groups_claim",
        "allowed_users.1",
        "allowed_email_domains.0",
        "role_map.ops",
        "default_role",
    }


def test_scopes_always_include_openid_and_domains_are_normalised() -> None:
    data = oidc(scopes="email  profile email", allowed_email_domains=["@Example.COM"])
    assert data.scopes == "openid email profile"
    assert data.allowed_email_domains == ["example.com"]


async def test_save_shows_the_secret_only_as_a_mask_and_the_mask_keeps_it(
    admin: AuthSettingsAdmin, db: Stores
) -> None:
    saved = await admin.update(oidc(role_map={"ops": "admin"}, default_role="viewer"), ADMIN)
    kept = await admin.update(oidc(client_secret=saved.client_secret, display_name="SSO"), ADMIN)
    kept_by_null = await admin.update(oidc(client_secret=None), ADMIN)

    assert saved.client_secret.startswith("•") and SECRET not in repr(saved)
    assert SECRET not in repr(oidc())  # the input never shows it in a log or traceback
    assert kept.client_secret == saved.client_secret == kept_by_null.client_secret
    assert db.settings.oidc_client_secret() == SECRET
    assert (kept.display_name, kept.role_map, kept.default_role) == ("SSO", {}, "")  # replaced
    assert saved.role_map == {"ops": "admin"} and saved.default_role == "viewer"


async def test_an_empty_secret_clears_it_and_a_stale_mask_is_refused(
    admin: AuthSettingsAdmin, db: Stores
) -> None:
    first = await admin.update(oidc(), ADMIN)
    await admin.update(oidc(client_secret="another-secret"), ADMIN)

    with pytest.raises(ValidationFailed) as stale:
        await admin.update(oidc(client_secret=first.client_secret), ADMIN)
    cleared = await admin.update(oidc(client_secret=""), ADMIN)

    assert [e.path for e in stale.value.errors] == ["client_secret"]
    assert cleared.client_secret == "" and db.settings.oidc_client_secret() is None


async def test_a_kept_secret_does_not_follow_a_new_provider_address(
    admin: AuthSettingsAdmin, db: Stores
) -> None:
    await admin.update(oidc(), ADMIN)
    elsewhere = "https://evil.example.org/.well-known/openid-configuration"

    with pytest.raises(ValidationFailed) as caught:
        await admin.update(oidc(discovery_url=elsewhere, client_secret=None), ADMIN)

    assert [e.path for e in caught.value.errors] == ["client_secret"]
    assert db.settings.get_auth().oidc_discovery_url == DISCOVERY  # nothing half-written


async def test_oidc_needs_a_discovery_url_and_client_id(
    admin: AuthSettingsAdmin, db: Stores
) -> None:
    for mode in ("both", "oidc"):
        with pytest.raises(ValidationFailed) as caught:
            await admin.update(oidc(mode=mode, discovery_url="", client_id=""), ADMIN)
        found = {e.path: e.message for e in caught.value.errors}
        assert set(found) == {"mode", "discovery_url", "client_id"}
        assert f"mode '{mode}' needs the discovery_url and client_id" in found["mode"]
    assert db.settings.get_auth().mode == AuthMode.LOCAL and audit_rows(db) == []


async def test_oidc_only_is_refused_until_an_oidc_admin_has_signed_in(
    admin: AuthSettingsAdmin, db: Stores
) -> None:
    add_user(db, "local-admin", role=Role.ADMIN, password_hash="x")
    oidc_admin(db, "never", last_login_at=None)
    oidc_admin(db, "off", disabled=True)
    oidc_admin(db, "dep", role=Role.DEPLOYER)
    oidc_admin(db, "other", oidc_issuer="https://other.example.test")

    with pytest.raises(ValidationFailed) as caught:
        await admin.update(oidc(mode="oidc"), ADMIN)
    (error,) = caught.value.errors
    assert error.path == "mode" and "lock everyone out" in error.message
    assert db.settings.get_auth().mode == AuthMode.LOCAL

    oidc_admin(db, "ops")
    saved = await admin.update(oidc(mode="oidc"), ADMIN)
    assert saved.mode == "oidc"


async def test_each_save_leaves_one_audit_row_naming_changed_fields_only(
    admin: AuthSettingsAdmin, db: Stores
) -> None:
    await admin.update(oidc(), ADMIN)
    await admin.update(oidc(client_secret=None, allowed_groups=["ops"]), ADMIN)

    first, second = audit_rows(db)
    assert (first.action, first.actor, first.address, first.target) == (
        "auth_settings",
        "root",
        "192.0.2.7",
        "auth",
    )
    assert first.detail["changed"] == ["mode", "discovery_url", "client_id", "client_secret"]
    assert second.detail == {"changed": ["allowed_groups"]}
    stored = json.dumps([row.model_dump(mode="json") for row in audit_rows(db)])
    assert SECRET not in stored
