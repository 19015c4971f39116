"""/api/settings/auth over HTTP: the masked client secret, field errors, the lock-out rules,
Test discovery against the real loopback provider (found, unreachable, not a provider), and the
audit row a save leaves."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlmodel import select

from services.store.models import AuditEvent, Role
from tests.support.api_app import ApiApp, errors
from tests.support.oidc_provider import OidcProvider

SECRET = "Api-Oidc-Secret-5d2e"


@pytest.fixture
def provider() -> Iterator[OidcProvider]:
    with OidcProvider() as running:
        yield running


def settings(provider: OidcProvider, **changes: Any) -> dict[str, Any]:
    return {
        "mode": "both",
        "display_name": "Loopback SSO",
        "discovery_url": provider.discovery_url,
        "client_id": provider.client_id,
        "client_secret": SECRET,
        "scopes": "email profile",
        "allowed_groups": ["watchers"],
        "role_map": {"watchers": "deployer"},
        "default_role": "viewer",
        **changes,
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def test_saved_settings_come_back_with_the_secret_masked(
    app: ApiApp, provider: OidcProvider
) -> None:
    client = app.client
    before = (await client.get("/api/settings/auth")).json()
    saved = await client.put("/api/settings/auth", json=settings(provider))
    mask = saved.json()["client_secret"]
    kept = await client.put("/api/settings/auth", json=settings(provider, client_secret=mask))

    assert before["mode"] == "local" and before["client_secret"] == ""
    assert saved.status_code == 200, saved.text
    assert saved.json()["scopes"] == "openid email profile"
    assert saved.json()["role_map"] == {"watchers": "deployer"}
    assert mask.startswith("•") and kept.json()["client_secret"] == mask
    assert app.runtime.stores.settings.oidc_client_secret() == SECRET
    for answer in (saved, kept, await client.get("/api/settings/auth")):
        assert SECRET not in answer.text


async def test_bad_fields_and_lock_out_are_refused_naming_the_field(
    app: ApiApp, provider: OidcProvider
) -> None:
    bad = settings(provider, discovery_url="nope", role_map={"g": "root"}, extra=1)
    found = errors(await app.client.put("/api/settings/auth", json=bad), 422)
    locked = errors(
        await app.client.put("/api/settings/auth", json=settings(provider, mode="oidc")), 422
    )
    unconfigured = errors(await app.client.put("/api/settings/auth", json={"mode": "both"}), 422)

    assert set(found) == {"discovery_url", "role_map.g", "extra"}
    assert set(locked) == {"mode"} and "lock everyone out" in locked["mode"]
    assert set(unconfigured) == {"mode", "discovery_url", "client_id"}
    assert (await app.client.get("/api/settings/auth")).json()["mode"] == "local"


async def test_a_save_leaves_one_audit_row_with_the_actor_and_no_secret(
    app: ApiApp, provider: OidcProvider
) -> None:
    await app.client.put("/api/settings/auth", json=settings(provider))

    with app.runtime.db.session() as session:
        rows = session.exec(select(AuditEvent).where(AuditEvent.action == "auth_settings")).all()
    (row,) = rows
    assert (row.actor, row.outcome, row.target) == ("admin", "ok", "auth")
    assert "client_secret" in row.detail["changed"]
    assert SECRET not in row.model_dump_json()


async def test_discovery_of_the_real_provider_shows_its_issuer_and_endpoints(
    client: httpx.AsyncClient, provider: OidcProvider
) -> None:
    url = provider.discovery_url
    answer = await client.post("/api/settings/auth/test-discovery", json={"discovery_url": url})

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["issuer"] == provider.issuer
    assert body["token_endpoint"].startswith(provider.issuer)
    assert body["jwks_uri"] and body["authorization_endpoint"] and "RS256" in body["algorithms"]
    assert (await client.get("/api/settings/auth")).json()["discovery_url"] == ""  # not saved


async def test_discovery_errors_say_what_is_wrong(
    client: httpx.AsyncClient, provider: OidcProvider
) -> None:
    nobody = f"http://127.0.0.1:{free_port()}/.well-known/openid-configuration"
    not_a_provider = f"{provider.issuer}/elsewhere/.well-known/openid-configuration"
    other_issuer = provider.discovery_url.replace("127.0.0.1", "localhost")
    tls_on_plain = provider.discovery_url.replace("http://", "https://")

    async def refused(url: str, status: int = 502) -> str:
        answer = await client.post("/api/settings/auth/test-discovery", json={"discovery_url": url})
        return errors(answer, status)[None]

    assert "nothing answers" in await refused(nobody)
    assert "is not a provider's discovery document" in await refused(not_a_provider)
    assert "names another issuer" in await refused(other_issuer)
    assert "TLS" in await refused(tls_on_plain)
    assert "discovery_url" in errors(
        await client.post("/api/settings/auth/test-discovery", json={"discovery_url": ""}), 422
    )


async def test_only_admins_may_read_or_change_the_sign_in_settings(
    app: ApiApp, provider: OidcProvider
) -> None:
    viewer = app.runtime.stores.users.create(username="viewer", role=Role.VIEWER)
    token = app.runtime.auth.issue_token(viewer).token
    headers = {"Authorization": f"Bearer {token}"}
    url = {"discovery_url": provider.discovery_url}

    answers = [
        await app.client.get("/api/settings/auth", headers=headers),
        await app.client.put("/api/settings/auth", json=settings(provider), headers=headers),
        await app.client.post("/api/settings/auth/test-discovery", json=url, headers=headers),
    ]

    assert [a.status_code for a in answers] == [403, 403, 403]
    assert app.runtime.stores.settings.get_auth().mode == "local"
    assert provider.counters.discovery == 0
