"""The deploy flow against the real engine and registry (no proxy configured here).

Routing through NPM and nginx is covered in test_deploy_routing.py.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable
from pathlib import Path

from docker import DockerClient

from services.deploy.deployer import DeployRequest
from services.store.models import DeployStatus, DeployTrigger, InstanceStatus
from services.types import LABEL_DEPLOY, LABEL_INSTANCE, LABEL_STAGE, LABEL_TAG
from tests.support.docker_env import async_wait_until
from tests.support.images import build_test_image
from tests.support.listener import Listener
from tests.support.receiver import FakeReceiver
from tests.support.registry_server import RegistryServer
from tests.support.world import World, make_world


async def test_successful_deploy_runs_labelled_healthy_container(world: World) -> None:
    digest = await world.push("dev-1")
    deploy = await world.deploy("dev-1")

    assert deploy.status == DeployStatus.SUCCEEDED, deploy.error
    assert deploy.digest == digest
    assert world.step_names(deploy) == ["check", "pull", "plan", "start", "health", "retire"]
    (instance,) = world.live()
    assert instance.status == InstanceStatus.HEALTHY and instance.healthy_at
    assert (await world.fetch(instance, "/tag.txt")).text.strip().endswith("dev-1")
    (container,) = world.containers()
    labels = container.labels
    assert labels[LABEL_STAGE] == "dev" and labels[LABEL_TAG] == "dev-1"
    assert labels[LABEL_INSTANCE] == str(instance.id) and labels[LABEL_DEPLOY] == str(deploy.id)
    assert container.attrs["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"
    assert world.network in container.attrs["NetworkSettings"]["Networks"]


async def test_max_instances_removes_the_oldest(world: World) -> None:
    for tag in ("dev-1", "dev-2", "dev-3"):
        await world.push(tag)
        assert (await world.deploy(tag)).status == DeployStatus.SUCCEEDED

    assert [i.tag for i in world.live()] == ["dev-2", "dev-3"]
    assert sorted(c.labels[LABEL_TAG] for c in world.containers()) == ["dev-2", "dev-3"]


async def test_failing_health_check_rolls_back_and_keeps_previous(world: World) -> None:
    await world.push("dev-1")
    await world.deploy("dev-1")
    await world.push("dev-2", variant="unhealthy")

    deploy = await world.deploy("dev-2")

    assert deploy.status == DeployStatus.FAILED
    assert deploy.step == "health" and "health check failed" in (deploy.error or "")
    (survivor,) = world.live()
    assert survivor.tag == "dev-1"
    assert (await world.fetch(survivor, "/health")).status_code == 200
    assert [c.labels[LABEL_TAG] for c in world.containers()] == ["dev-1"]


async def test_container_that_exits_fails_fast_with_exit_code(world: World) -> None:
    await world.push("dev-9", variant="exits")
    deploy = await world.deploy("dev-9")

    assert deploy.status == DeployStatus.FAILED and deploy.step == "health"
    assert "3" in (deploy.error or "")  # the exit code is named
    assert world.live() == [] and world.containers() == []


async def test_unknown_tag_is_a_clear_error_and_creates_nothing(world: World) -> None:
    deploy = await world.deploy("dev-does-not-exist")

    assert deploy.status == DeployStatus.FAILED and deploy.step == "pull"
    assert "not found" in (deploy.error or "").lower()
    assert world.live() == [] and world.containers() == []


async def test_registry_auth_failure_is_a_clear_error(world: World) -> None:
    await world.push("dev-1")
    assert world.project.registry_id is not None
    world.registries.update(world.project.registry_id, token="wrong-password")
    world.client.images.remove(f"{world.project.image}:dev-1", force=True)

    deploy = await world.deploy("dev-1")

    assert deploy.status == DeployStatus.FAILED and deploy.step == "pull"
    assert "wrong-password" not in (deploy.error or "")
    assert any(w in (deploy.error or "").lower() for w in ("auth", "credential", "denied"))
    assert world.containers() == []


async def test_same_digest_is_a_no_op_and_moved_tag_redeploys(world: World) -> None:
    await world.push("dev-1", marker="first")
    first = await world.deploy("dev-1")
    again = await world.deploy("dev-1")
    assert again.status == DeployStatus.SKIPPED
    (original,) = world.live()

    moved = await world.push("dev-1", marker="second")
    redeploy = await world.deploy("dev-1")

    assert redeploy.status == DeployStatus.SUCCEEDED and redeploy.digest == moved != first.digest
    (replacement,) = world.live()
    assert replacement.id != original.id and replacement.digest == moved
    assert (await world.fetch(replacement, "/tag.txt")).text.strip() == "second"
    assert len(world.containers()) == 1


async def test_concurrent_deploys_to_one_stage_are_serialised(world: World) -> None:
    for tag in ("dev-1", "dev-2", "dev-3"):
        await world.push(tag)
    assert world.project.id is not None
    requests = [DeployRequest(world.project.id, "dev", t) for t in ("dev-1", "dev-2", "dev-3")]

    results = await asyncio.gather(*(world.services.deployer.deploy(r) for r in requests))

    assert all(r.status == DeployStatus.SUCCEEDED for r in results), [r.error for r in results]
    spans = sorted((r.started_at, r.finished_at) for r in results)
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert end is not None and start is not None and end <= start  # never overlapping
    assert len(world.live()) == 2 and len(world.containers()) == 2


async def test_tag_not_matching_the_stage_is_refused(world: World) -> None:
    deploy = await world.deploy("v1.0.0", stage="dev")
    assert deploy.status == DeployStatus.REFUSED and "does not match" in (deploy.error or "")


async def test_promote_only_from_running_source_and_only_when_confirmed(world: World) -> None:
    await world.push("v1.0.0")
    refused = await world.deploy("v1.0.0", stage="prod", confirmed=True)
    assert refused.status == DeployStatus.REFUSED and "not running healthy" in (refused.error or "")

    assert (await world.deploy("v1.0.0", stage="rel")).status == DeployStatus.SUCCEEDED
    automatic = await world.deploy("v1.0.0", stage="prod", trigger=DeployTrigger.WEBHOOK)
    assert automatic.status == DeployStatus.REFUSED and "confirmation" in (automatic.error or "")
    promoted = await world.deploy("v1.0.0", stage="prod", confirmed=True)
    assert promoted.status == DeployStatus.SUCCEEDED, promoted.error


async def test_every_step_is_logged_with_timings(world: World) -> None:
    await world.push("dev-1")
    deploy = await world.deploy("dev-1")
    assert deploy.id is not None

    steps = world.deploys.steps(deploy.id)
    assert all(s.duration_ms is not None and s.duration_ms >= 0 for s in steps)
    messages = [line.message for line in world.deploys.log_lines(deploy.id)]
    assert any("healthy after" in m for m in messages)
    # pushed from this engine: the local copy has the registry's digest, so nothing is pulled
    assert f"{world.project.image}@{deploy.digest} is present and current: not pulled" in messages


async def test_missing_local_image_is_pulled(world: World) -> None:
    digest = await world.push("dev-1")
    world.client.images.remove(f"{world.project.image}:dev-1", force=True)

    deploy = await world.deploy("dev-1")

    assert deploy.status == DeployStatus.SUCCEEDED, deploy.error
    assert deploy.digest == digest
    assert deploy.id is not None
    messages = [line.message for line in world.deploys.log_lines(deploy.id)]
    assert f"pulled {world.project.image}@{digest}" in messages
    world.client.images.get(f"{world.project.image}@{digest}")  # present again, by digest


async def test_local_tag_pointing_elsewhere_is_pulled_not_trusted(world: World) -> None:
    digest = await world.push("dev-1", marker="from-the-registry")
    ref = f"{world.project.image}:dev-1"
    await asyncio.to_thread(build_test_image, world.client, ref, marker="local-impostor")

    deploy = await world.deploy("dev-1")

    assert deploy.status == DeployStatus.SUCCEEDED, deploy.error
    assert deploy.digest == digest and deploy.id is not None
    messages = [line.message for line in world.deploys.log_lines(deploy.id)]
    assert any(f"{world.project.image}@{digest} is present" in m for m in messages)
    (instance,) = world.live()
    assert (await world.fetch(instance, "/tag.txt")).text.strip() == "from-the-registry"


async def test_present_image_is_not_used_when_the_registry_refuses(world: World) -> None:
    await world.push("dev-1")  # present locally with the registry's digest
    assert world.project.registry_id is not None
    world.registries.update(world.project.registry_id, token="wrong-password")

    deploy = await world.deploy("dev-1")

    assert deploy.status == DeployStatus.FAILED and deploy.step == "pull"
    assert "wrong-password" not in (deploy.error or "")
    assert world.live() == [] and world.containers() == []


async def test_success_and_failure_are_notified_with_url_step_and_error(
    docker_client: DockerClient, registry: RegistryServer, tmp_path: Path
) -> None:
    with FakeReceiver() as receiver:
        async with make_world(
            docker_client, registry, tmp_path, notification_urls=[receiver.url]
        ) as world:
            await world.push("dev-1")
            await world.push("dev-2", variant="unhealthy")
            ok = await world.deploy("dev-1")
            failed = await world.deploy("dev-2")
            await async_wait_until(
                _count(receiver, 2), timeout=10, message="notifications never arrived"
            )

    by_event = {body["event"]: body for body in receiver.bodies}
    succeeded, failure = by_event["deploy_succeeded"], by_event["deploy_failed"]
    assert (succeeded["tag"], succeeded["deploy_id"], succeeded["stage"]) == ("dev-1", ok.id, "dev")
    assert succeeded["project"] == world.project.name
    assert (failure["tag"], failure["step"], failure["deploy_id"]) == ("dev-2", "health", failed.id)
    assert "health check failed" in failure["error"]


async def test_a_dead_notification_endpoint_never_fails_a_deploy(
    docker_client: DockerClient, registry: RegistryServer, tmp_path: Path
) -> None:
    dead = "http://127.0.0.1:9/hook"  # discard port: connection refused
    async with make_world(docker_client, registry, tmp_path, notification_urls=[dead]) as world:
        await world.push("dev-1")
        assert (await world.deploy("dev-1")).status == DeployStatus.SUCCEEDED


def _count(receiver: FakeReceiver, wanted: int) -> Callable[[], Awaitable[bool]]:
    async def enough() -> bool:
        return len(receiver.bodies) >= wanted

    return enough


async def test_an_image_on_another_host_than_its_registry_is_never_pulled(world: World) -> None:
    """The row is forced into the database (saving it is refused): a deploy still must not let
    Docker send the registry's credentials to the image's host."""
    assert world.project.id is not None
    await world.push("dev-1")
    with Listener() as listener:
        image = f"{listener.host}/demo/{world.project.name}"
        await asyncio.to_thread(world.projects.update, world.project.id, image=image)
        deploy = await world.deploy("dev-1")

    assert (deploy.status, deploy.step) == (DeployStatus.REFUSED, "check")
    assert "registry 'test' is at" in (deploy.error or "")
    assert world.step_names(deploy) == ["check"]
    assert listener.requests == [] and world.registry.password not in listener.text
    assert world.containers() == []
