"""/api/projects over HTTP (real runtime, real SQLite): CRUD, stages, env, volumes, errors.

Every failure is checked in the one error shape: `{"errors": [{"field", "message"}]}`.
"""

from __future__ import annotations

from typing import Any

import httpx

from services.store.models import Deploy, DeployStatus, DeployTrigger
from tests.support.api_app import ApiApp, errors

SECRET = "env-SECRET-value-93"
PROJECT = {"name": "web", "image": "ghcr.io/me/web", "port": 3000, "healthcheck": "/health"}


async def create(client: httpx.AsyncClient, **changes: Any) -> dict[str, Any]:
    response = await client.post("/api/projects", json={**PROJECT, **changes})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_every_route_needs_a_signed_in_user(app: ApiApp) -> None:
    transport = httpx.ASGITransport(app.api)
    async with httpx.AsyncClient(transport=transport, base_url="http://dw.test") as anonymous:
        assert (await anonymous.get("/api/projects")).status_code == 401
        assert (await anonymous.post("/api/projects", json=PROJECT)).status_code == 401
        assert (await anonymous.get("/api/settings")).status_code == 401


async def test_create_read_update_delete(client: httpx.AsyncClient) -> None:
    created = await create(client)
    project_id = created["id"]
    assert created["name"] == "web" and created["port"] == 3000

    listed = (await client.get("/api/projects")).json()
    assert [p["project"]["name"] for p in listed] == ["web"]
    assert listed[0]["light"] == "empty" and listed[0]["latest_deploy"] is None

    changed = await client.put(f"/api/projects/{project_id}", json={**PROJECT, "port": 8080})
    assert changed.status_code == 200 and changed.json()["port"] == 8080

    assert (await client.delete(f"/api/projects/{project_id}")).status_code == 204
    gone = await client.get(f"/api/projects/{project_id}")
    assert errors(gone, 404) == {None: f"project {project_id} not found"}


async def test_invalid_input_names_every_field(client: httpx.AsyncClient) -> None:
    bad = {"name": "Web App", "image": "ghcr.io/me/web:v1", "port": 0, "shade": "blue"}

    found = errors(await client.post("/api/projects", json=bad), 422)

    assert set(found) == {"name", "image", "port", "shade"}
    assert found["port"] == "must be ≥ 1" and found["shade"] == "unknown key"


async def test_missing_fields_wrong_types_and_broken_json(client: httpx.AsyncClient) -> None:
    assert errors(await client.post("/api/projects", json={}), 422) == {
        "name": "is required",
        "image": "is required",
    }
    assert "port" in errors(await client.post("/api/projects", json={**PROJECT, "port": "x"}), 422)
    broken = await client.post(
        "/api/projects", content=b"{nope", headers={"content-type": "application/json"}
    )
    assert errors(broken, 422) == {None: "the body is not valid JSON"}
    assert errors(await client.get("/api/projects/0"), 422) == {"project_id": "must be ≥ 1"}


async def test_taken_name_and_unknown_registry(client: httpx.AsyncClient) -> None:
    await create(client)

    assert "already exists" in errors(await client.post("/api/projects", json=PROJECT), 409)[None]
    unknown = await client.post("/api/projects", json={**PROJECT, "name": "b", "registry_id": 5})
    assert errors(unknown, 422) == {"registry_id": "registry 5 does not exist"}


async def test_stages_add_change_delete_with_their_rules(client: httpx.AsyncClient) -> None:
    project_id = (await create(client))["id"]
    base = f"/api/projects/{project_id}/stages"

    added = await client.post(base, json={"name": "rel", "tag_pattern": "v*"})
    assert added.status_code == 201 and added.json()["position"] == 0
    prod = {"name": "prod", "tag_pattern": "v*", "promote_from": "rel", "subdomain": "launcher"}
    assert (await client.post(base, json=prod)).status_code == 201

    assert "already exists" in errors(await client.post(base, json=prod), 409)[None]
    stray = await client.post(base, json={"name": "x", "promote_from": "qa"})
    assert "not a stage of this project" in errors(stray, 422)["promote_from"]
    clash = await client.post(base, json={"name": "x", "subdomain": "launcher"})
    assert "already used by stage web/prod" in errors(clash, 409)[None]

    changed = await client.put(f"{base}/prod", json={**prod, "max_instances": 3})
    assert changed.status_code == 200 and changed.json()["max_instances"] == 3
    assert "promotes from 'rel'" in errors(await client.delete(f"{base}/rel"), 409)[None]
    assert (await client.delete(f"{base}/prod")).status_code == 204
    assert errors(await client.delete(f"{base}/prod"), 404) == {None: "stage 'prod' not found"}

    detail = (await client.get(f"/api/projects/{project_id}")).json()
    assert [s["name"] for s in detail["stages"]] == ["rel"]


async def test_env_secrets_are_masked_everywhere_and_kept_when_not_resent(
    client: httpx.AsyncClient,
) -> None:
    project_id = (await create(client))["id"]
    await client.post(f"/api/projects/{project_id}/stages", json={"name": "dev"})
    entries = [{"key": "API_KEY", "value": SECRET, "secret": True}, {"key": "MODE", "value": "a"}]

    saved = await client.put(f"/api/projects/{project_id}/env", json={"entries": entries})
    kept = await client.put(
        f"/api/projects/{project_id}/env",
        json={"entries": [{"key": "API_KEY", "secret": True}, {"key": "MODE", "value": "b"}]},
    )
    override = await client.put(
        f"/api/projects/{project_id}/stages/dev/env",
        json={"entries": [{"key": "MODE", "unset": True}]},
    )
    detail = await client.get(f"/api/projects/{project_id}")

    for response in (saved, kept, override, detail):
        assert response.status_code == 200 and SECRET not in response.text
    env = detail.json()["env"]
    assert env["entries"][0] == {
        "key": "API_KEY",
        "value": "••••••••",
        "secret": True,
        "unset": False,
    }
    assert env["stages"][0]["removed"] == ["MODE"]


async def test_env_and_volume_errors_name_the_entry(client: httpx.AsyncClient) -> None:
    project_id = (await create(client))["id"]

    bad_env = await client.put(
        f"/api/projects/{project_id}/env", json={"entries": [{"key": "1BAD", "value": "x"}]}
    )
    bad_volume = await client.put(
        f"/api/projects/{project_id}/volumes",
        json={"volumes": [{"source": "/etc", "target": "/data"}]},
    )

    assert "not a valid environment variable name" in errors(bad_env, 422)["env.1BAD"]
    assert "volumes.0.source" in errors(bad_volume, 422)
    assert (await client.get(f"/api/projects/{project_id}/volumes")).json()["volumes"] == []


async def test_delete_is_refused_while_a_deploy_runs(app: ApiApp) -> None:
    project_id = (await create(app.client))["id"]
    row = Deploy(
        project_id=project_id,
        project_name="web",
        stage_name="dev",
        tag="v1",
        trigger=DeployTrigger.MANUAL,
        status=DeployStatus.RUNNING,
    )
    app.runtime.stores.deploys.create(row)

    refused = await app.client.delete(f"/api/projects/{project_id}")

    assert "wait until it finishes" in errors(refused, 409)[None]
    assert (await app.client.get(f"/api/projects/{project_id}")).status_code == 200


async def test_refusals_by_the_framework_use_the_same_shape(client: httpx.AsyncClient) -> None:
    wrong_method = await client.patch("/api/projects")
    unreadable = await client.post(
        "/api/projects", content=b"\xff\xfe", headers={"content-type": "application/json"}
    )

    assert errors(wrong_method, 405) == {None: "Method Not Allowed"}
    assert errors(unreadable, 422) == {None: "the body is not valid JSON"}


async def registry(client: httpx.AsyncClient, name: str, url: str, kind: str = "generic") -> int:
    body = {"name": name, "url": url, "type": kind, "username": "me", "token": "t0ken"}
    response = await client.post("/api/registries", json=body)
    assert response.status_code == 201, response.text
    registry_id: int = response.json()["id"]
    return registry_id


async def test_an_image_must_live_on_its_registrys_host(client: httpx.AsyncClient) -> None:
    git = await registry(client, "git", "https://git.example.com", "gitea")
    hub = await registry(client, "hub", "https://hub.docker.com", "dockerhub")
    local = await registry(client, "local", "http://127.0.0.1:5000")

    elsewhere = await client.post("/api/projects", json={**PROJECT, "registry_id": git})
    other_port = await client.post(
        "/api/projects", json={**PROJECT, "image": "127.0.0.1:5001/me/web", "registry_id": local}
    )
    hub_default = await client.post(
        "/api/projects", json={**PROJECT, "image": "me/web", "registry_id": git}
    )
    assert "registry 'git' is at git.example.com" in errors(elsewhere, 422)["image"]
    assert set(errors(other_port, 422)) == set(errors(hub_default, 422)) == {"image"}
    assert (await client.get("/api/projects")).json() == []

    on_git = await create(client, image="git.example.com:443/me/web", registry_id=git)
    for number, image in enumerate(
        ("me/web", "index.docker.io/me/web", "registry-1.docker.io/a/b")
    ):
        await create(client, name=f"hub-{number}", image=image, registry_id=hub)
    await create(client, name="local", image="127.0.0.1:5000/me/web", registry_id=local)
    moved = {**PROJECT, "image": "ghcr.io/me/web", "registry_id": git}
    changed = await client.put(f"/api/projects/{on_git['id']}", json=moved)
    assert set(errors(changed, 422)) == {"image"}


async def test_a_tag_pattern_holds_only_glob_characters(client: httpx.AsyncClient) -> None:
    base = f"/api/projects/{(await create(client))['id']}/stages"

    for pattern in ('v*" onerror="x', "dev <b>", "a b", "v1'"):
        refused = await client.post(base, json={"name": "dev", "tag_pattern": pattern})
        assert "may contain only" in errors(refused, 422)["tag_pattern"], pattern
    for number, pattern in enumerate(("dev-*", "v[0-9].*", "[!x]?_1.2", "*")):
        added = await client.post(base, json={"name": f"s{number}", "tag_pattern": pattern})
        assert added.status_code == 201, added.text


async def test_a_stage_takes_its_strategy_and_says_it(client: httpx.AsyncClient) -> None:
    base = f"/api/projects/{(await create(client))['id']}/stages"

    added = await client.post(base, json={"name": "dev"})
    assert added.status_code == 201 and added.json()["strategy"] == "blue_green"
    changed = await client.put(f"{base}/dev", json={"name": "dev", "strategy": "stop_first"})
    assert changed.status_code == 200 and changed.json()["strategy"] == "stop_first"
    wrong = await client.put(f"{base}/dev", json={"name": "dev", "strategy": "rolling"})
    assert "strategy" in errors(wrong, 422)
    legacy = await client.put(f"{base}/dev", json={"name": "dev", "blue_green": True})
    assert errors(legacy, 422) == {"blue_green": "unknown key"}  # only old exports carry it
