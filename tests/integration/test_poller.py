"""The poller against the real registry and engine: baseline, new tags, moved tags, restarts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from docker import DockerClient

from services.detect.poll_status import PollerOptions
from services.store.models import DeployStatus, DeployTrigger, InstanceStatus
from services.store.seen_tags import SeenState
from tests.support.detection import counter, deploys_of, detected, detection_for, settled
from tests.support.docker_env import async_wait_until
from tests.support.receiver import FakeReceiver
from tests.support.registry_server import RegistryServer
from tests.support.world import World, make_world

EVERY_CYCLE = PollerOptions(recheck_every=1)
NEVER_RECHECK = PollerOptions(recheck_every=10**6)


@pytest.fixture
async def world(
    docker_client: DockerClient, registry: RegistryServer, tmp_path: Path, receiver: FakeReceiver
) -> AsyncIterator[World]:
    async with make_world(
        docker_client, registry, tmp_path, notification_urls=[receiver.url]
    ) as built:
        built.settings.update_global(poll_interval=1)
        yield built


async def test_first_look_is_a_baseline_and_a_new_dev_tag_deploys(world: World) -> None:
    await world.push("dev-1")
    async with detected(world, EVERY_CYCLE) as detection:
        first = await detection.poller.poll_once()
        assert first.outcomes == [] and deploys_of(world) == []

        digest = await world.push("dev-2")
        second = await detection.poller.poll_once()

        (outcome,) = second.outcomes
        assert [(d.stage, d.action) for d in outcome.decisions] == [("dev", "queued")]
        (deploy,) = await settled(world, 1)
    assert (deploy.tag, deploy.trigger, deploy.status) == ("dev-2", DeployTrigger.POLL, "succeeded")
    assert deploy.digest == digest
    assert [i.tag for i in world.live("dev")] == ["dev-2"]


async def test_a_release_tag_waits_in_rel_and_is_notified_once(
    world: World, receiver: FakeReceiver
) -> None:
    async with detected(world, EVERY_CYCLE) as detection:
        await detection.poller.poll_once()  # baseline of an empty repository
        await world.push("v1.0.0")
        (outcome,) = (await detection.poller.poll_once()).outcomes
        again = await detection.poller.poll_once()
        await async_wait_until(counter(receiver.bodies, 1), timeout=10, message="no notification")

        assert [(d.stage, d.action) for d in outcome.decisions] == [
            ("rel", "waiting"),
            ("prod", "waiting"),
        ]
        assert again.outcomes == [] and deploys_of(world) == []
        assert world.project.id is not None
        seen = world.runtime.stores.seen.tags(world.project.id)
    assert [tag for tag, row in seen.items() if row.state == SeenState.AVAILABLE] == ["v1.0.0"]
    (note,) = receiver.bodies
    assert (note["event"], note["tag"], note["stage"]) == ("tag_waiting", "v1.0.0", "rel, prod")


async def test_a_tag_moved_to_a_new_digest_is_redeployed(world: World) -> None:
    await world.push("dev-1", marker="first")
    async with detected(world, EVERY_CYCLE) as detection:
        await detection.poller.poll_once()
        await world.deploy("dev-1")  # running before the move (the baseline never deploys)
        assert (await detection.poller.poll_once()).outcomes == []  # same digest: nothing

        moved = await world.push("dev-1", marker="second")
        (outcome,) = (await detection.poller.poll_once()).outcomes
        assert outcome.decisions[0].action == "queued"
        await settled(world, 2)
        (instance,) = world.live("dev")
        assert instance.digest == moved and instance.status == InstanceStatus.HEALTHY
        assert (await world.fetch(instance, "/tag.txt")).text.strip() == "second"


async def test_a_restart_never_redeploys_seen_tags(world: World) -> None:
    async with detected(world, EVERY_CYCLE) as detection:
        await detection.poller.poll_once()
        await world.push("dev-1")
        await detection.poller.poll_once()
        await settled(world, 1)

    restarted = detection_for(world, EVERY_CYCLE)  # new services over the same database
    for _ in range(3):
        assert (await restarted.poller.poll_once()).outcomes == []
    assert len(deploys_of(world)) == 1


async def test_an_idle_cycle_costs_one_request_per_project(world: World) -> None:
    others = [_extra_project(world, n) for n in range(3)]
    await world.push("dev-1")
    async with detected(world, NEVER_RECHECK) as detection:
        await detection.poller.poll_once()
        idle = await detection.poller.poll_once()
    assert idle.projects == 1 + len(others)
    assert idle.requests == idle.projects  # one tag list each, nothing else
    status = detection.poller.status()
    assert all(p.last_ok is not None and p.last_error is None for p in status.projects)


async def test_a_burst_of_new_tags_routes_only_the_newest(world: World) -> None:
    options = PollerOptions(new_per_cycle=1, recheck_every=10**6)
    async with detected(world, options) as detection:
        await detection.poller.poll_once()
        for tag in ("dev-1", "dev-2", "dev-3", "latest"):
            await world.push(tag)
        (outcome,) = (await detection.poller.poll_once()).outcomes
        await settled(world, 1)
        assert world.project.id is not None
        seen = world.runtime.stores.seen.tags(world.project.id)
    assert outcome.image.endswith(":dev-3")
    states = {tag: row.state for tag, row in seen.items()}
    assert states == {
        "dev-1": "superseded",
        "dev-2": "superseded",
        "dev-3": "deployed",
        "latest": "ignored",
    }


async def test_a_tag_deleted_and_pushed_again_counts_as_new(world: World) -> None:
    async with detected(world, NEVER_RECHECK) as detection:
        await world.push("dev-1")
        await detection.poller.poll_once()  # baseline holds dev-1
        assert world.project.id is not None
        await _delete_tag(world, "dev-1")
        await detection.poller.poll_once()
        assert "dev-1" not in world.runtime.stores.seen.tags(world.project.id)

        await world.push("dev-1", marker="again")
        (outcome,) = (await detection.poller.poll_once()).outcomes
        (deploy,) = await settled(world, 1)
    assert outcome.decisions[0].action == "queued" and deploy.status == DeployStatus.SUCCEEDED


def _extra_project(world: World, number: int) -> int:
    """Another project of the same registry (its repository need not exist)."""
    project = world.projects.create(
        name=f"{world.project.name}-x{number}",
        registry_id=world.project.registry_id,
        image=f"{world.project.image}-x{number}",
        port=8080,
    )
    assert project.id is not None
    world.projects.add_stage(project.id, name="dev", tag_pattern="dev-*", auto_deploy=True)
    return project.id


async def _delete_tag(world: World, tag: str) -> None:
    """Delete a tag's manifest in the registry (by digest: distribution refuses by tag)."""
    registry = world.registry
    digest = await world.http.head(
        f"http://{registry.host}/v2/{world.repo}/manifests/{tag}",
        auth=(registry.username, registry.password),
        headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"},
    )
    answer = await world.http.delete(
        f"http://{registry.host}/v2/{world.repo}/manifests/{digest.headers['docker-content-digest']}",
        auth=(registry.username, registry.password),
    )
    assert answer.status_code == 202, answer.text
