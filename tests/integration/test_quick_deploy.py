"""Quick deploy against the real registry and engine: inspect, propose, accept, tag lists."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator

import pytest

from app.wiring import DetectionServices
from services.errors import NotFound, ValidationFailed
from services.store.models import DeployStatus, DeployTrigger
from tests.support.audit import TESTER
from tests.support.detection import detected, settled
from tests.support.images import push_test_image
from tests.support.registry_server import RegistryServer
from tests.support.world import World


@pytest.fixture
async def detection(world: World) -> AsyncIterator[DetectionServices]:
    async with detected(world) as services:
        yield services


async def _push(world: World, repo: str, tag: str, variant: str = "ok") -> str:
    return await asyncio.to_thread(
        push_test_image, world.client, world.registry, repo, tag, variant=variant
    )


async def test_inspect_prefills_a_proposal_from_the_image(
    world: World, detection: DetectionServices, registry: RegistryServer
) -> None:
    digest = await _push(world, "tools/web_shop", "dev-4")
    proposal = await detection.quick.inspect(f"{registry.host}/tools/web_shop:dev-4")

    assert (proposal.name, proposal.port, proposal.health_mode) == ("web-shop", 8080, "docker")
    assert (proposal.image, proposal.tag, proposal.digest) == (
        f"{registry.host}/tools/web_shop",
        "dev-4",
        digest,
    )
    assert dataclasses.astuple(proposal.stage) == ("dev", "dev-*", True, 2, None)
    assert proposal.title == "demo" and proposal.healthcheck is None
    assert proposal.subdomain == "stage-dev-web-shop.test.example"
    assert proposal.tag_subdomain == "stage-dev-web-shop-dev-4.test.example"
    assert proposal.registry_id == world.project.registry_id  # its credentials pull it
    assert proposal.name_clash is None and proposal.existing_project_id is None


async def test_a_taken_name_and_a_known_image_are_flagged(
    world: World, detection: DetectionServices
) -> None:
    await world.push("v1.2.0")
    proposal = await detection.quick.inspect(f"{world.project.image}:v1.2.0")

    assert proposal.name == f"{world.project.name}-2" and proposal.name_clash
    assert proposal.existing_project_id == world.project.id
    assert dataclasses.astuple(proposal.stage) == ("rel", "v*", False, 2, None)


async def test_accept_saves_the_project_and_deploys_it(
    world: World, detection: DetectionServices, registry: RegistryServer
) -> None:
    await _push(world, "tools/notes", "latest", variant="nohealth")
    proposal = await detection.quick.inspect(f"{registry.host}/tools/notes")  # no tag: latest
    assert proposal.tag == "latest" and proposal.health_mode == "running"

    queued = await detection.quick.accept(
        dataclasses.replace(proposal, name="my-notes"), actor=TESTER
    )
    (deploy,) = await settled(world, 1, project_id=queued.project_id)

    assert deploy.status == DeployStatus.SUCCEEDED, deploy.error
    assert deploy.trigger == DeployTrigger.QUICK
    project = world.projects.get_by_name("my-notes")
    assert project is not None and project.id is not None
    assert [s.tag_pattern for s in world.projects.stages(project.id)] == ["latest"]


async def test_accept_refuses_bad_fields_and_creates_nothing(
    world: World, detection: DetectionServices
) -> None:
    await world.push("dev-1")
    proposal = await detection.quick.inspect(f"{world.project.image}:dev-1")
    bad_stage = dataclasses.replace(proposal.stage, tag_pattern="v*")
    broken = dataclasses.replace(proposal, name="No Good", port=0, stage=bad_stage)

    with pytest.raises(ValidationFailed) as caught:
        await detection.quick.accept(broken, actor=TESTER)

    assert {e.path for e in caught.value.errors} == {"name", "port", "stage.tag_pattern"}
    assert len(world.projects.all()) == 1


async def test_accept_refuses_an_image_on_another_host_than_its_registry(
    world: World, detection: DetectionServices
) -> None:
    """The webhook's auto-creation accepts proposals too: the check is the service's own."""
    await world.push("dev-1")
    proposal = await detection.quick.inspect(f"{world.project.image}:dev-1")
    elsewhere = dataclasses.replace(proposal, name="elsewhere", image="ghcr.io/me/app")
    hostile = dataclasses.replace(proposal.stage, tag_pattern='dev-*" x="')

    with pytest.raises(ValidationFailed) as foreign:
        await detection.quick.accept(elsewhere, actor=TESTER)
    with pytest.raises(ValidationFailed) as quoted:
        await detection.quick.accept(
            dataclasses.replace(proposal, name="q", stage=hostile), actor=TESTER
        )

    assert [e.path for e in foreign.value.errors] == ["image"]
    assert [e.path for e in quoted.value.errors] == ["stage.tag_pattern"]
    assert len(world.projects.all()) == 1


async def test_inspect_errors_name_the_problem(
    detection: DetectionServices, registry: RegistryServer
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        await detection.quick.inspect("not a reference")
    assert caught.value.errors[0].path == "reference"
    with pytest.raises(NotFound):
        await detection.quick.inspect(f"{registry.host}/tools/missing:v1")


async def test_tags_for_a_stage_are_the_matching_ones_newest_first(
    world: World, detection: DetectionServices
) -> None:
    for tag in ("dev-1", "dev-10", "dev-2", "v1.0.0", "v1.10.0", "v1.9.0", "latest"):
        await world.push(tag)
    assert world.project.id is not None
    pid = world.project.id

    assert await detection.quick.tags_for_stage(pid, "dev") == ["dev-10", "dev-2", "dev-1"]
    assert await detection.quick.tags_for_stage(pid, "rel") == ["v1.10.0", "v1.9.0", "v1.0.0"]
    assert await detection.quick.tags_for_stage(pid, "prod") == []  # nothing runs in rel yet
    assert (await world.deploy("v1.9.0", stage="rel")).status == DeployStatus.SUCCEEDED
    assert await detection.quick.tags_for_stage(pid, "prod") == ["v1.9.0"]
    assert await detection.quick.promotable_tags(pid, "dev") == []  # no promote_from
