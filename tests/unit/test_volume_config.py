"""The volume service over a real SQLite file and folders: same rules as deploys, data deletion."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from services.admin.volume_config import (
    DataFolder,
    ResolvedVolumeView,
    VolumeChange,
    VolumeConfigService,
    VolumeView,
)
from services.errors import Conflict, ValidationFailed
from services.secrets import SecretBox
from services.store.db import Database
from services.store.instances import InstanceStore
from services.store.models import Instance
from services.store.projects import ProjectStore
from services.store.settings_store import SettingsStore
from tests.support.audit import TESTER, audit_log


@dataclass
class Vol:
    service: VolumeConfigService
    projects: ProjectStore
    instances: InstanceStore
    settings: SettingsStore
    project_id: int
    root: Path  # the data directory's volumes/ folder: the default allowed root

    def stage_id(self, name: str) -> int:
        stage_id = self.projects.stage_by_name(self.project_id, name).id
        assert stage_id is not None
        return stage_id


@pytest.fixture
def vol(tmp_path: Path) -> Iterator[Vol]:
    db = Database(tmp_path / "data" / "watcher.db")
    db.migrate()
    box = SecretBox(os.urandom(32))
    projects, instances = ProjectStore(db, box), InstanceStore(db)
    project = projects.create(name="web", image="example.com/web")
    assert project.id is not None
    for name in ("dev", "rel"):
        projects.add_stage(project.id, name=name)
    root = tmp_path / "data" / "volumes"
    root.mkdir()
    settings = SettingsStore(db, box)
    settings.update_global(named_volumes=["cache", "app-*"])
    service = VolumeConfigService(projects, instances, settings, root, audit_log(db))
    yield Vol(service, projects, instances, settings, project.id, root)
    db.close()


def problems(caught: pytest.ExceptionInfo[ValidationFailed]) -> dict[str, str]:
    return {e.path: e.message for e in caught.value.errors}


async def test_saved_paths_are_normalised_and_resolved_with_origins(vol: Vol) -> None:
    data = f"{vol.root}//app/./data/"
    await vol.service.update(
        vol.project_id,
        None,
        [VolumeChange(data, "/app/data/", "isolated"), VolumeChange("cache", "/c")],
        actor=TESTER,
    )
    view = await vol.service.update(
        vol.project_id,
        "dev",
        [VolumeChange(f"{vol.root}/dev-data", "/app/data", read_only=True)],
        actor=TESTER,
    )
    data_view = VolumeView(f"{vol.root}/app/data", "/app/data", "isolated", False, "bind")
    assert view.volumes == (data_view, VolumeView("cache", "/c", "shared", False, "volume"))
    assert view.roots == (str(vol.root),)
    dev, rel = view.stages
    override = VolumeView(f"{vol.root}/dev-data", "/app/data", "shared", True, "bind")
    assert dev.resolved == (
        ResolvedVolumeView(override, "stage"),
        ResolvedVolumeView(view.volumes[1], "project"),
    )
    assert [r.origin for r in rel.resolved] == ["project", "project"]


async def test_the_deploy_rules_apply_when_saving(vol: Vol, tmp_path: Path) -> None:
    (vol.root / "link").symlink_to(tmp_path)
    changes = [
        VolumeChange("/var/run/docker.sock", "/s"),
        VolumeChange("/", "/r"),
        VolumeChange(f"{vol.root}/../escape", "/e"),
        VolumeChange(str(vol.root / "link"), "/l"),
        VolumeChange("/srv/elsewhere", "/o"),
        VolumeChange(f"{vol.root}/ok", "relative"),
        VolumeChange(f"{vol.root}/ok2", "/s"),
        VolumeChange("named", "/n", "isolated"),
    ]
    with pytest.raises(ValidationFailed) as caught:
        await vol.service.update(vol.project_id, "dev", changes, actor=TESTER)
    found = problems(caught)
    assert set(found) == {
        "stages.dev.volumes.0.source",
        "stages.dev.volumes.1.source",
        "stages.dev.volumes.2.source",
        "stages.dev.volumes.3.source",
        "stages.dev.volumes.4.source",
        "stages.dev.volumes.5.target",
        "stages.dev.volumes.6.target",
        "stages.dev.volumes.7.mode",
    }
    assert "resolves to" in found["stages.dev.volumes.3.source"]
    assert found["stages.dev.volumes.6.target"] == "is mounted twice"
    assert (await vol.service.read(vol.project_id)).stages[0].overrides == ()


async def test_admin_listed_roots_allow_an_otherwise_dangerous_path(vol: Vol) -> None:
    vol.settings.update_global(volume_roots=["/var/run/docker.sock"])
    view = await vol.service.update(
        vol.project_id,
        None,
        [VolumeChange("/var/run/docker.sock", "/var/run/docker.sock")],
        actor=TESTER,
    )
    assert view.volumes[0].source == "/var/run/docker.sock"


async def test_delete_data_needs_confirmation_and_a_removed_instance(vol: Vol) -> None:
    shared, iso = vol.root / "shared", vol.root / "iso"
    await vol.service.update(
        vol.project_id,
        None,
        [VolumeChange(str(shared), "/s"), VolumeChange(str(iso), "/d", "isolated")],
        actor=TESTER,
    )
    for folder in (shared, iso / "dev-dev-1", iso / "dev-dev-2", iso / "rel-v1"):
        folder.mkdir(parents=True)
        (folder / "file").write_text("data")
    instance = vol.instances.add(
        Instance(project_id=vol.project_id, stage_id=vol.stage_id("dev"), tag="dev-1")
    )
    assert instance.id is not None
    assert await vol.service.data_folders(vol.project_id) == [
        DataFolder("dev", "dev-1", str(iso / "dev-dev-1"), True),
        DataFolder("dev", "dev-2", str(iso / "dev-dev-2"), False),
        DataFolder("rel", "v1", str(iso / "rel-v1"), False),
    ]

    with pytest.raises(ValidationFailed, match="confirm"):
        await vol.service.delete_data(vol.project_id, "dev", "dev-1", confirm=False)
    with pytest.raises(Conflict, match="remove it first"):
        await vol.service.delete_data(vol.project_id, "dev", "dev-1", confirm=True)
    vol.instances.delete(instance.id)

    deleted = await vol.service.delete_data(vol.project_id, "dev", "dev-1", confirm=True)

    assert deleted == [str(iso / "dev-dev-1")]
    assert not (iso / "dev-dev-1").exists()
    assert (iso / "dev-dev-2" / "file").exists() and (iso / "rel-v1" / "file").exists()
    assert (shared / "file").exists()  # shared data is never deleted
    assert await vol.service.delete_data(vol.project_id, "dev", "dev-1", confirm=True) == []


async def test_delete_data_never_follows_a_symlink(vol: Vol, tmp_path: Path) -> None:
    iso = vol.root / "iso"
    await vol.service.update(
        vol.project_id, None, [VolumeChange(str(iso), "/d", "isolated")], actor=TESTER
    )
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "precious").write_text("keep")
    iso.mkdir()
    (iso / "dev-x").symlink_to(victim)
    with pytest.raises(ValidationFailed, match="not a plain folder"):
        await vol.service.delete_data(vol.project_id, "dev", "x", confirm=True)
    assert (victim / "precious").read_text() == "keep"
