"""Env against the real engine: merged env inside containers, secrets kept out of every record."""

from __future__ import annotations

import dataclasses
import io
import json
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from docker import DockerClient

from app.logs import WatcherJsonFormatter
from services.admin.env_config import EnvChange, EnvConfigService, ProjectEnvView
from services.redaction import MASK, Redactor
from services.store.models import DeployStatus
from services.views.overview import Overview
from tests.support.audit import TESTER
from tests.support.registry_server import RegistryServer
from tests.support.world import World, make_world

SECRET = "Top-Secret-Value-93c1d"
STAGE_SECRET = "Stage-Only-Secret-51ab"


@pytest.fixture
def redactor() -> Redactor:
    return Redactor()


@pytest.fixture
async def world(
    docker_client: DockerClient, registry: RegistryServer, tmp_path: Path, redactor: Redactor
) -> AsyncIterator[World]:
    async with make_world(docker_client, registry, tmp_path, redactor=redactor) as built:
        yield built


@pytest.fixture
def env(world: World) -> EnvConfigService:
    return world.runtime.admin.env_config


@pytest.fixture
def process_log(redactor: Redactor) -> Iterator[io.StringIO]:
    """The process log exactly as production writes it (JSON lines through the redactor)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(WatcherJsonFormatter(redactor))
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


def project_id(world: World) -> int:
    assert world.project.id is not None
    return world.project.id


async def container_env(world: World, stage: str = "dev") -> dict[str, str]:
    (instance,) = world.live(stage)
    output = await world.run_in(instance, "env")
    return dict(line.split("=", 1) for line in output.splitlines() if "=" in line)


async def test_container_sees_the_merged_env(world: World, env: EnvConfigService) -> None:
    await env.update(
        project_id(world),
        None,
        [
            EnvChange("NODE_ENV", "production"),
            EnvChange("REMOVED_IN_DEV", "x"),
            EnvChange("API_KEY", SECRET, secret=True),
            EnvChange("EMPTY", ""),
        ],
        actor=TESTER,
    )
    await env.update(
        project_id(world),
        "dev",
        [EnvChange("NODE_ENV", "development"), EnvChange("REMOVED_IN_DEV", unset=True)],
        actor=TESTER,
    )
    await world.push("dev-1")

    deploy = await world.deploy("dev-1")

    assert deploy.status == DeployStatus.SUCCEEDED, deploy.error
    seen = await container_env(world)
    assert seen["NODE_ENV"] == "development" and seen["API_KEY"] == SECRET
    assert seen["EMPTY"] == "" and "REMOVED_IN_DEV" not in seen


async def test_a_secret_never_appears_in_plaintext_outside_the_container(
    world: World,
    env: EnvConfigService,
    process_log: io.StringIO,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    await env.update(
        project_id(world), None, [EnvChange("API_KEY", SECRET, secret=True)], actor=TESTER
    )
    await env.update(
        project_id(world), "dev", [EnvChange("DEV_TOKEN", STAGE_SECRET, True)], actor=TESTER
    )
    await world.push("dev-1")
    deploy = await world.deploy("dev-1")
    assert deploy.status == DeployStatus.SUCCEEDED, deploy.error
    assert (await container_env(world))["API_KEY"] == SECRET  # the container does get it

    for secret in (SECRET, STAGE_SECRET):
        assert secret not in _read_models(await env.read(project_id(world)))
        assert secret not in _deploy_records(world, deploy.id)
        assert secret not in _exports(world)
        assert secret not in process_log.getvalue()
        assert not [r for r in caplog.records if secret in r.getMessage()]
        assert secret not in _database_bytes(world)
    assert "API_KEY (secret)" in _deploy_records(world, deploy.id)


def _read_models(view: ProjectEnvView) -> str:
    text = json.dumps(dataclasses.asdict(view), ensure_ascii=False)
    assert MASK in text
    return text


def _deploy_records(world: World, deploy_id: int | None) -> str:
    assert deploy_id is not None
    deploy = world.deploys.get(deploy_id)
    lines = [line.message for line in world.deploys.log_lines(deploy_id)]
    return "\n".join([deploy.model_dump_json(), *lines])


def _exports(world: World) -> str:
    store = world.runtime.stores.config
    omitted = store.export_yaml(include_secrets="omit")
    encrypted = store.export_yaml(include_secrets="encrypted")
    assert "API_KEY" in omitted and "v1:" in encrypted
    return omitted + encrypted


async def outdated(world: World) -> list[tuple[str, str]]:
    """(stage, tag) of the instances the project page marks as running an old configuration."""
    view = await Overview(world.db, world.projects, world.deploys).project(project_id(world))
    return [(i.stage, i.tag) for s in view.stages for i in s.instances if i.outdated]


def _database_bytes(world: World) -> str:
    """The database file and its WAL, as text a plaintext would show up in."""
    files = sorted(world.db.path.parent.glob(world.db.path.name + "*"))
    return b"".join(path.read_bytes() for path in files).decode("latin-1")


async def test_changing_env_marks_running_instances_outdated_until_redeployed(
    world: World, env: EnvConfigService
) -> None:
    await env.update(project_id(world), None, [EnvChange("GREETING", "hello")], actor=TESTER)
    await world.push("dev-1")
    assert (await world.deploy("dev-1")).status == DeployStatus.SUCCEEDED
    assert await outdated(world) == []

    await env.update(project_id(world), None, [EnvChange("GREETING", "bonjour")], actor=TESTER)

    assert await outdated(world) == [("dev", "dev-1")]
    assert (await container_env(world))["GREETING"] == "hello"  # untouched until the next deploy

    redeploy = await world.deploy("dev-1")  # same tag and digest, new configuration

    assert redeploy.status == DeployStatus.SUCCEEDED, redeploy.error
    assert (await container_env(world))["GREETING"] == "bonjour"
    assert await outdated(world) == []
    assert (await world.deploy("dev-1")).status == DeployStatus.SKIPPED  # nothing changed now
