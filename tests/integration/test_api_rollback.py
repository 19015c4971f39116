"""Rollback over the REST API, against the real engine and registry."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from docker import DockerClient

from tests.support.api_world import ApiWorld, api_world, follow_to_end
from tests.support.registry_server import RegistryServer


@pytest.fixture
async def world(
    tmp_path: Path, docker_client: DockerClient, registry: RegistryServer
) -> AsyncIterator[ApiWorld]:
    async with api_world(tmp_path, docker_client, registry) as built:
        yield built


async def deployed(world: ApiWorld, tag: str) -> int:
    """Push and deploy `tag` to rel through the API; the deploy's id once it succeeded."""
    await world.push(tag)
    response = await world.client.post(world.path("rel"), json={"tag": tag})
    assert response.status_code == 202, response.text
    deploy_id: int = response.json()["deploy_id"]
    finished = (await follow_to_end(world.client, deploy_id))[-1][1]
    assert finished["status"] == "succeeded", finished["error"]
    return deploy_id


async def test_rollback_route_refuses_then_returns_to_the_previous_deploy(
    world: ApiWorld,
) -> None:
    path = f"/api/projects/{world.project_id}/stages/rel/rollback"
    assert (await world.client.get(path)).json() is None
    refused = await world.client.post(path)
    assert refused.status_code == 409
    assert "no previous successful deploy" in refused.text

    first = await deployed(world, "v1")
    await deployed(world, "v2")
    target = (await world.client.get(path)).json()
    assert target["deploy_id"] == first and target["tag"] == "v1" and target["image_present"]

    accepted = await world.client.post(path)
    assert accepted.status_code == 202, accepted.text
    finished = (await follow_to_end(world.client, accepted.json()["deploy_id"]))[-1][1]
    assert finished["status"] == "succeeded", finished["error"]
    assert finished["tag"] == "v1" and finished["digest"] == target["digest"]
    assert finished["trigger"] == "rollback" and finished["rollback_of"] == first
    unknown = await world.client.post(f"/api/projects/{world.project_id}/stages/nope/rollback")
    assert unknown.status_code == 404
