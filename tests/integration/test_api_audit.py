"""The audit log through the REST API: one row per action with the acting user and address,
changed field names but never a secret value, and GET /api/audit's filters and paging."""

from __future__ import annotations

import json
from typing import Any

import httpx

from services.audit.log import WEBHOOK, Actor, Target
from services.store.models import AuditEvent, AuditOutcome
from tests.support.api_app import ApiApp
from tests.support.audit import audit_rows
from tests.support.auth_fakes import ADMIN_PASSWORD

ADDRESS = "127.0.0.1"  # httpx's in-process transport as the client
SECRETS = {
    "token": "reg-SECRET-token-1",
    "token2": "reg-SECRET-token-2",
    "env": "env-SECRET-value-1",
    "npm": "npm-SECRET-password",
    "hook": "https://hooks.example/notify/hook-SECRET-path",
    "seed_token": "seed-SECRET-token",
    "seed_env": "seed-SECRET-env",
    "seed_webhook": "3f0c2a4e-7b1d-4c8e-9a6f-5e2d1c0b9a87",
}
SEED = f"""
global: {{domain: example.com, webhook_secret: "{SECRETS["seed_webhook"]}"}}
registries:
  local: {{url: "https://registry.example.com", token: "{SECRETS["seed_token"]}"}}
projects:
  api:
    registry: local
    image: registry.example.com/me/api
    env: {{DB_PASSWORD: {{value: "{SECRETS["seed_env"]}", secret: true}}}}
"""
YAML = {"content-type": "application/x-yaml"}


def rows(app: ApiApp, **where: str) -> list[AuditEvent]:
    return audit_rows(app.runtime.db, **where)


def one(app: ApiApp, **where: str) -> AuditEvent:
    found = rows(app, **where)
    assert len(found) == 1, [(r.action, r.actor, r.target, r.detail) for r in found]
    return found[0]


async def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json() if response.content else None


async def test_sign_ins_failures_sign_out_and_password_change_leave_one_row_each(
    app: ApiApp,
) -> None:
    before = len(rows(app, action="sign_in"))  # the fixture's own sign-in
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app.api), base_url="http://dw.test"
    ) as browser:
        wrong = {"username": "mallory", "password": "not-the-password"}
        assert (await browser.post("/api/auth/login", json=wrong)).status_code == 401
        right = {"username": "admin", "password": ADMIN_PASSWORD}
        token = (await ok(await browser.post("/api/auth/login", json=right)))["token"]
        browser.headers["Authorization"] = f"Bearer {token}"
        change = {"current_password": ADMIN_PASSWORD, "new_password": "a-new-password-1"}
        fresh = await ok(await browser.post("/api/auth/password", json=change))
        browser.headers["Authorization"] = f"Bearer {fresh['token']}"
        bad = {"current_password": "wrong-one", "new_password": "another-password-2"}
        assert (await browser.post("/api/auth/password", json=bad)).status_code == 422
        await ok(await browser.post("/api/auth/logout"))

    failed = one(app, action="sign_in", actor="mallory")
    assert (failed.outcome, failed.address) == (AuditOutcome.FAILED, ADDRESS)
    assert len(rows(app, action="sign_in", actor="admin")) == before + 1
    changes = rows(app, action="password_change")
    assert [(r.actor, r.outcome) for r in changes] == [
        ("admin", AuditOutcome.OK),
        ("admin", AuditOutcome.FAILED),
    ]
    signed_out = one(app, action="sign_out")
    assert (signed_out.actor, signed_out.address) == ("admin", ADDRESS)
    everything = json.dumps([r.model_dump(mode="json") for r in rows(app)])
    for password in (ADMIN_PASSWORD, "not-the-password", "a-new-password-1", "wrong-one"):
        assert password not in everything


async def test_config_changes_name_their_fields_and_never_a_secret_value(app: ApiApp) -> None:
    client = app.client
    registry = {"name": "hub", "url": "https://registry.example.com", "token": SECRETS["token"]}
    reg = await ok(await client.post("/api/registries", json=registry), 201)
    changed = {**registry, "username": "robot", "token": SECRETS["token2"]}
    await ok(await client.put(f"/api/registries/{reg['id']}", json=changed))
    project = {"name": "web", "image": "registry.example.com/me/web", "registry_id": reg["id"]}
    created = await ok(await client.post("/api/projects", json=project), 201)
    base = f"/api/projects/{created['id']}"
    await ok(await client.put(base, json={**project, "port": 3000}))
    await ok(await client.post(f"{base}/stages", json={"name": "dev"}), 201)
    await ok(await client.put(f"{base}/stages/dev", json={"name": "dev", "max_instances": 3}))
    secret = {"key": "API_KEY", "value": SECRETS["env"], "secret": True}
    await ok(await client.put(f"{base}/env", json={"entries": [secret]}))
    await ok(await client.put(f"{base}/volumes", json={"volumes": []}))
    await ok(await client.delete(f"{base}/stages/dev"), 204)
    npm = {"url": "http://npm.example:81", "email": "a@example.com", "password": SECRETS["npm"]}
    hooks = {"notification_urls": [SECRETS["hook"]], "audit_retention_days": 90}
    await ok(await client.put("/api/settings", json={"npm": npm, "global": hooks}))
    webhook = await ok(await client.post("/api/settings/webhook-url/regenerate"))
    await ok(await client.post("/api/config/import", content=SEED, headers=YAML))
    await ok(await client.delete(base), 204)

    def change(target: str = "", **where: str) -> AuditEvent:
        found = [r for r in rows(app, action="config_change", **where) if r.target == target]
        assert len(found) == 1, [(r.target, r.detail) for r in found]
        assert (found[0].actor, found[0].address) == ("admin", ADDRESS)
        return found[0]

    registry_rows = [r for r in rows(app, action="config_change") if r.target == "registry hub"]
    assert [r.detail["change"] for r in registry_rows] == ["create", "update"]
    assert registry_rows[1].detail["fields"] == ["token", "username"]
    project_rows = [r.detail for r in rows(app, action="config_change", project="web")]
    assert [(d["change"], d.get("fields")) for d in project_rows if "fields" in d][1] == (
        "update",
        ["port"],
    )
    assert [d["change"] for d in project_rows] == [
        "create",  # project
        "update",  # project
        "create",  # stage
        "update",  # stage
        "update",  # env
        "update",  # volumes
        "delete",  # stage
        "delete",  # project
    ]
    assert change("env", project="web").detail["fields"] == ["API_KEY"]
    assert change("volumes", project="web").detail["fields"] == []
    assert change("npm").detail["fields"] == ["email", "password", "url"]
    assert change("global").detail["fields"] == ["audit_retention_days", "notification_urls"]
    regenerated = one(app, action="webhook_regenerate")
    assert (regenerated.actor, regenerated.address) == ("admin", ADDRESS)
    imported = one(app, action="import")
    assert imported.detail["projects"] == ["api"] and imported.detail["registries"] == ["local"]

    everything = json.dumps([r.model_dump(mode="json") for r in rows(app)])
    stored_webhook = app.runtime.stores.settings.webhook_secret()
    for value in [*SECRETS.values(), webhook["path"].rpartition("/")[2], stored_webhook]:
        assert value not in everything


async def test_refused_changes_leave_one_refused_row_naming_the_fields(app: ApiApp) -> None:
    bad = {"name": "web", "image": "registry.example.com/me/web", "registry_id": 999}
    assert (await app.client.post("/api/projects", json=bad)).status_code == 422
    refused = one(app, action="config_change", project="web")
    assert refused.outcome == AuditOutcome.REFUSED
    assert refused.detail == {"change": "create", "fields": ["registry_id"]}


async def test_get_audit_filters_and_pages_newest_first(app: ApiApp) -> None:
    audit = app.runtime.audit
    for n in range(5):
        await audit.record(Actor.user("alice", "10.0.0.1"), "stop", Target("web", "dev", n + 1))
    await audit.record(WEBHOOK, "deploy", Target("web", "dev"), outcome=AuditOutcome.FAILED)
    await audit.record(Actor.user("bob"), "stop", Target("api", "dev"))

    first = await ok(await app.client.get("/api/audit", params={"actor": "alice", "limit": 2}))
    cursor = {"actor": "alice", "limit": 2, "before": first["next_before"]}
    second = await ok(await app.client.get("/api/audit", params=cursor))
    cursor["before"] = second["next_before"]
    third = await ok(await app.client.get("/api/audit", params=cursor))
    pages = [first, second, third]

    assert [[i["instance_id"] for i in p["items"]] for p in pages] == [[5, 4], [3, 2], [1]]
    assert [p["total"] for p in pages] == [5, 5, 5] and third["next_before"] is None
    assert first["items"][0]["address"] == "10.0.0.1"
    failed = await ok(await app.client.get("/api/audit", params={"outcome": "failed"}))
    assert [(i["actor"], i["actor_kind"]) for i in failed["items"]] == [("webhook", "webhook")]
    project = await ok(await app.client.get("/api/audit", params={"project": "api"}))
    assert [i["actor"] for i in project["items"]] == ["bob"]
    stops = await ok(await app.client.get("/api/audit", params={"action": "stop"}))
    assert stops["total"] == 6
    future = {"since": "2999-01-01T00:00:00Z"}
    assert (await ok(await app.client.get("/api/audit", params=future)))["items"] == []
    assert (await app.client.get("/api/audit", params={"limit": 0})).status_code == 422
