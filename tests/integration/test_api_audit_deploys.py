"""Deploys, promotions, rollbacks and instance controls through the API (real engine and
registry) each leave exactly one audit row naming who asked; detection deploys name the webhook.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from docker import DockerClient

from services.store.models import ActorKind, AuditEvent, AuditOutcome
from tests.support.api_world import ApiWorld, api_world, follow_to_end
from tests.support.audit import audit_rows
from tests.support.registry_server import RegistryServer

ADDRESS = "127.0.0.1"


@pytest.fixture
async def world(
    tmp_path: Path, docker_client: DockerClient, registry: RegistryServer
) -> AsyncIterator[ApiWorld]:
    async with api_world(tmp_path, docker_client, registry) as built:
        yield built


def rows(world: ApiWorld, **where: str) -> list[AuditEvent]:
    return audit_rows(world.app.runtime.db, project=world.name, **where)


async def deployed(world: ApiWorld, tag: str, stage: str = "dev", **extra: object) -> int:
    response = await world.client.post(world.path(stage), json={"tag": tag, **extra})
    assert response.status_code == 202, response.text
    deploy_id: int = response.json()["deploy_id"]
    await follow_to_end(world.client, deploy_id)
    return deploy_id


def deploy_row(world: ApiWorld, deploy_id: int) -> AuditEvent:
    (found,) = [r for r in rows(world) if r.detail.get("deploy_id") == deploy_id]
    return found


async def test_each_deploy_and_control_leaves_one_row_by_its_user(world: ApiWorld) -> None:
    digest = await world.push("dev-1")
    first = await deployed(world, "dev-1")
    failed = await deployed(world, "dev-404")  # never pushed: fails at the pull
    (instance,) = (await world.client.get(world.path())).json()
    base = f"{world.path()}/{instance['id']}"
    for action in ("stop", "restart", "start"):
        assert (await world.client.post(f"{base}/{action}")).status_code == 200
    assert (await world.client.delete(base)).status_code == 204

    ok = deploy_row(world, first)
    assert (ok.action, ok.actor, ok.actor_kind, ok.address) == (
        "deploy",
        "admin",
        ActorKind.USER,
        ADDRESS,
    )
    assert (ok.outcome, ok.stage_name, ok.detail["tag"], ok.detail["digest"]) == (
        AuditOutcome.OK,
        "dev",
        "dev-1",
        digest,
    )
    bad = deploy_row(world, failed)
    assert (bad.action, bad.actor, bad.outcome) == ("deploy", "admin", AuditOutcome.FAILED)
    assert bad.message  # why it failed
    assert len(rows(world, action="deploy")) == 2
    deploys = world.app.runtime.stores.deploys
    assert deploys.get(first).actor == deploys.get(failed).actor == "admin"
    for action in ("stop", "restart", "start", "remove"):
        (control,) = rows(world, action=action)
        assert (control.actor, control.address, control.outcome) == (
            "admin",
            ADDRESS,
            AuditOutcome.OK,
        )
        assert (control.stage_name, control.instance_id) == ("dev", instance["id"])


async def test_promotions_rollbacks_and_webhook_deploys_name_their_actor(
    world: ApiWorld,
) -> None:
    await world.push("v1")
    await deployed(world, "v1", "rel")
    promoted = await deployed(world, "v1", "prod", confirmed=True)
    await world.push("dev-1")
    await deployed(world, "dev-1")
    await world.push("dev-2")
    dev = {"name": "dev", "tag_pattern": "dev-*", "max_instances": 2, "auto_deploy": True}
    stage_url = f"/api/projects/{world.project_id}/stages/dev"
    assert (await world.client.put(stage_url, json=dev)).status_code == 200
    secret = world.app.runtime.stores.settings.webhook_secret()
    image = {"image": f"{world.registry.host}/{world.repo}:dev-2"}
    hook = await world.client.post(f"/api/webhook/{secret}", json=image)
    assert hook.status_code == 202, hook.text
    (decision,) = hook.json()["results"][0]["decisions"]
    assert decision["action"] == "queued", decision
    await follow_to_end(world.client, decision["deploy_id"])
    rollback = await world.client.post(f"/api/projects/{world.project_id}/stages/dev/rollback")
    assert rollback.status_code == 202, rollback.text
    await follow_to_end(world.client, rollback.json()["deploy_id"])

    promote = deploy_row(world, promoted)
    assert (promote.action, promote.actor, promote.outcome) == (
        "promote",
        "admin",
        AuditOutcome.OK,
    )
    pushed = deploy_row(world, decision["deploy_id"])
    assert (pushed.action, pushed.actor, pushed.actor_kind, pushed.address) == (
        "deploy",
        "webhook",
        ActorKind.WEBHOOK,
        "",
    )
    assert pushed.detail["tag"] == "dev-2"
    back = deploy_row(world, rollback.json()["deploy_id"])
    assert (back.action, back.actor, back.address, back.detail["tag"]) == (
        "rollback",
        "admin",
        ADDRESS,
        "dev-1",
    )
    assert len(rows(world, action="promote")) == len(rows(world, action="rollback")) == 1
    assert world.app.runtime.stores.deploys.get(decision["deploy_id"]).actor == "webhook"
