"""The secret webhook end to end: real registry, engine and database behind the HTTP route."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from docker import DockerClient
from sqlmodel import select

from app.wiring import DetectionServices
from services.auth.limits import RequestRate
from services.store.models import DeployStatus, DeployTrigger, Project, SeenTag
from tests.support.detection import (
    counter,
    deploys_of,
    detected,
    hook_path,
    receiver_for,
    settled,
    webhook_client,
)
from tests.support.docker_env import async_wait_until
from tests.support.images import push_test_image
from tests.support.receiver import FakeReceiver
from tests.support.registry_server import RegistryServer
from tests.support.world import World, make_world


@pytest.fixture
async def world(
    docker_client: DockerClient, registry: RegistryServer, tmp_path: Path, receiver: FakeReceiver
) -> AsyncIterator[World]:
    async with make_world(
        docker_client, registry, tmp_path, notification_urls=[receiver.url]
    ) as built:
        yield built


@pytest.fixture
async def detection(world: World) -> AsyncIterator[DetectionServices]:
    async with detected(world) as services:
        yield services


@pytest.fixture
async def client(detection: DetectionServices) -> AsyncIterator[httpx.AsyncClient]:
    async with webhook_client(detection) as http:
        yield http


async def test_a_dev_tag_is_queued_at_once_and_deployed(
    world: World, client: httpx.AsyncClient
) -> None:
    digest = await world.push("dev-1")
    answer = await client.post(hook_path(world), json={"image": f"{world.project.image}:dev-1"})

    assert answer.status_code == 202
    (result,) = answer.json()["results"]
    (decision,) = result["decisions"]
    assert result["project"] == world.project.name
    assert (decision["stage"], decision["action"], decision["decision"]) == (
        "dev",
        "queued",
        "deploy queued",
    )
    (deploy,) = await settled(world, 1)
    assert (deploy.id, deploy.status, deploy.trigger) == (
        decision["deploy_id"],
        "succeeded",
        "webhook",
    )
    assert deploy.digest == digest


async def test_a_release_tag_waits_and_prod_never_deploys_automatically(
    world: World, client: httpx.AsyncClient, receiver: FakeReceiver
) -> None:
    await world.push("v1.0.0")
    answer = await client.post(hook_path(world), json={"image": f"{world.project.image}:v1.0.0"})

    decisions = {d["stage"]: d for d in answer.json()["results"][0]["decisions"]}
    assert decisions["rel"]["decision"] == "waiting for manual deploy"
    assert decisions["prod"]["action"] == "waiting"
    assert "confirmation" in decisions["prod"]["decision"]
    assert "once it runs healthy in stage 'rel'" in decisions["prod"]["decision"]
    assert deploys_of(world) == []
    await async_wait_until(counter(receiver.bodies, 1), timeout=10, message="no notification")
    assert receiver.bodies[0]["event"] == "tag_waiting"


async def test_the_same_push_twice_is_decided_once(world: World, client: httpx.AsyncClient) -> None:
    await world.push("v2.0.0")
    body = {"image": f"{world.project.image}:v2.0.0"}
    await client.post(hook_path(world), json=body)
    again = await client.post(hook_path(world), json=body)

    (decision,) = again.json()["results"][0]["decisions"]
    assert decision["action"] == "ignored" and decision["decision"].startswith(
        "ignored: already seen"
    )


async def test_made_up_digests_for_one_tag_queue_one_deploy_of_the_registrys_digest(
    world: World, client: httpx.AsyncClient
) -> None:
    digest = await world.push("dev-1")
    image = f"{world.project.image}:dev-1"
    made_up = [f"sha256:{secrets.token_hex(32)}" for _ in range(4)]
    answers = [
        await client.post(hook_path(world), json={"image": image, "digest": d}) for d in made_up
    ]
    missing = await client.post(
        hook_path(world), json={"image": f"{image}x", "digest": made_up[0]}
    )  # a tag the registry does not have: nothing to deploy, whatever digest is claimed

    decisions = [a.json()["results"][0]["decisions"][0] for a in answers]
    assert [d["action"] for d in decisions] == ["queued", "ignored", "ignored", "ignored"]
    assert all("already seen" in d["decision"] for d in decisions[1:])
    (note,) = missing.json()["results"][0]["decisions"]
    assert note["action"] == "ignored" and "not found in the registry" in note["decision"]
    (deploy,) = await settled(world, 1)
    assert deploy.digest == digest and deploy.status == DeployStatus.SUCCEEDED


async def test_a_push_while_its_tag_waits_in_the_queue_is_merged_into_that_deploy(
    world: World, client: httpx.AsyncClient
) -> None:
    assert world.project.id is not None
    await world.push("dev-2")
    body = {"image": f"{world.project.image}:dev-2"}
    async with world.services.deployer.exclusive(world.project.id, ["dev"]):  # dev is busy
        first = await client.post(hook_path(world), json=body)
        newer = await world.push("dev-2", marker="rebuilt")  # same tag, another digest
        second = await client.post(hook_path(world), json=body)

    (queued,) = first.json()["results"][0]["decisions"]
    (merged,) = second.json()["results"][0]["decisions"]
    assert queued["action"] == "queued"
    assert merged["action"] == "merged" and merged["deploy_id"] == queued["deploy_id"]
    assert "already waiting in the queue" in merged["decision"]
    (deploy,) = await settled(world, 1)
    assert deploy.id == queued["deploy_id"] and deploy.digest == newer  # the newest image
    await world.push("dev-2", marker="again")  # once started, a newer push gets its own deploy
    again = await client.post(hook_path(world), json=body)
    assert again.json()["results"][0]["decisions"][0]["action"] == "queued"
    assert len(await settled(world, 2)) == 2


async def test_each_address_is_limited_and_told_when_to_retry(
    world: World, detection: DetectionServices
) -> None:
    rate = RequestRate(rate=0.1, burst=3)
    receiver = receiver_for(world, detection, rate, clock=lambda: 1000.0)  # time stands still
    await world.push("v3.0.0")
    body = {"image": f"{world.project.image}:v3.0.0"}
    async with webhook_client(detection, receiver=receiver, address="203.0.113.5") as flooder:
        guesses = [await flooder.post("/api/webhook/guess", json=body) for _ in range(3)]
        limited = await flooder.post(hook_path(world), json=body)
    async with webhook_client(detection, receiver=receiver, address="198.51.100.8") as other:
        served = await other.post(hook_path(world), json=body)

    assert [g.status_code for g in guesses] == [404, 404, 404]
    assert limited.status_code == 429 and limited.headers["retry-after"] == "10"
    assert "too many requests" in limited.json()["detail"]
    assert served.status_code == 202
    assert [row.tag for row in _seen_rows(world)] == ["v3.0.0"]  # only the served one routed


async def test_gitea_and_github_package_events_are_accepted(
    world: World, client: httpx.AsyncClient, registry: RegistryServer
) -> None:
    await world.push("dev-7")
    digest = await world.push("dev-8")
    gitea = _gitea_event(world, "dev-7", registry)
    github = _github_event(world, "dev-8", digest)

    first = await client.post(
        hook_path(world), json=gitea, headers={"X-Gitea-Event-Type": "package"}
    )
    second = await client.post(hook_path(world), json=github, headers={"X-GitHub-Event": "package"})

    assert first.status_code == second.status_code == 202
    assert first.json()["results"][0]["image"] == f"{world.project.image}:dev-7"
    assert second.json()["results"][0]["decisions"][0]["action"] == "queued"
    deploys = await settled(world, 2)
    assert [d.tag for d in deploys] == ["dev-7", "dev-8"]
    assert deploys[1].digest == digest


async def test_a_signed_gitea_event_must_match_the_url_secret(
    world: World, client: httpx.AsyncClient, registry: RegistryServer
) -> None:
    await world.push("dev-3")
    raw = json.dumps(_gitea_event(world, "dev-3", registry)).encode()
    good = hmac.new(world.settings.webhook_secret().encode(), raw, hashlib.sha256).hexdigest()

    forged = await client.post(
        hook_path(world), content=raw, headers={"X-Gitea-Signature": "0" * 64}
    )
    signed = await client.post(hook_path(world), content=raw, headers={"X-Gitea-Signature": good})

    assert forged.status_code == 401 and "X-Gitea-Signature".lower() in forged.json()["detail"]
    assert signed.status_code == 202
    assert len(await settled(world, 1)) == 1


async def test_wrong_secrets_all_get_the_same_404_and_change_nothing(
    world: World, client: httpx.AsyncClient
) -> None:
    secret = world.settings.webhook_secret()
    guesses = ["x", secret[:-1] + ("0" if secret[-1] != "0" else "1"), secret.upper(), "a" * 300]
    guesses += ["%C3%A9t%C3%A9", secret + "x", "-"]
    body = {"image": f"{world.project.image}:dev-1"}
    answers = [await client.post(f"/api/webhook/{guess}", json=body) for guess in guesses]
    answers.append(await client.post("/api/webhook/nope", content=b"{" * 100_000))

    assert {a.status_code for a in answers} == {404}
    assert {a.content for a in answers} == {b'{"detail":"Not Found"}'}
    assert {tuple(sorted(a.headers.items())) for a in answers} == {
        tuple(sorted(answers[0].headers.items()))
    }
    assert deploys_of(world) == [] and _seen_rows(world) == []


async def test_regenerating_the_secret_locks_the_old_url_out_at_once(
    world: World, client: httpx.AsyncClient
) -> None:
    old = hook_path(world)
    world.settings.regenerate_webhook_secret()
    body = {"image": f"{world.project.image}:v9.0.0"}

    assert (await client.post(old, json=body)).status_code == 404
    assert (await client.post(hook_path(world), json=body)).status_code == 202


@pytest.mark.parametrize(
    ("content", "status", "field"),
    [
        (b"not json", 400, None),
        (b"[1, 2]", 422, None),
        (b'{"image": 42}', 422, "image"),
        (b'{"image": "Not A Reference!"}', 422, "image"),
        (b'{"image": "127.0.0.1:5000/demo/app"}', 422, "image"),
        (b'{"image": "127.0.0.1:5000/demo/app:v1", "digest": "md5:1"}', 422, "digest"),
        (b'{"action": "created", "package": {"type": "container"}}', 422, "package"),
        (b"{" * 70_000, 413, None),
    ],
)
async def test_bad_bodies_are_refused_naming_the_problem(
    world: World, client: httpx.AsyncClient, content: bytes, status: int, field: str | None
) -> None:
    answer = await client.post(hook_path(world), content=content)

    assert answer.status_code == status, answer.text
    if field:
        assert answer.json()["detail"][0]["loc"][:2] == ["body", field]
    assert deploys_of(world) == [] and _seen_rows(world) == []


async def test_an_allowed_unknown_image_becomes_a_project_and_is_deployed(
    world: World, client: httpx.AsyncClient, registry: RegistryServer
) -> None:
    world.settings.update_global(auto_create_allow=[f"{registry.host}/auto/*"])
    await _push_repo(world, "auto/shop", "dev-1")
    answer = await client.post(hook_path(world), json={"image": f"{registry.host}/auto/shop:dev-1"})

    assert answer.json()["results"][0]["decisions"][0]["action"] == "creating"
    project = await async_wait_until(
        lambda: _project_named(world, "shop"), timeout=30, message="project never created"
    )
    (deploy,) = await settled(world, 1, project_id=project.id)
    assert deploy.status == DeployStatus.SUCCEEDED, deploy.error
    assert deploy.trigger == DeployTrigger.WEBHOOK
    assert project.port == 8080 and project.image == f"{registry.host}/auto/shop"
    assert project.registry_id == world.project.registry_id  # credentials of the known registry
    assert project.id is not None
    (stage,) = world.projects.stages(project.id)
    assert (stage.name, stage.tag_pattern, stage.auto_deploy) == ("dev", "dev-*", True)


async def test_an_unknown_image_off_the_allow_list_is_only_reported(
    world: World, client: httpx.AsyncClient, registry: RegistryServer, receiver: FakeReceiver
) -> None:
    body = {"image": f"{registry.host}/elsewhere/tool:dev-1"}
    first = await client.post(hook_path(world), json=body)
    await client.post(hook_path(world), json=body)

    (decision,) = first.json()["results"][0]["decisions"]
    assert decision["action"] == "ignored" and "allow-list" in decision["decision"]
    await async_wait_until(counter(receiver.bodies, 1), timeout=10, message="no notification")
    assert len(world.projects.all()) == 1 and world.deploys.recent() == []
    assert len(receiver.bodies) == 1  # reported once, not per delivery


async def test_an_auto_promote_stage_takes_only_tags_running_in_its_source(
    world: World, client: httpx.AsyncClient, detection: DetectionServices
) -> None:
    assert world.project.id is not None
    world.projects.add_stage(
        world.project.id, name="stable", tag_pattern="v*", auto_deploy=True, promote_from="rel"
    )
    await world.push("v1.0.0")
    early = await client.post(hook_path(world), json={"image": f"{world.project.image}:v1.0.0"})
    stable = {d["stage"]: d for d in early.json()["results"][0]["decisions"]}["stable"]
    assert (
        stable["action"] == "refused" and "not running healthy in stage 'rel'" in stable["decision"]
    )
    refused = world.deploys.get(stable["deploy_id"])
    assert refused.status == DeployStatus.REFUSED and refused.error

    await world.push("v1.1.0")
    assert (await world.deploy("v1.1.0", stage="rel")).status == DeployStatus.SUCCEEDED
    assert await detection.quick.promotable_tags(world.project.id, "stable") == ["v1.1.0"]
    later = await client.post(hook_path(world), json={"image": f"{world.project.image}:v1.1.0"})
    stable = {d["stage"]: d for d in later.json()["results"][0]["decisions"]}["stable"]
    assert stable["action"] == "queued"
    await settled(world, 3)
    assert world.deploys.get(stable["deploy_id"]).status == DeployStatus.SUCCEEDED
    # prod (confirm + promote_from rel) by hand: refused for a tag not in rel, taken for one in it
    not_in_rel = await world.deploy("v1.0.0", stage="prod", confirmed=True)
    assert not_in_rel.status == DeployStatus.REFUSED
    assert (await world.deploy("v1.1.0", stage="prod", confirmed=True)).status == "succeeded"


def _gitea_event(world: World, tag: str, registry: RegistryServer) -> dict[str, Any]:
    name = world.project.name
    return {
        "action": "created",
        "package": {
            "type": "container",
            "name": name,
            "version": tag,
            "owner": {"login": "demo"},
            "html_url": f"{registry.url}/demo/-/packages/container/{name}/{tag}",
        },
        "sender": {"login": "ci"},
    }


def _github_event(world: World, tag: str, digest: str) -> dict[str, Any]:
    version = {
        "version": digest,
        "package_url": f"{world.project.image}:{tag}",
        "container_metadata": {"tag": {"name": tag, "digest": digest}},
    }
    return {
        "action": "published",
        "package": {
            "name": world.project.name,
            "package_type": "CONTAINER",
            "owner": {"login": "Demo"},
            "package_version": version,
        },
    }


async def _push_repo(world: World, repo: str, tag: str) -> str:
    return await asyncio.to_thread(push_test_image, world.client, world.registry, repo, tag)


async def _project_named(world: World, name: str) -> Project | None:
    return world.projects.get_by_name(name)


def _seen_rows(world: World) -> list[SeenTag]:
    with world.db.session() as session:
        return list(session.exec(select(SeenTag)).all())


async def test_while_the_process_stops_pushes_are_told_to_retry_and_nothing_is_decided(
    world: World, detection: DetectionServices
) -> None:
    deployer = world.services.deployer
    async with webhook_client(detection, accepting=lambda: deployer.accepting) as http:
        deployer.stop_accepting()
        secret = world.settings.webhook_secret()
        body = {"image": f"{world.project.image}:dev-1"}
        answer = await http.post(f"/api/webhook/{secret}", json=body)
    assert answer.status_code == 503
    assert answer.headers["retry-after"] == "30"
    assert answer.json() == {"detail": "Docker Watcher is restarting; try again shortly"}
    assert deploys_of(world) == [] and _seen_rows(world) == []
