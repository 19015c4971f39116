"""Digest pinning, rollback and image clean-up against the real engine and registry."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import docker.errors
import pytest
from docker import DockerClient

from services.deploy.image_fetch import Fetched, ImageFetcher
from services.errors import Conflict
from services.store.models import Deploy, DeployStatus, DeployTrigger, Project
from services.types import LABEL_TAG, PullProgress
from tests.support.audit import TESTER
from tests.support.docker_env import async_wait_until
from tests.support.registry_server import RegistryServer
from tests.support.world import World, make_world

SECRET = "Rollback-Secret-4f1e"


class TagMover:
    """A test peer for the deploy's image fetcher: once armed, it pushes another image to the
    deploy's tag right before the pull, i.e. after "check" resolved the digest."""

    def __init__(self, inner: ImageFetcher) -> None:
        self._inner = inner
        self.move: Callable[[str], Awaitable[str]] | None = None
        self.moved_to: str | None = None

    async def fetch(
        self, project: Project, tag: str, digest: str | None, progress: PullProgress
    ) -> Fetched:
        if self.move is not None:
            move, self.move = self.move, None
            self.moved_to = await move(tag)
        return await self._inner.fetch(project, tag, digest, progress)


@pytest.fixture
async def mover_world(
    docker_client: DockerClient, registry: RegistryServer, tmp_path: Path
) -> AsyncIterator[tuple[World, list[TagMover]]]:
    movers: list[TagMover] = []

    def wrap(inner: ImageFetcher) -> TagMover:
        movers.append(TagMover(inner))
        return movers[-1]

    async with make_world(docker_client, registry, tmp_path, images=wrap) as built:
        yield built, movers


async def test_tag_moved_between_check_and_start_runs_the_checked_digest(
    mover_world: tuple[World, list[TagMover]],
) -> None:
    world, (mover,) = mover_world
    checked = await world.push("dev-1", marker="checked")
    mover.move = lambda tag: world.push(tag, marker="moved")

    deploy = await world.deploy("dev-1")

    assert mover.moved_to is not None and mover.moved_to != checked  # the tag really moved
    assert deploy.status == DeployStatus.SUCCEEDED, deploy.error
    assert deploy.digest == checked
    (instance,) = world.live()
    assert instance.tag == "dev-1" and instance.digest == checked
    assert (await world.fetch(instance, "/tag.txt")).text.strip() == "checked"
    (container,) = world.containers()
    assert container.attrs["Config"]["Image"] == f"{world.project.image}@{checked}"
    assert container.labels[LABEL_TAG] == "dev-1"


async def finished(world: World, queued: Deploy) -> Deploy:
    """The deploy once it left queued/running (rollbacks run in the background)."""
    assert queued.id is not None
    deploy_id = queued.id

    async def done() -> Deploy | None:
        row = world.deploys.get(deploy_id)
        return row if row.status not in (DeployStatus.QUEUED, DeployStatus.RUNNING) else None

    return await async_wait_until(done, timeout=60, message="the rollback never finished")


def set_env(world: World, greeting: str) -> None:
    assert world.project.id is not None
    world.projects.set_env(
        world.project.id, None, [("GREETING", greeting, False), ("TOKEN", SECRET, True)]
    )


async def test_rollback_after_two_deploys_runs_the_first_digest_with_its_env(
    world: World,
) -> None:
    assert world.project.id is not None
    set_env(world, "one")
    first_digest = await world.push("v1", marker="first")
    first = await world.deploy("v1", stage="rel")
    set_env(world, "two")
    await world.push("v2", marker="second")
    second = await world.deploy("v2", stage="rel")
    assert first.status == second.status == DeployStatus.SUCCEEDED, (first.error, second.error)
    assert SECRET not in json.dumps(world.deploys.get(first.id or 0).config_snapshot)

    target = await world.services.rollbacks.target(world.project.id, "rel")
    assert target is not None and target.deploy.id == first.id and target.image_present
    rollback = await finished(
        world, await world.services.rollbacks.roll_back(world.project.id, "rel", actor=TESTER)
    )

    assert rollback.status == DeployStatus.SUCCEEDED, rollback.error
    assert rollback.trigger == DeployTrigger.ROLLBACK and rollback.rollback_of == first.id
    assert rollback.digest == first_digest and rollback.tag == "v1"
    (instance,) = world.live("rel")
    assert instance.deploy_id == rollback.id and instance.digest == first_digest
    assert (await world.fetch(instance, "/tag.txt")).text.strip() == "first"
    env = (await world.run_in(instance, "env")).splitlines()
    assert "GREETING=one" in env and f"TOKEN={SECRET}" in env


async def test_rollback_refused_without_a_previous_successful_deploy(world: World) -> None:
    assert world.project.id is not None
    with pytest.raises(Conflict, match="no previous successful deploy"):
        await world.services.rollbacks.roll_back(world.project.id, "rel", actor=TESTER)
    await world.push("v1")
    assert (await world.deploy("v1", stage="rel")).status == DeployStatus.SUCCEEDED
    await world.push("v2", variant="unhealthy")
    assert (await world.deploy("v2", stage="rel")).status == DeployStatus.FAILED

    assert await world.services.rollbacks.target(world.project.id, "rel") is None
    with pytest.raises(Conflict, match="no previous successful deploy"):
        await world.services.rollbacks.roll_back(world.project.id, "rel", actor=TESTER)
    assert [d.trigger for d in world.deploys.recent()] == [DeployTrigger.MANUAL] * 2


def image_present(client: DockerClient, ref: str) -> bool:
    try:
        client.images.get(ref)
    except docker.errors.ImageNotFound:
        return False
    return True


async def test_cleanup_keeps_rollback_images_and_removes_older_ones(world: World) -> None:
    world.settings.update_global(rollback_keep=2)
    digests = []
    for tag in ("v1", "v2", "v3", "v4"):
        digests.append(await world.push(tag, marker=tag))
        assert (await world.deploy(tag, stage="rel")).status == DeployStatus.SUCCEEDED

    present = [image_present(world.client, f"{world.project.image}@{d}") for d in digests]
    assert present == [False, False, True, True]  # v4 runs, v3 is kept for a rollback


async def test_rollback_pulls_a_removed_image_from_the_registry(world: World) -> None:
    assert world.project.id is not None
    world.settings.update_global(rollback_keep=1)
    first_digest = await world.push("v1", marker="first")
    await world.deploy("v1", stage="rel")
    await world.push("v2", marker="second")
    await world.deploy("v2", stage="rel")
    assert not image_present(world.client, f"{world.project.image}@{first_digest}")

    target = await world.services.rollbacks.target(world.project.id, "rel")
    assert target is not None and not target.image_present
    rollback = await finished(
        world, await world.services.rollbacks.roll_back(world.project.id, "rel", actor=TESTER)
    )

    assert rollback.status == DeployStatus.SUCCEEDED, rollback.error
    (instance,) = world.live("rel")
    assert (await world.fetch(instance, "/tag.txt")).text.strip() == "first"


async def test_rollback_redeploys_even_while_the_old_instance_still_runs(world: World) -> None:
    """dev keeps two instances: dev-1 still runs beside dev-2, and a rollback to it must still
    deploy (and so take the stage's domains back), not be skipped as "already runs"."""
    assert world.project.id is not None
    for tag in ("dev-1", "dev-2"):
        await world.push(tag, marker=tag)
        assert (await world.deploy(tag)).status == DeployStatus.SUCCEEDED
    (old, _) = world.live()

    rollback = await finished(
        world, await world.services.rollbacks.roll_back(world.project.id, "dev", actor=TESTER)
    )

    assert rollback.status == DeployStatus.SUCCEEDED, rollback.error
    assert sorted((i.tag, i.deploy_id == rollback.id) for i in world.live()) == [
        ("dev-1", True),
        ("dev-2", False),
    ]
    assert world.instances.find(old.id or 0) is None  # replaced by the rollback's instance


async def test_rollback_says_so_when_the_registry_no_longer_has_the_image(world: World) -> None:
    assert world.project.id is not None
    world.settings.update_global(rollback_keep=1)  # the clean-up removes v1's image locally
    first_digest = await world.push("v1", marker="first")
    await world.deploy("v1", stage="rel")
    await world.push("v2", marker="second")
    await world.deploy("v2", stage="rel")
    auth = (world.registry.username, world.registry.password)
    gone = await world.http.delete(
        f"{world.registry.url}/v2/{world.repo}/manifests/{first_digest}", auth=auth
    )
    assert gone.status_code == 202, gone.text

    rollback = await finished(
        world, await world.services.rollbacks.roll_back(world.project.id, "rel", actor=TESTER)
    )

    assert rollback.status == DeployStatus.FAILED and rollback.step == "pull"
    assert "the registry no longer has it" in (rollback.error or "")
    (survivor,) = world.live("rel")
    assert survivor.tag == "v2"
    assert (await world.fetch(survivor, "/tag.txt")).text.strip() == "second"
