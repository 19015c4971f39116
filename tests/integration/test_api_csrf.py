"""Cross-site request forgery: a page on a preview (same site, other origin) posting with the
admin's cookie is refused; our own pages, scripts with a bearer token and the webhook are not.

The in-process app has the same middlewares as the real process (`add_web_security`); the
"browser" is an httpx client holding the session cookie and sending the headers a browser sends.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from docker import DockerClient

from tests.support.api_app import ADMIN_PASSWORD, ApiApp, api_app, errors
from tests.support.api_world import ApiWorld, api_world, follow_to_end
from tests.support.registry_server import RegistryServer

OURS = "http://dw.test"  # the in-process client's base URL: the dashboard's origin
PREVIEW = "http://shop-dev.dw.test"  # a deployed preview: same site, another origin
ATTACK = b"global: {volume_roots: ['/var/run/docker.sock']}\n"
REGENERATE = "/api/settings/webhook-url/regenerate"
FORGED = "refused: this request was not sent from this dashboard's own pages"
PUBLIC = "https://watcher.example.test"
UNTRUSTED_PEER = ("203.0.113.9", 40000)


@asynccontextmanager
async def browser(
    api: Any, peer: tuple[str, int] = ("127.0.0.1", 50000)
) -> AsyncIterator[httpx.AsyncClient]:
    """A client signed in by the session cookie, as the admin's browser is."""
    transport = httpx.ASGITransport(api, client=peer)
    async with httpx.AsyncClient(transport=transport, base_url=OURS) as client:
        login = {"username": "admin", "password": ADMIN_PASSWORD}
        assert (await client.post("/api/auth/login", json=login)).status_code == 200
        yield client


async def volume_roots(app: ApiApp) -> list[str]:
    roots: list[str] = (await app.client.get("/api/settings")).json()["global"]["volume_roots"]
    return roots


async def webhook_path(app: ApiApp) -> str:
    path: str = (await app.client.get("/api/settings/webhook-url")).json()["path"]
    return path


def refused(response: httpx.Response) -> None:
    assert errors(response, 403) == {None: FORGED}
    assert response.headers["x-frame-options"] == "DENY"


FORGED_IMPORTS = {
    "multipart": {"files": {"file": ("c.yaml", ATTACK, "application/x-yaml")}},
    "text/plain": {"content": ATTACK, "headers": {"content-type": "text/plain"}},
}


@pytest.mark.parametrize("kind", FORGED_IMPORTS)
async def test_a_forged_import_with_the_cookie_is_refused_and_changes_nothing(
    app: ApiApp, kind: str
) -> None:
    request = FORGED_IMPORTS[kind]
    # X-Requested-With too (no page could add it): the origin check alone must refuse
    extra = {"Origin": PREVIEW, "Sec-Fetch-Site": "same-site", "X-Requested-With": "x"}
    async with browser(app.api) as admin:
        headers = {**request.get("headers", {}), **extra}
        forged = await admin.post("/api/config/import", **{**request, "headers": headers})

    refused(forged)
    assert await volume_roots(app) == []


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": PREVIEW},
        {"Origin": PREVIEW, "Sec-Fetch-Site": "same-site"},
        {"Origin": OURS, "Sec-Fetch-Site": "same-site"},
        {"Origin": "null"},
        {},
    ],
    ids=["other-origin", "same-site", "same-site-with-our-origin", "null-origin", "no-origin"],
)
async def test_a_bodyless_post_with_the_cookie_must_come_from_our_origin(
    app: ApiApp, headers: dict[str, str]
) -> None:
    before = await webhook_path(app)
    async with browser(app.api) as admin:
        refused(await admin.post(REGENERATE, headers=headers))
        assert await webhook_path(app) == before

        ours = await admin.post(
            REGENERATE, headers={"Origin": OURS, "Sec-Fetch-Site": "same-origin"}
        )

    assert ours.status_code == 200, ours.text
    assert await webhook_path(app) == ours.json()["path"] != before


async def test_bearer_tokens_and_the_webhook_need_no_origin_but_the_cookie_does(
    app: ApiApp,
) -> None:
    token = app.client.headers["Authorization"]
    yaml = {"content-type": "application/x-yaml"}
    async with browser(app.api) as admin:
        refused(await admin.post("/api/config/import", content=ATTACK, headers=yaml))
        assert await volume_roots(app) == []
        # the same browser with a bearer token (a script would not even have the cookie)
        by_token = await admin.post(
            "/api/config/import", content=ATTACK, headers={**yaml, "Authorization": token}
        )
        hook = await admin.post(f"{await webhook_path(app)}", json={}, headers={"Origin": PREVIEW})

    assert by_token.status_code == 200, by_token.text
    assert await volume_roots(app) == ["/var/run/docker.sock"]
    assert hook.status_code != 403, hook.text  # the secret URL is the webhook's credential


async def test_login_from_another_page_is_refused(app: ApiApp) -> None:
    """Login CSRF: a foreign page must not sign the browser in (to an account it chose)."""
    login = {"username": "admin", "password": ADMIN_PASSWORD}
    transport = httpx.ASGITransport(app.api)
    async with httpx.AsyncClient(transport=transport, base_url=OURS) as anonymous:
        forged = await anonymous.post("/api/auth/login", json=login, headers={"Origin": PREVIEW})
        ticket = app.runtime.auth.hand_off(await app.runtime.auth.login("admin", ADMIN_PASSWORD))
        navigated = await anonymous.get(
            f"/api/auth/session?ticket={ticket}", headers={"Sec-Fetch-Site": "same-site"}
        )
        assert not anonymous.cookies
        ours = await anonymous.post("/api/auth/login", json=login, headers={"Origin": OURS})
        stale = {"Cookie": "dw_session=expired-token"}  # a script's old cookie, no Origin
        script = await anonymous.post("/api/auth/login", json=login, headers=stale)

    refused(forged)
    refused(navigated)
    assert ours.status_code == 200 and script.status_code == 200


def _via_proxy(token: str) -> dict[str, str]:
    """What a TLS-terminating proxy forwards for a same-origin POST from the public URL."""
    return {
        "Host": "10.0.0.5:8080",
        "X-Forwarded-Host": "watcher.example.test",
        "X-Forwarded-Proto": "https",
        "X-Forwarded-For": "198.51.100.4",
        "Origin": PUBLIC,
        "Cookie": f"__Host-dw_session={token}",
    }


async def test_behind_a_trusted_proxy_the_forwarded_origin_counts_from_nobody_else(
    app: ApiApp,
) -> None:
    token = app.client.headers["Authorization"].removeprefix("Bearer ")
    trusted = httpx.ASGITransport(app.api, client=("127.0.0.1", 50000))
    untrusted = httpx.ASGITransport(app.api, client=UNTRUSTED_PEER)
    async with httpx.AsyncClient(transport=trusted, base_url=OURS) as proxy:
        passed = await proxy.post(REGENERATE, headers=_via_proxy(token))
    async with httpx.AsyncClient(transport=untrusted, base_url=OURS) as stranger:
        forged = await stranger.post(REGENERATE, headers=_via_proxy(token))

    assert passed.status_code == 200, passed.text
    assert passed.json()["url"].startswith(f"{PUBLIC}/api/webhook/")
    refused(forged)  # its X-Forwarded-* are ignored: the Origin is not its Host's


async def test_a_configured_public_url_is_the_only_origin(tmp_path: Path) -> None:
    async with api_app(tmp_path / "data", DW_PUBLIC_URL=f"{PUBLIC}/") as app:
        token = app.client.headers["Authorization"].removeprefix("Bearer ")
        cookie = {"Cookie": f"__Host-dw_session={token}"}
        transport = httpx.ASGITransport(app.api, client=UNTRUSTED_PEER)
        async with httpx.AsyncClient(transport=transport, base_url=OURS) as browser_:
            passed = await browser_.post(REGENERATE, headers={**cookie, "Origin": PUBLIC})
            by_host = await browser_.post(REGENERATE, headers={**cookie, "Origin": OURS})
            forwarded = {**cookie, "Origin": OURS, "X-Forwarded-Host": "dw.test"}
            by_forwarded_host = await browser_.post(REGENERATE, headers=forwarded)

    assert passed.status_code == 200, passed.text
    refused(by_host)
    refused(by_forwarded_host)


@pytest.fixture
async def deployed(
    tmp_path: Path, docker_client: DockerClient, registry: RegistryServer
) -> AsyncIterator[tuple[ApiWorld, str]]:
    """A world with one healthy dev instance; yields it and the instance's URL path."""
    async with api_world(tmp_path, docker_client, registry) as world:
        await world.push("dev-1")
        queued = await world.client.post(world.path(), json={"tag": "dev-1"})
        await follow_to_end(world.client, queued.json()["deploy_id"])
        (instance,) = (await world.client.get(world.path())).json()
        yield world, f"{world.path()}/{instance['id']}"


async def test_a_forged_stop_leaves_the_instance_running(deployed: tuple[ApiWorld, str]) -> None:
    world, instance = deployed
    async with browser(world.app.api) as admin:
        refused(await admin.post(f"{instance}/stop", headers={"Origin": PREVIEW}))
        (container,) = world.containers()
        assert container.status == "running"
        stopped = await admin.post(f"{instance}/stop", headers={"Origin": OURS})

    assert stopped.status_code == 200 and stopped.json()["status"] == "stopped"
