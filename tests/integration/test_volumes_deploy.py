"""Volumes against the real engine: shared and isolated data, refused sources, data kept."""

from __future__ import annotations

import contextlib
import uuid
from pathlib import Path

import docker.errors
import pytest
from docker import DockerClient

from services.admin.volume_config import VolumeChange, VolumeConfigService
from services.store.models import DeployStatus, VolumeMount
from tests.support.audit import TESTER
from tests.support.world import World


@pytest.fixture
def volumes(world: World) -> VolumeConfigService:
    return world.runtime.admin.volume_config


def root(world: World) -> Path:
    """The default allowed root: the data directory's volumes/ folder."""
    return world.runtime.settings.volume_root


def project_id(world: World) -> int:
    assert world.project.id is not None
    return world.project.id


async def deploy_ok(world: World, tag: str, stage: str = "dev") -> None:
    await world.push(tag)
    deploy = await world.deploy(tag, stage)
    assert deploy.status == DeployStatus.SUCCEEDED, deploy.error


async def test_a_shared_volume_is_seen_by_every_instance(
    world: World, volumes: VolumeConfigService
) -> None:
    shared = root(world) / "app" / "uploads"
    await volumes.update(
        project_id(world), None, [VolumeChange(str(shared), "/uploads")], actor=TESTER
    )
    await deploy_ok(world, "dev-1")
    await deploy_ok(world, "dev-2")
    first, second = world.live()

    await world.run_in(first, "sh", "-c", "echo from-dev-1 > /uploads/note")

    assert (await world.run_in(second, "cat", "/uploads/note")).strip() == "from-dev-1"
    assert (shared / "note").read_text().strip() == "from-dev-1"


async def test_isolated_volumes_get_a_folder_per_stage_and_tag(
    world: World, volumes: VolumeConfigService
) -> None:
    iso = root(world) / "app" / "data"
    await volumes.update(
        project_id(world), None, [VolumeChange(str(iso), "/data", "isolated")], actor=TESTER
    )
    await deploy_ok(world, "dev-1")
    await deploy_ok(world, "dev-2")
    await deploy_ok(world, "v1.0", stage="rel")
    dev1, dev2 = world.live()
    (rel,) = world.live("rel")

    await world.run_in(dev1, "sh", "-c", "echo mine > /data/file")

    assert sorted(p.name for p in iso.iterdir()) == ["dev-dev-1", "dev-dev-2", "rel-v1.0"]
    assert (iso / "dev-dev-1" / "file").read_text().strip() == "mine"
    assert (await world.run_in(dev2, "ls", "-A", "/data")).strip() == ""
    assert (await world.run_in(rel, "ls", "-A", "/data")).strip() == ""


@pytest.mark.parametrize(
    "case", ["docker-socket", "root", "dot-dot-escape", "symlink-outside", "outside-roots"]
)
async def test_refused_sources_fail_the_deploy_and_deploy_nothing(
    world: World, tmp_path: Path, case: str
) -> None:
    source = _refused_source(case, root(world), tmp_path)
    # Written straight to the store, as an old database or another writer could have it: the
    # deploy must check again whatever the editor accepted.
    mount = VolumeMount(project_id=project_id(world), source=source, target="/data")
    world.projects.set_volumes(project_id(world), world.stage("dev").id, [mount])

    deploy = await world.deploy("dev-1")

    assert deploy.status == DeployStatus.FAILED
    assert deploy.step == "check"
    assert (deploy.error or "").startswith("stages.dev.volumes.0.source: ")
    assert world.live() == [] and world.containers() == []


def _refused_source(case: str, allowed: Path, tmp_path: Path) -> str:
    allowed.mkdir(parents=True, exist_ok=True)
    if case == "symlink-outside":
        (allowed / "sneaky").symlink_to("/etc")
        return str(allowed / "sneaky")
    return {
        "docker-socket": "/var/run/docker.sock",
        "root": "/",
        "dot-dot-escape": f"{allowed}/../../escape",
        "outside-roots": str(tmp_path / "elsewhere"),
    }[case]


async def test_data_survives_instance_removal_until_deleted_on_purpose(
    world: World, volumes: VolumeConfigService
) -> None:
    iso, shared = root(world) / "iso", root(world) / "shared"
    changes = [VolumeChange(str(iso), "/data", "isolated"), VolumeChange(str(shared), "/shared")]
    await volumes.update(project_id(world), None, changes, actor=TESTER)
    await deploy_ok(world, "dev-1")
    (first,) = world.live()
    await world.run_in(first, "sh", "-c", "echo kept > /data/file; echo kept > /shared/file")
    assert first.id is not None

    await world.services.control.remove(first.id)

    assert world.containers() == []
    assert (iso / "dev-dev-1" / "file").read_text().strip() == "kept"
    await deploy_ok(world, "dev-1")  # the same tag finds its data again
    (again,) = world.live()
    assert (await world.run_in(again, "cat", "/data/file")).strip() == "kept"
    assert again.id is not None
    await world.services.control.remove(again.id)

    deleted = await volumes.delete_data(project_id(world), "dev", "dev-1", confirm=True)

    assert deleted == [str(iso / "dev-dev-1")] and not (iso / "dev-dev-1").exists()
    assert (shared / "file").read_text().strip() == "kept"


async def test_named_volumes_are_mounted_and_kept(
    world: World, volumes: VolumeConfigService, docker_client: DockerClient
) -> None:
    name = f"dw-test-{uuid.uuid4().hex[:8]}"
    world.settings.update_global(named_volumes=["dw-test-*"])
    await volumes.update(project_id(world), None, [VolumeChange(name, "/cache")], actor=TESTER)
    try:
        await deploy_ok(world, "dev-1")
        (running,) = world.live()
        await world.run_in(running, "sh", "-c", "echo cached > /cache/file")
        assert running.id is not None
        await world.services.control.remove(running.id)
        assert docker_client.volumes.get(name).name == name  # removal keeps the volume
    finally:
        for container in world.containers():
            container.remove(force=True)
        with contextlib.suppress(docker.errors.NotFound):
            docker_client.volumes.get(name).remove()
