"""Deploying and controlling instances through the API, against the real engine and registry.

The deploy log is read as server-sent events; a deploy's end is the end of its stream, so no
test waits on a clock.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from docker import DockerClient

from services.store.models import DeployStatus
from tests.support.api_app import errors, sign_in
from tests.support.api_world import ApiWorld, api_world, follow_to_end, read_events, served
from tests.support.registry_server import RegistryServer


@pytest.fixture
async def world(
    tmp_path: Path, docker_client: DockerClient, registry: RegistryServer
) -> AsyncIterator[ApiWorld]:
    async with api_world(tmp_path, docker_client, registry) as built:
        yield built


async def deploy(world: ApiWorld, tag: str, stage: str = "dev", **extra: object) -> int:
    response = await world.client.post(world.path(stage), json={"tag": tag, **extra})
    assert response.status_code == 202, response.text
    body = response.json()
    assert (
        body["status"] == "queued" and body["log_url"] == f"/api/deploys/{body['deploy_id']}/logs"
    )
    deploy_id: int = body["deploy_id"]
    return deploy_id


async def test_deploy_follow_its_log_then_stop_start_restart_and_remove(world: ApiWorld) -> None:
    digest = await world.push("dev-1")
    deploy_id = await deploy(world, "dev-1")

    events = await follow_to_end(world.client, deploy_id)

    kinds = [kind for kind, _ in events]
    assert kinds[-1] == "finished" and kinds.count("finished") == 1
    finished = events[-1][1]
    assert finished["status"] == "succeeded" and finished["digest"] == digest, finished["error"]
    messages = [data["message"] for kind, data in events if kind == "log"]
    # pushed from this engine, so the local copy already has the registry's digest
    assert any(m.endswith("@" + digest + " is present and current: not pulled") for m in messages)
    assert {data["name"] for kind, data in events if kind == "step"} >= {"pull", "health"}

    (instance,) = (await world.client.get(world.path())).json()
    assert instance["status"] == "healthy" and instance["tag"] == "dev-1"
    base = f"{world.path()}/{instance['id']}"
    detail = (await world.client.get(f"/api/deploys/{deploy_id}")).json()
    assert [s["name"] for s in detail["steps"]][:2] == ["check", "pull"]
    history = await world.client.get("/api/deploys", params={"project_id": world.project_id})
    assert [d["id"] for d in history.json()] == [deploy_id]

    stopped = (await world.client.post(f"{base}/stop")).json()
    (container,) = world.containers()
    container.reload()
    assert stopped["status"] == "stopped" and container.status == "exited"
    # restart before start: a stopped container restarts at once, without a 10 s stop grace
    assert (await world.client.post(f"{base}/restart")).json()["status"] == "starting"
    container.reload()
    assert container.status == "running"
    assert (await world.client.post(f"{base}/start")).json()["status"] == "starting"
    logs = await world.client.get(f"{base}/logs", params={"tail": 5})
    assert logs.status_code == 200 and logs.headers["content-type"].startswith("text/plain")
    assert errors(await world.client.post(f"{base}/pause"), 422)

    assert (await world.client.delete(base)).status_code == 204
    assert world.containers() == []
    assert (await world.client.get(world.path())).json() == []
    assert errors(await world.client.delete(base), 404)


async def test_rule_breaking_deploys_are_refused_before_anything_is_queued(
    world: ApiWorld,
) -> None:
    mismatch = await world.client.post(world.path("dev"), json={"tag": "v1"})
    unconfirmed = await world.client.post(world.path("prod"), json={"tag": "v1"})
    not_promotable = await world.client.post(
        world.path("prod"), json={"tag": "v1", "confirmed": True}
    )
    bad_tag = await world.client.post(world.path("dev"), json={"tag": "dev 1"})
    no_stage = await world.client.post(world.path("qa"), json={"tag": "v1"})

    assert "does not match stage 'dev'" in errors(mismatch, 422)["tag"]
    assert "confirmed" in errors(unconfirmed, 422)
    assert "not running healthy in stage 'rel'" in errors(not_promotable, 422)["tag"]
    assert "tag" in errors(bad_tag, 422)
    assert errors(no_stage, 404) == {None: "stage 'qa' not found"}
    assert (await world.client.get("/api/deploys")).json() == []


async def test_a_failing_deploy_ends_its_stream_with_the_error(world: ApiWorld) -> None:
    deploy_id = await deploy(world, "dev-404")  # never pushed

    events = await follow_to_end(world.client, deploy_id)

    kind, finished = events[-1]
    assert kind == "finished" and finished["status"] == "failed" and finished["step"] == "pull"
    assert any(k == "log" and d["level"] == "error" for k, d in events)
    assert world.containers() == []


async def test_deleting_the_project_removes_its_containers(world: ApiWorld) -> None:
    await world.push("dev-1")
    await follow_to_end(world.client, await deploy(world, "dev-1"))
    assert len(world.containers()) == 1

    assert (await world.client.delete(f"/api/projects/{world.project_id}")).status_code == 204

    assert world.containers() == []
    assert errors(await world.client.get(f"/api/projects/{world.project_id}"), 404)
    history = (await world.client.get("/api/deploys")).json()
    assert history[0]["project_id"] is None  # the history stays


async def test_the_log_stream_is_live_over_a_real_server(world: ApiWorld) -> None:
    await world.push("dev-slow", variant="slow")  # healthy only after its 3 s start
    deploys = world.app.runtime.stores.deploys
    async with served(world.app.api) as url, httpx.AsyncClient(base_url=url) as client:
        await sign_in(client)
        deploy_id = await deploy(world, "dev-slow")
        async with client.stream("GET", f"/api/deploys/{deploy_id}/logs") as response:
            seen_while_running = []
            async for kind, data in read_events(response):
                if kind == "step" and data["name"] == "health" and data["status"] == "running":
                    seen_while_running.append(deploys.get(deploy_id).status)
                if kind == "finished":
                    break

    assert seen_while_running == [DeployStatus.RUNNING]  # sent before the deploy ended
    assert deploys.get(deploy_id).status == DeployStatus.SUCCEEDED


async def test_log_stream_of_an_unknown_deploy_is_not_found(world: ApiWorld) -> None:
    response = await world.client.get("/api/deploys/12345/logs")

    assert errors(response, 404) == {None: "deploy 12345 not found"}
    assert response.headers["content-type"] == "application/json"
