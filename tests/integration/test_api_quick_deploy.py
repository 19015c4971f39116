"""Quick deploy through the API: inspect an image in the real registry, accept the proposal."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from docker import DockerClient

from tests.support.api_app import errors
from tests.support.api_world import ApiWorld, api_world, follow_to_end
from tests.support.audit import audit_rows
from tests.support.registry_server import RegistryServer


@pytest.fixture
async def world(
    tmp_path: Path, docker_client: DockerClient, registry: RegistryServer
) -> AsyncIterator[ApiWorld]:
    async with api_world(tmp_path, docker_client, registry) as built:
        yield built


async def test_inspect_then_quick_deploy_creates_the_project_and_deploys(
    world: ApiWorld, registry: RegistryServer
) -> None:
    digest = await world.push("dev-7")
    reference = f"{registry.host}/{world.repo}:dev-7"

    inspected = await world.client.post("/api/deploy/inspect", json={"reference": reference})
    assert inspected.status_code == 200, inspected.text
    proposal = inspected.json()
    assert (proposal["port"], proposal["digest"], proposal["tag"]) == (8080, digest, "dev-7")
    assert proposal["existing_project_id"] == world.project_id  # same image as the world's
    assert proposal["name_clash"] and proposal["registry_id"] == world.registry_id

    accepted = {
        "image": proposal["image"],
        "tag": proposal["tag"],
        "name": "quick-one",
        "port": proposal["port"],
        "healthcheck": "/health",
        "registry_id": proposal["registry_id"],
        "stage": {**proposal["stage"], "name": "preview"},
    }
    queued = await world.client.post("/api/deploy/quick", json=accepted)
    assert queued.status_code == 202, queued.text
    finished = (await follow_to_end(world.client, queued.json()["deploy_id"]))[-1][1]

    assert finished["status"] == "succeeded", finished["error"]
    project = (await world.client.get(f"/api/projects/{queued.json()['project_id']}")).json()
    assert project["name"] == "quick-one" and project["healthcheck"] == "/health"
    assert [s["name"] for s in project["stages"]] == ["preview"]
    assert project["stages"][0]["instances"][0]["status"] == "healthy"
    again = await world.client.post("/api/deploy/quick", json=accepted)
    assert "already exists" in errors(again, 409)[None]
    (audited,) = audit_rows(world.app.runtime.db, action="deploy", project="quick-one")
    assert (audited.actor, audited.detail["trigger"], audited.detail["digest"]) == (
        "admin",
        "quick",
        digest,
    )


async def test_bad_references_and_proposals_name_the_field(
    world: ApiWorld, registry: RegistryServer
) -> None:
    bad_reference = await world.client.post("/api/deploy/inspect", json={"reference": "a b"})
    missing = await world.client.post(
        "/api/deploy/inspect", json={"reference": f"{registry.host}/{world.repo}:nope"}
    )
    proposal = {
        "image": f"{registry.host}/{world.repo}",
        "tag": "dev-1",
        "name": "x",
        "port": 8080,
        "stage": {"name": "dev", "tag_pattern": "v*", "auto_deploy": True},
    }
    pattern = await world.client.post("/api/deploy/quick", json=proposal)
    registry_gone = await world.client.post(
        "/api/deploy/quick", json={**proposal, "registry_id": 999}
    )
    matching = {**proposal, "stage": {**proposal["stage"], "tag_pattern": "dev-*"}}
    foreign = {**matching, "image": "ghcr.io/me/x", "registry_id": world.registry_id}
    elsewhere = await world.client.post("/api/deploy/quick", json=foreign)
    hostile = {**proposal, "stage": {**proposal["stage"], "tag_pattern": 'dev-*" x="'}}
    quoted = await world.client.post("/api/deploy/quick", json=hostile)

    assert "reference" in errors(bad_reference, 422)
    assert "not found in its registry" in errors(missing, 404)[None]
    assert "does not match tag 'dev-1'" in errors(pattern, 422)["stage.tag_pattern"]
    assert errors(registry_gone, 422) == {"registry_id": "registry 999 does not exist"}
    assert "credentials are only sent there" in errors(elsewhere, 422)["image"]
    assert "may contain only" in errors(quoted, 422)["stage.tag_pattern"]
    listed = (await world.client.get("/api/projects")).json()
    assert [p["project"]["id"] for p in listed] == [world.project_id]  # nothing was created
