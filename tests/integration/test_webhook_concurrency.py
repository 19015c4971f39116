"""Fifty webhooks at once for one stage: one deploy per pushed tag, limits hold, no DB errors."""

from __future__ import annotations

import asyncio
import itertools
import logging
from pathlib import Path
from typing import Any

import pytest
from docker import DockerClient

from services.store.models import DeployStatus
from tests.support.detection import detected, hook_path, settled, webhook_client
from tests.support.registry_server import RegistryServer
from tests.support.world import World, make_world

TAGS = [f"dev-{n}" for n in range(1, 6)]


async def test_fifty_concurrent_webhooks_for_one_stage(
    docker_client: DockerClient,
    registry: RegistryServer,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    async with make_world(docker_client, registry, tmp_path) as world:
        digests = {tag: await world.push(tag) for tag in TAGS}
        async with detected(world) as detection, webhook_client(detection) as client:
            bodies = [_body(world, tag, digests[tag], n) for n in range(10) for tag in TAGS]
            answers = await asyncio.gather(
                *(client.post(hook_path(world), json=body, headers=h) for body, h in bodies)
            )
            deploys = await settled(world, len(TAGS))
            live, containers = world.live("dev"), world.containers()

    assert {a.status_code for a in answers} == {202}
    decisions = [d for a in answers for r in a.json()["results"] for d in r["decisions"]]
    queued = [d for d in decisions if d["action"] == "queued"]
    assert sorted(d["deploy_id"] for d in queued) == sorted(d.id for d in deploys)
    assert {d["action"] for d in decisions} == {"queued", "ignored"}
    assert sorted(d.tag for d in deploys) == sorted(TAGS)  # each tag deployed exactly once
    assert all(d.status == DeployStatus.SUCCEEDED for d in deploys), [d.error for d in deploys]
    spans = sorted((d.started_at, d.finished_at) for d in deploys)
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert end is not None and start is not None and end <= start  # one at a time
    assert len(live) == 2 and len(containers) == 2  # max_instances of dev
    problems = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert not any("locked" in p or "database" in p.lower() for p in problems), problems
    assert not any("cannot read the digest" in p for p in problems), problems  # all at once too


def _body(world: World, tag: str, digest: str, n: int) -> tuple[dict[str, Any], dict[str, str]]:
    """Deliveries in three dialects: ours, ours with the digest, and GitHub's package event."""
    image = f"{world.project.image}:{tag}"
    if n % 3 == 0:
        return {"image": image}, {}
    if n % 3 == 1:
        return {"image": image, "digest": digest}, {}
    version = {
        "package_url": image,
        "container_metadata": {"tag": {"name": tag, "digest": digest}},
    }
    package = {"name": world.project.name, "package_type": "CONTAINER", "package_version": version}
    return {"action": "published", "package": package}, {"X-GitHub-Event": "package"}
