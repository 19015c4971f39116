"""/api/settings over HTTP: sections, validation, NPM (emulator over real nginx), notifications,
the webhook URL (checked against the real webhook route)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from tests.support.api_app import errors
from tests.support.listener import Listener
from tests.support.npm_emulator import EMAIL, PASSWORD, NpmEmulator
from tests.support.receiver import FakeReceiver

pytest_plugins = ["tests.support.npm_fixtures"]


def npm(emulator: NpmEmulator, **changes: object) -> dict[str, object]:
    return {"url": emulator.url, "email": EMAIL, "password": PASSWORD, **changes}


async def test_sections_are_replaced_one_by_one_and_the_password_never_returned(
    client: httpx.AsyncClient, npm_emulator: NpmEmulator
) -> None:
    before = (await client.get("/api/settings")).json()
    glob = {"domain": "example.com", "server_ip": "203.0.113.10", "poll_interval": 60}

    with_global = await client.put("/api/settings", json={"global": glob})
    with_npm = await client.put("/api/settings", json={"npm": npm(npm_emulator)})
    kept = await client.put("/api/settings", json={"npm": npm(npm_emulator, password=None)})

    assert before["global"]["subdomain_pattern"] == "stage-{stage}-{project}"
    assert with_global.json()["global"]["domain"] == "example.com"
    assert with_npm.json()["global"]["poll_interval"] == 60  # untouched by the npm section
    assert kept.json()["npm"] == {
        "url": npm_emulator.url,
        "email": EMAIL,
        "has_password": True,
        "certificate_id": None,
        "ssl_forced": False,
    }
    for response in (with_npm, kept, await client.get("/api/settings")):
        assert PASSWORD not in response.text


async def test_invalid_settings_name_their_section_and_field(client: httpx.AsyncClient) -> None:
    bad = {
        "global": {"domain": "a b", "subdomain_pattern": "{tag}", "notification_urls": ["x"]},
        "npm": {"email": "nobody", "certificate_id": 0},
        "extra": 1,
    }

    found = errors(await client.put("/api/settings", json=bad), 422)

    assert set(found) == {
        "global.domain",
        "global.subdomain_pattern",
        "global.notification_urls.0",
        "npm.email",
        "npm.certificate_id",
        "extra",
    }
    assert (await client.get("/api/settings")).json()["global"]["domain"] == ""  # nothing saved


async def test_npm_test_and_certificates_against_the_emulator(
    client: httpx.AsyncClient, npm_emulator: NpmEmulator
) -> None:
    expires = datetime.now(UTC) + timedelta(days=30)
    npm_emulator.api.add_certificate(["*.example.com"], expires, "wildcard", "letsencrypt")

    nothing_stored = await client.post("/api/settings/npm/test")
    unsaved = await client.post("/api/settings/npm/test", json=npm(npm_emulator))
    refused = await client.post("/api/settings/npm/test", json=npm(npm_emulator, password="no"))
    await client.put("/api/settings", json={"npm": npm(npm_emulator)})
    stored = await client.post("/api/settings/npm/test")
    certificates = await client.get("/api/settings/npm/certificates")

    assert "url" in errors(nothing_stored, 422)
    assert unsaved.status_code == stored.status_code == 200
    assert "2.15.1" in stored.json()["message"]
    assert EMAIL in errors(refused, 502)[None]
    assert [c["domain_names"] for c in certificates.json()] == [["*.example.com"]]


async def test_npm_down_is_a_bad_gateway(
    client: httpx.AsyncClient, npm_emulator: NpmEmulator
) -> None:
    await client.put("/api/settings", json={"npm": npm(npm_emulator)})
    npm_emulator.down()

    assert (
        "cannot reach NPM" in errors(await client.get("/api/settings/npm/certificates"), 502)[None]
    )


async def test_notification_test_reaches_every_url(client: httpx.AsyncClient) -> None:
    with FakeReceiver() as good, FakeReceiver(mode="error") as bad:
        urls = [good.url, bad.url]
        await client.put("/api/settings", json={"global": {"notification_urls": urls}})
        results = (await client.post("/api/settings/notifications/test")).json()

    assert [r["ok"] for r in results] == [True, False]
    assert "500" in results[1]["error"] and good.bodies[0]["event"] == "test"


async def test_regenerated_webhook_url_retires_the_old_one(client: httpx.AsyncClient) -> None:
    old = (await client.get("/api/settings/webhook-url")).json()
    new = (await client.post("/api/settings/webhook-url/regenerate")).json()
    payload = {"image": "ghcr.io/me/unknown:v1"}

    assert old["url"] == f"http://dw.test{old['path']}" and new["path"] != old["path"]
    assert (await client.post(old["path"], json=payload)).status_code == 404
    assert (await client.post(new["path"], json=payload)).status_code == 202


async def test_subdomain_example(client: httpx.AsyncClient) -> None:
    good = await client.get(
        "/api/settings/subdomain-example", params={"pattern": "{stage}-{project}", "domain": "x.io"}
    )
    bad = await client.get("/api/settings/subdomain-example", params={"pattern": "{project}"})

    assert good.json() == {"example": "dev-web-app.x.io (tag v1.2.0: dev-web-app-v1-2-0.x.io)"}
    assert "{stage}" in errors(bad, 422)["subdomain_pattern"]


async def test_the_stored_password_only_goes_to_the_address_it_was_saved_for(
    client: httpx.AsyncClient, npm_emulator: NpmEmulator
) -> None:
    await client.put("/api/settings", json={"npm": npm(npm_emulator)})
    with Listener() as listener:
        moved = {"url": listener.url, "email": "x@example.com"}
        tested = await client.post("/api/settings/npm/test", json=moved)
        saved = await client.put("/api/settings", json={"npm": moved})
        glob = {"domain": "example.com"}
        with_global = await client.put("/api/settings", json={"npm": moved, "global": glob})
        same = await client.post("/api/settings/npm/test", json=npm(npm_emulator, password=None))

    assert "password" in errors(tested, 422)["password"]
    assert set(errors(saved, 422)) == {"npm.password"}
    assert set(errors(with_global, 422)) == {"npm.password"}
    assert listener.requests == []
    after = (await client.get("/api/settings")).json()
    assert after["npm"]["url"] == npm_emulator.url and after["global"]["domain"] == ""
    assert same.status_code == 200, same.text  # the same address still uses the stored one
    retyped = await client.put("/api/settings", json={"npm": {**moved, "password": "typed"}})
    assert retyped.status_code == 200 and retyped.json()["npm"]["url"] == listener.url


async def test_notification_urls_are_masked_and_a_mask_sent_back_keeps_the_url(
    client: httpx.AsyncClient,
) -> None:
    with FakeReceiver() as receiver:
        secret_url = f"{receiver.url}/Api-Token-3c4d5e"
        await client.put("/api/settings", json={"global": {"notification_urls": [secret_url]}})
        shown = (await client.get("/api/settings")).json()["global"]
        given = {k: v for k, v in shown.items() if k != "updated_at"}
        resent = await client.put("/api/settings", json={"global": given})
        results = (await client.post("/api/settings/notifications/test")).json()

    assert "Api-Token" not in str(shown) and shown["notification_urls"][0].endswith("]")
    assert resent.json()["global"]["notification_urls"] == shown["notification_urls"]
    assert [r["ok"] for r in results] == [True] and receiver.bodies[0]["event"] == "test"
