"""Real stores over a temporary SQLite file, plus recording stand-ins for Docker-side services.

Unit tests of the admin services use the real database (its constraints are part of the
behaviour) but not the engine: `RecordingControl` and `RecordingDeployer` note what would have
been done to containers, in order.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from services.deploy.deployer import DeployRequest
from services.errors import WatcherError
from services.secrets import SecretBox
from services.store.db import Database
from services.store.deploys import DeployStore
from services.store.instances import InstanceStore
from services.store.models import Deploy, DeployStatus, Instance, InstanceStatus, Project, Stage
from services.store.projects import ProjectStore
from services.store.registries import RegistryStore
from services.store.settings_store import SettingsStore


@dataclass
class RecordingControl:
    """Stands in for InstanceControl: removing deletes the row, like the real one."""

    instances: InstanceStore
    calls: list[tuple[str, int]] = field(default_factory=list)
    fail_with: WatcherError | None = None

    async def remove(self, instance_id: int, *, reassign_default: bool = True) -> None:
        self.calls.append(("remove", instance_id))
        if self.fail_with is not None:
            raise self.fail_with
        self.instances.delete(instance_id)

    async def stop(self, instance_id: int) -> Instance:
        self.calls.append(("stop", instance_id))
        return self.instances.update(instance_id, status=InstanceStatus.STOPPED)

    async def start(self, instance_id: int) -> Instance:
        self.calls.append(("start", instance_id))
        return self.instances.update(instance_id, status=InstanceStatus.STARTING)

    async def restart(self, instance_id: int) -> Instance:
        self.calls.append(("restart", instance_id))
        return self.instances.get(instance_id)

    async def logs(self, instance_id: int, tail: int = 200) -> str:
        self.calls.append(("logs", instance_id))
        return f"last {tail} lines"


@dataclass
class RecordingDeployer:
    """Stands in for Deployer.submit: records the request and a queued deploy row."""

    deploys: DeployStore
    requests: list[DeployRequest] = field(default_factory=list)

    async def submit(self, request: DeployRequest) -> Deploy:
        self.requests.append(request)
        row = Deploy(
            project_id=request.project_id,
            project_name="?",
            stage_name=request.stage,
            tag=request.tag,
            trigger=request.trigger,
        )
        return self.deploys.create(row)


@dataclass
class Stores:
    db: Database
    projects: ProjectStore
    instances: InstanceStore
    registries: RegistryStore
    deploys: DeployStore
    settings: SettingsStore

    def project(self, name: str = "web", stages: tuple[str, ...] = ("dev",)) -> Project:
        project = self.projects.create(name=name, image=f"example.com/{name}")
        assert project.id is not None
        for stage in stages:
            self.projects.add_stage(project.id, name=stage, tag_pattern="*")
        return project

    def stage(self, project: Project, name: str) -> Stage:
        assert project.id is not None
        return self.projects.stage_by_name(project.id, name)

    def instance(self, project: Project, stage: str, tag: str = "v1", **fields: Any) -> Instance:
        row = self.stage(project, stage)
        assert project.id is not None and row.id is not None
        values: dict[str, Any] = {"status": InstanceStatus.HEALTHY, **fields}
        return self.instances.add(
            Instance(project_id=project.id, stage_id=row.id, tag=tag, **values)
        )

    def deploy(self, project: Project, stage: str, status: DeployStatus) -> Deploy:
        row = Deploy(
            project_id=project.id,
            project_name=project.name,
            stage_name=stage,
            tag="v1",
            trigger="manual",
            status=status,
        )
        return self.deploys.create(row)


@contextmanager
def stores(tmp: Path) -> Iterator[Stores]:
    db = Database(tmp / "watcher.db")
    db.migrate()
    box = SecretBox(os.urandom(32))
    yield Stores(
        db,
        ProjectStore(db, box),
        InstanceStore(db),
        RegistryStore(db, box),
        DeployStore(db),
        SettingsStore(db, box),
    )
    db.close()
