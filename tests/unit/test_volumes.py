"""Deploy-time volume planning on a real filesystem: real paths, the data dir, safe folders."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from services import volumes
from services.errors import ValidationFailed
from services.store.models import GlobalSettings, VolumeMode, VolumeMount
from services.types import Mount


def mount(source: str, target: str = "/data", mode: str = "shared") -> VolumeMount:
    return VolumeMount(project_id=1, source=source, target=target, mode=VolumeMode(mode))


def plan(
    tmp_path: Path, *entries: VolumeMount, data_dir: Path | None = None
) -> list[volumes.PlannedMount]:
    pairs = [(f"volumes.{i}", e) for i, e in enumerate(entries)]
    return volumes.plan(pairs, [str(tmp_path / "root")], data_dir, "dev", "dev-1", ["app-*"])


def refusal(tmp_path: Path, *entries: VolumeMount, data_dir: Path | None = None) -> dict[str, str]:
    with pytest.raises(ValidationFailed) as caught:
        plan(tmp_path, *entries, data_dir=data_dir)
    return {e.path: e.message for e in caught.value.errors}


@pytest.fixture(autouse=True)
def _root(tmp_path: Path) -> None:
    (tmp_path / "root").mkdir()


def test_a_symlink_is_judged_by_where_it_points(tmp_path: Path) -> None:
    (tmp_path / "outside").mkdir()
    (tmp_path / "root" / "escape").symlink_to(tmp_path / "outside")
    found = refusal(tmp_path, mount(str(tmp_path / "root" / "escape")))
    assert "must lie under one of the volume_roots" in found["volumes.0.source"]
    assert f"resolves to {tmp_path / 'outside'}" in found["volumes.0.source"]


def test_a_symlink_to_the_docker_socket_is_refused(tmp_path: Path) -> None:
    (tmp_path / "root" / "sock").symlink_to("/var/run/docker.sock")
    found = refusal(tmp_path, mount(str(tmp_path / "root" / "sock")))
    assert "volumes.0.source" in found


def test_a_symlink_inside_the_roots_is_mounted_by_its_real_path(tmp_path: Path) -> None:
    (tmp_path / "root" / "real").mkdir()
    (tmp_path / "root" / "link").symlink_to(tmp_path / "root" / "real")
    (planned,) = plan(tmp_path, mount(str(tmp_path / "root" / "link")))
    assert planned.mount == Mount(str(tmp_path / "root" / "real"), "/data", False, "bind")


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    found = refusal(tmp_path, mount("/etc", "/a"), mount("/var/run/docker.sock", "/b"))
    assert set(found) == {"volumes.0.source", "volumes.1.source"}


def test_the_data_directory_is_never_exposed(tmp_path: Path) -> None:
    data = tmp_path / "root" / "watcher"
    (data / "volumes" / "app").mkdir(parents=True)
    for source in (tmp_path / "root", data, data / "watcher.db"):
        found = refusal(tmp_path, mount(str(source)), data_dir=data)
        assert "own data directory" in found["volumes.0.source"]
    (planned,) = plan(tmp_path, mount(str(data / "volumes" / "app")), data_dir=data)
    assert planned.mount.source == str(data / "volumes" / "app")


def test_planning_touches_nothing_and_prepare_creates_owner_only_folders(tmp_path: Path) -> None:
    source = tmp_path / "root" / "app" / "data"
    planned = plan(tmp_path, mount(str(source), mode="isolated"))
    assert not (tmp_path / "root" / "app").exists()

    (created,) = volumes.prepare(planned)

    assert created.source == str(source / "dev-dev-1")
    for folder in (tmp_path / "root" / "app", source, source / "dev-dev-1"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o750


def test_an_isolated_folder_copies_its_parent_but_never_world_write(tmp_path: Path) -> None:
    source = tmp_path / "root" / "shared-parent"
    source.mkdir()
    os.chmod(source, 0o777)  # noqa: S103 - the case under test: a world-writable parent
    (created,) = volumes.prepare(plan(tmp_path, mount(str(source), mode="isolated")))
    assert stat.S_IMODE(Path(created.source).stat().st_mode) == 0o775


def test_a_planted_symlink_for_an_isolated_folder_is_refused(tmp_path: Path) -> None:
    source = tmp_path / "root" / "iso"
    source.mkdir()
    (source / "dev-dev-1").symlink_to("/etc")
    planned = plan(tmp_path, mount(str(source), mode="isolated"))
    with pytest.raises(ValidationFailed) as caught:
        volumes.prepare(planned)
    assert caught.value.errors[0].path == "volumes.0.source"
    assert "must be a real folder" in caught.value.errors[0].message


def test_allowed_named_volumes_pass_through(tmp_path: Path) -> None:
    (planned,) = plan(tmp_path, mount("app-cache", "/cache"))
    assert planned.mount == Mount("app-cache", "/cache", False, "volume")
    assert volumes.prepare([planned]) == [planned.mount]


def test_roots_default_to_the_data_directorys_volumes(tmp_path: Path) -> None:
    default = tmp_path / "data" / "volumes"
    assert volumes.allowed_roots(GlobalSettings(), default) == [str(default)]
    configured = GlobalSettings(volume_roots=["/srv/apps/", "relative"])
    assert volumes.allowed_roots(configured, default) == ["/srv/apps"]


def test_planning_checks_every_mount_before_any_folder_is_created(tmp_path: Path) -> None:
    """The deploy plans all mounts at its plan step; folders appear only at the start step."""
    good = mount(str(tmp_path / "root" / "x"), mode="isolated")
    with pytest.raises(ValidationFailed):
        plan(tmp_path, good, mount("/", "/b"))
    assert not (tmp_path / "root" / "x").exists()  # nothing created when anything is refused
    (created,) = volumes.prepare(plan(tmp_path, good))
    assert Path(created.source).is_dir()
