"""/api/registries over HTTP against the real test registry (htpasswd auth)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
from docker import DockerClient

from tests.support.api_app import errors
from tests.support.images import push_test_image
from tests.support.listener import Listener
from tests.support.registry_server import RegistryServer


def body(registry: RegistryServer, **changes: Any) -> dict[str, Any]:
    values = {
        "name": "local",
        "url": registry.url,
        "type": "generic",
        "username": registry.username,
        "token": registry.password,
    }
    return {**values, **changes}


async def create(client: httpx.AsyncClient, registry: RegistryServer, **changes: Any) -> int:
    response = await client.post("/api/registries", json=body(registry, **changes))
    assert response.status_code == 201, response.text
    registry_id: int = response.json()["id"]
    return registry_id


async def test_crud_never_returns_the_token(
    client: httpx.AsyncClient, registry: RegistryServer
) -> None:
    registry_id = await create(client, registry)
    base = f"/api/registries/{registry_id}"

    listed = await client.get("/api/registries")
    one = await client.get(base)
    changed = await client.put(base, json=body(registry, token=None, name="renamed"))

    for response in (listed, one, changed):
        assert response.status_code == 200 and registry.password not in response.text
    assert changed.json()["has_token"] and changed.json()["name"] == "renamed"
    assert (await client.delete(base)).status_code == 204
    assert errors(await client.get(base), 404) == {None: f"registry {registry_id} not found"}


async def test_bad_input_taken_names_and_registries_in_use(
    client: httpx.AsyncClient, registry: RegistryServer
) -> None:
    registry_id = await create(client, registry)

    invalid = await client.post("/api/registries", json=body(registry, url="nope", type="x"))
    assert set(errors(invalid, 422)) == {"url", "type"}
    assert errors(await client.post("/api/registries", json=body(registry)), 409)
    project = {"name": "web", "image": f"{registry.host}/demo/web", "registry_id": registry_id}
    assert (await client.post("/api/projects", json=project)).status_code == 201
    in_use = await client.delete(f"/api/registries/{registry_id}")
    assert "used by web" in errors(in_use, 409)[None]


async def test_connection_tests_of_saved_and_unsaved_credentials(
    client: httpx.AsyncClient, registry: RegistryServer
) -> None:
    registry_id = await create(client, registry)

    saved = await client.post(f"/api/registries/{registry_id}/test")
    unsaved = await client.post("/api/registries/test", json=body(registry))
    kept = await client.post(
        "/api/registries/test", json=body(registry, token=None, registry_id=registry_id)
    )
    refused = await client.post("/api/registries/test", json=body(registry, token="wrong"))

    assert saved.status_code == unsaved.status_code == kept.status_code == 200
    assert registry.host in saved.json()["message"]
    message = errors(refused, 502)[None]
    assert registry.username in message and "not about your sign-in" in message
    assert "wrong" not in refused.text


async def test_unreachable_registry_is_a_bad_gateway(client: httpx.AsyncClient) -> None:
    closed = {"name": "gone", "url": "http://127.0.0.1:9", "token": None}

    found = errors(await client.post("/api/registries/test", json=closed), 502)

    assert "127.0.0.1:9" in found[None]


async def test_tags_of_a_repository_newest_first(
    client: httpx.AsyncClient, registry: RegistryServer, docker_client: DockerClient
) -> None:
    repo = f"demo/tags-{uuid.uuid4().hex[:6]}"
    for tag in ("v1.2.0", "v1.10.0", "dev-1"):
        await asyncio.to_thread(push_test_image, docker_client, registry, repo, tag)
    registry_id = await create(client, registry)

    listed = await client.get(f"/api/registries/{registry_id}/tags/{registry.host}/{repo}")
    missing = await client.get(f"/api/registries/{registry_id}/tags/demo/none-here")

    assert listed.status_code == 200, listed.text
    assert listed.json()["tags"] == ["v1.10.0", "v1.2.0", "dev-1"]
    assert errors(missing, 404)


async def test_the_stored_token_only_goes_to_the_registry_it_was_saved_for(
    client: httpx.AsyncClient, registry: RegistryServer
) -> None:
    registry_id = await create(client, registry)
    with Listener() as listener:
        moved = body(registry, url=listener.url, token=None)
        tested = await client.post(
            "/api/registries/test", json={**moved, "registry_id": registry_id}
        )
        saved = await client.put(f"/api/registries/{registry_id}", json=moved)
        hub = await client.put(
            f"/api/registries/{registry_id}", json=body(registry, token=None, type="dockerhub")
        )
        same = await client.post(
            "/api/registries/test", json=body(registry, token=None, registry_id=registry_id)
        )

    assert "token" in errors(tested, 422)["token"]
    assert set(errors(saved, 422)) == set(errors(hub, 422)) == {"token"}
    assert listener.requests == [] and registry.password not in listener.text
    assert (await client.get(f"/api/registries/{registry_id}")).json()["url"] == registry.url
    assert same.status_code == 200, same.text  # the same address still uses the stored one
    cleared = await client.put(f"/api/registries/{registry_id}", json={**moved, "token": ""})
    assert cleared.status_code == 200 and not cleared.json()["has_token"]
