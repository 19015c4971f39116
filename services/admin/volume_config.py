"""Reading and changing a project's volumes and its stages' overrides, and deleting data.

Saving applies the same rules a deploy applies (`services.volume_rules` for the text,
`services.volumes` for the real path behind symlinks and the allowed roots), so what the
editor accepts deploys. Removing an instance never deletes data; `delete_data` does, only for
isolated folders, only with `confirm=True`, and never while an instance still uses them.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from services import volume_rules, volumes
from services.audit.changes import record_change
from services.audit.log import Actor, AuditLog, Target
from services.deploy import container_config
from services.deploy.container_config import Origin
from services.errors import Conflict, FieldError, ValidationFailed
from services.store.instances import InstanceStore
from services.store.models import Stage, VolumeMode, VolumeMount
from services.store.projects import ProjectStore
from services.store.settings_store import SettingsStore


@dataclass(frozen=True)
class VolumeChange:
    """One mount as a form or API sends it; `source` without a leading `/` is a named volume."""

    source: str
    target: str
    mode: str = "shared"
    read_only: bool = False


@dataclass(frozen=True)
class VolumeView:
    source: str
    target: str
    mode: str
    read_only: bool
    kind: Literal["bind", "volume"]


@dataclass(frozen=True)
class ResolvedVolumeView:
    """One mount a stage's containers get, and whether the project or the stage defines it."""

    volume: VolumeView
    origin: Origin


@dataclass(frozen=True)
class StageVolumesView:
    stage: str
    overrides: tuple[VolumeView, ...]
    resolved: tuple[ResolvedVolumeView, ...]


@dataclass(frozen=True)
class ProjectVolumesView:
    project_id: int
    volumes: tuple[VolumeView, ...]
    stages: tuple[StageVolumesView, ...]
    roots: tuple[str, ...]  # where host paths may lie
    named: tuple[str, ...] = ()  # globs of the Docker volume names projects may mount


@dataclass(frozen=True)
class DataFolder:
    """An isolated folder on disk; `in_use` when an instance of this project still mounts it."""

    stage: str
    tag: str
    path: str
    in_use: bool


class VolumeConfigService:
    """The volume editor's service; see the module doc for the rules it keeps."""

    def __init__(
        self,
        projects: ProjectStore,
        instances: InstanceStore,
        settings: SettingsStore,
        default_root: Path,
        audit: AuditLog,
    ) -> None:
        self._audit = audit
        """`default_root` is the data directory's `volumes/` folder, as the deployer gets it."""
        self._projects = projects
        self._instances = instances
        self._settings = settings
        self._default_root = default_root

    async def read(self, project_id: int) -> ProjectVolumesView:
        """The project's mounts and each stage's overrides and result. NotFound for no project."""
        return await asyncio.to_thread(self._read, project_id)

    async def update(
        self, project_id: int, stage: str | None, changes: Sequence[VolumeChange], *, actor: Actor
    ) -> ProjectVolumesView:
        """Replace the mounts of the project (stage None) or of one stage, all or nothing.

        Raises ValidationFailed naming each bad field (`volumes.0.source`,
        `stages.dev.volumes.1.target`), NotFound for an unknown project or stage.
        """
        before = await self.read(project_id)
        project = await asyncio.to_thread(self._projects.get, project_id)
        target = Target(project=project.name, stage=stage, other="volumes")
        work = asyncio.to_thread(self._update, project_id, stage, list(changes))
        return await record_change(
            self._audit,
            actor,
            target,
            work,
            before={"volumes": before},
            after=lambda view: {"volumes": view},
        )

    async def data_folders(self, project_id: int) -> list[DataFolder]:
        """The isolated folders that exist for the project's stages, for a "delete data" list."""
        return await asyncio.to_thread(self._data_folders, project_id)

    async def delete_data(
        self, project_id: int, stage: str, tag: str, *, confirm: bool
    ) -> list[str]:
        """Delete the isolated folders of one stage and tag; returns the folders deleted.

        Cannot be undone, so it refuses without `confirm=True` (ValidationFailed on `confirm`)
        and while an instance uses the folder (Conflict: remove the instance first). Shared
        folders and named volumes are never touched.
        """
        return await asyncio.to_thread(self._delete_data, project_id, stage, tag, confirm)

    # reading ---------------------------------------------------------------------------------
    def _read(self, project_id: int) -> ProjectVolumesView:
        self._projects.get(project_id)
        rows = self._projects.volumes(project_id)
        return ProjectVolumesView(
            project_id=project_id,
            volumes=tuple(_view(r) for r in rows if r.stage_id is None),
            stages=tuple(_stage_view(rows, s) for s in self._projects.stages(project_id)),
            roots=tuple(self._roots()),
            named=tuple(volumes.allowed_named(self._settings.get_global())),
        )

    def _roots(self) -> list[str]:
        return volumes.allowed_roots(self._settings.get_global(), self._default_root)

    # writing ---------------------------------------------------------------------------------
    def _update(
        self, project_id: int, stage_name: str | None, changes: list[VolumeChange]
    ) -> ProjectVolumesView:
        self._projects.get(project_id)
        stage = self._projects.stage_by_name(project_id, stage_name) if stage_name else None
        base = f"stages.{stage_name}.volumes" if stage_name else "volumes"
        errors = self._problems(changes, base)
        if errors:
            raise ValidationFailed(errors)
        rows = [_row(project_id, c) for c in changes]
        self._projects.set_volumes(project_id, stage.id if stage else None, rows)
        return self._read(project_id)

    def _problems(self, changes: list[VolumeChange], base: str) -> list[FieldError]:
        errors = volume_rules.list_problems(changes, base)
        bad = {e.path for e in errors}
        roots, data_dir = self._roots(), self._default_root.parent
        named = volumes.allowed_named(self._settings.get_global())
        for index, change in enumerate(changes):
            path = f"{base}.{index}.source"
            if path in bad:
                continue
            if volume_rules.is_named(change.source):
                if any(p.startswith(f"{base}.{index}.") for p in bad):
                    continue  # its own field errors say enough
                problem = volume_rules.named_problem(change.source, named)
                errors += [FieldError(path, problem)] if problem else []
                continue
            try:
                volumes.real_source(change.source, roots, data_dir, path)
            except ValidationFailed as exc:
                errors += exc.errors
        return errors

    # deleting data ---------------------------------------------------------------------------
    def _data_folders(self, project_id: int) -> list[DataFolder]:
        in_use = self._used_names(project_id)
        found: list[DataFolder] = []
        for stage in self._projects.stages(project_id):
            for parent in self._isolated_sources(project_id, stage):
                found += _folders_of(stage.name, parent, in_use)
        return found

    def _delete_data(self, project_id: int, stage_name: str, tag: str, confirm: bool) -> list[str]:
        if confirm is not True:
            raise ValidationFailed.single("confirm", "deleting data cannot be undone; confirm it")
        stage = self._projects.stage_by_name(project_id, stage_name)
        name = volume_rules.isolated_dir_name(stage.name, tag)
        if name in self._used_names(project_id):
            raise Conflict(
                f"an instance of {stage.name} {tag} still uses this data; remove it first"
            )
        deleted: list[str] = []
        for parent in self._isolated_sources(project_id, stage):
            folder = os.path.join(parent, name)
            if _remove_folder(folder):
                deleted.append(folder)
        return deleted

    def _used_names(self, project_id: int) -> set[str]:
        """Isolated folder names of every instance the project still tracks (any status)."""
        names = {s.id: s.name for s in self._projects.stages(project_id)}
        return {
            volume_rules.isolated_dir_name(names[i.stage_id], i.tag)
            for i in self._instances.all(project_id=project_id)
            if i.stage_id in names
        }

    def _isolated_sources(self, project_id: int, stage: Stage) -> list[str]:
        """Real folders of the stage's isolated mounts, checked as a deploy would check them."""
        rows = container_config.resolve_volumes(self._projects.volumes(project_id), stage)
        isolated = [(path, row) for path, row in rows if row.mode == VolumeMode.ISOLATED]
        roots, data_dir = self._roots(), self._default_root.parent
        errors = volumes.check(isolated, roots, data_dir)
        if errors:
            raise ValidationFailed(errors)
        return [
            volumes.real_source(row.source, roots, data_dir, f"{path}.source")
            for path, row in isolated
        ]


def _remove_folder(folder: str) -> bool:
    """Delete a real folder (never through a symlink); False when there is none."""
    if os.path.islink(folder) or (os.path.exists(folder) and not os.path.isdir(folder)):
        raise ValidationFailed.single(
            "tag", f"{folder} is not a plain folder; refusing to delete it"
        )
    if not os.path.isdir(folder):
        return False
    shutil.rmtree(folder)
    return True


def _folders_of(stage: str, parent: str, in_use: set[str]) -> list[DataFolder]:
    prefix = f"{stage}-"
    try:
        names = sorted(os.listdir(parent))
    except FileNotFoundError:
        return []
    return [
        DataFolder(stage, name[len(prefix) :], os.path.join(parent, name), name in in_use)
        for name in names
        if name.startswith(prefix) and os.path.isdir(os.path.join(parent, name))
    ]


def _row(project_id: int, change: VolumeChange) -> VolumeMount:
    named = volume_rules.is_named(change.source)
    return VolumeMount(
        project_id=project_id,
        source=change.source if named else volume_rules.normal(change.source),
        target=volume_rules.normal(change.target),
        mode=VolumeMode(change.mode),
        read_only=change.read_only,
    )


def _view(row: VolumeMount) -> VolumeView:
    kind: Literal["bind", "volume"] = "volume" if volume_rules.is_named(row.source) else "bind"
    return VolumeView(row.source, row.target, VolumeMode(row.mode).value, row.read_only, kind)


def _stage_view(rows: list[VolumeMount], stage: Stage) -> StageVolumesView:
    resolved = container_config.resolve_volumes(rows, stage)
    return StageVolumesView(
        stage=stage.name,
        overrides=tuple(_view(r) for r in rows if r.stage_id == stage.id),
        resolved=tuple(
            ResolvedVolumeView(_view(r), container_config.origin_of(r)) for _, r in resolved
        ),
    )
