"""Keeps the database true to the engine.

At start-up: deploys still marked queued/running were interrupted by a crash; what they created is
removed (container and proxy hosts) and they are finished as failed. Failed deploys whose undo an
outage cut short are cleaned up (`cleanup.py`). Containers carrying our labels that no instance
row knows are removed. Then every instance's status is read from its container.
While running: the engine's event stream keeps statuses current; after a reconnect the stream
says "resync" (dockerd may have restarted, and its restart policies started containers again)
and the same clean-up as at start-up runs.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from services.deploy.cleanup import PendingCleanup
from services.docker_engine import DockerEngine
from services.errors import NotFound, WatcherError
from services.events import Event, EventBus
from services.store.deploys import DeployStore
from services.store.instances import InstanceStore
from services.store.models import Deploy, DeployStatus, Instance, InstanceStatus, utcnow
from services.types import (
    LABEL_INSTALLATION,
    LABEL_INSTANCE,
    RESYNC_ACTION,
    ContainerInfo,
    EngineEvent,
)

if TYPE_CHECKING:
    from services.deploy.instance_control import InstanceControl

log = logging.getLogger(__name__)
INTERRUPTED = "interrupted: Docker Watcher stopped while this deploy was running"


@dataclass
class ReconcileReport:
    interrupted_deploys: list[int] = field(default_factory=list)
    removed_orphans: list[str] = field(default_factory=list)
    finished_cleanups: list[int] = field(default_factory=list)  # deploys whose undo finished
    status_changes: dict[int, str] = field(default_factory=dict)


def status_of(container: ContainerInfo | None) -> InstanceStatus:
    """The instance status a container's engine state means."""
    if container is None:
        return InstanceStatus.MISSING
    if container.status == "running":
        return {
            "healthy": InstanceStatus.HEALTHY,
            "unhealthy": InstanceStatus.UNHEALTHY,
            "starting": InstanceStatus.STARTING,
        }.get(container.health or "", InstanceStatus.HEALTHY)
    if container.status == "restarting":
        return InstanceStatus.UNHEALTHY
    if container.status == "dead":
        return InstanceStatus.FAILED
    return InstanceStatus.STOPPED


class Reconciler:
    def __init__(
        self,
        instances: InstanceStore,
        deploys: DeployStore,
        engine: DockerEngine,
        control: InstanceControl,
        bus: EventBus,
        installation: str,
        cleanup: PendingCleanup | None = None,
    ) -> None:
        self._ours = {LABEL_INSTALLATION: installation}
        self._cleanup = cleanup
        self._born = utcnow()  # deploys created from now on run in this process
        self._instances = instances
        self._deploys = deploys
        self._engine = engine
        self._control = control
        self._bus = bus

    async def reconcile_startup(self) -> ReconcileReport:
        """Clean up after an interrupted run, then sync statuses. Call before deploys start."""
        return await self._reconcile(interrupted_before=None)

    async def resync(self) -> ReconcileReport:
        """The start-up clean-up again, after the event stream reconnected. Deploys this
        process queued are alive, so only unfinished ones older than it count as interrupted."""
        return await self._reconcile(interrupted_before=self._born)

    async def _reconcile(self, *, interrupted_before: datetime | None) -> ReconcileReport:
        report = ReconcileReport()
        for deploy in await asyncio.to_thread(self._deploys.unfinished):
            if interrupted_before is None or deploy.created_at < interrupted_before:
                await self._finish_interrupted(deploy, report)
        if self._cleanup is not None:
            report.finished_cleanups = await self._cleanup.finish_all()
        containers = await self._engine.list_managed(self._ours)
        await self._remove_orphans(containers, report)
        await self._sync(containers, report)
        return report

    async def sync_statuses(self) -> ReconcileReport:
        """Read every instance's status from the engine (after an events reconnect)."""
        report = ReconcileReport()
        await self._sync(await self._engine.list_managed(self._ours), report)
        return report

    async def _finish_interrupted(self, deploy: Deploy, report: ReconcileReport) -> None:
        assert deploy.id is not None
        made = [i for i in await asyncio.to_thread(self._instances.all) if i.deploy_id == deploy.id]
        pending = False
        for instance in made:
            if deploy.step == "retire" and instance.status == InstanceStatus.HEALTHY:
                continue  # it already serves the stage; only the clean-up of old ones was cut
            assert instance.id is not None
            try:
                await self._control.remove(instance.id, reassign_default=True)
            except WatcherError as exc:  # the rows stay: the pending clean-up finishes it
                pending = True
                log.warning(
                    "could not clean up instance %s of deploy %s: %s", instance.id, deploy.id, exc
                )
        await asyncio.to_thread(self._deploys.log, deploy.id, "reconcile", INTERRUPTED, "error")
        await asyncio.to_thread(
            self._deploys.update,
            deploy.id,
            status=DeployStatus.FAILED,
            error=INTERRUPTED,
            cleanup_pending=pending,
            finished_at=utcnow(),
        )
        report.interrupted_deploys.append(deploy.id)
        self._bus.publish(
            Event(
                "deploy.finished",
                deploy.project_id,
                deploy.id,
                data={"status": DeployStatus.FAILED.value, "error": INTERRUPTED},
            )
        )

    async def _remove_orphans(
        self, containers: list[ContainerInfo], report: ReconcileReport
    ) -> None:
        known = {i.id for i in await asyncio.to_thread(self._instances.all)}
        for container in containers:
            if _instance_id(container) not in known:
                await self._engine.remove(container.id, force=True)
                report.removed_orphans.append(container.name)
                log.info("removed container %s that no instance knows", container.name)

    async def _sync(self, containers: list[ContainerInfo], report: ReconcileReport) -> None:
        by_instance = {_instance_id(c): c for c in containers}
        for instance in await asyncio.to_thread(self._instances.all):
            assert instance.id is not None
            status = status_of(by_instance.get(instance.id))
            if await self._set_status(instance, status):
                report.status_changes[instance.id] = status.value

    async def apply(self, event: EngineEvent) -> None:
        """Update the instance an engine event is about (or resync everything)."""
        if event.action == RESYNC_ACTION:
            await self.resync()
            return
        instance_id = _instance_id_from_labels(event.labels)
        instance = await asyncio.to_thread(self._instances.find, instance_id or 0)
        if instance is None:
            return
        await self._set_status(instance, await self._current_status(event))

    async def _current_status(self, event: EngineEvent) -> InstanceStatus:
        """The container's state now (events can arrive late or out of order, so ask)."""
        try:
            return status_of(await self._engine.get(event.container_id))
        except NotFound:
            return InstanceStatus.MISSING

    async def _set_status(self, instance: Instance, status: InstanceStatus) -> bool:
        if instance.status == status:
            return False
        assert instance.id is not None
        changes: dict[str, Any] = {"status": status}
        if status in (InstanceStatus.STOPPED, InstanceStatus.MISSING):
            changes["stopped_at"] = utcnow()
        await asyncio.to_thread(self._instances.update, instance.id, **changes)
        self._bus.publish(
            Event(
                "instance.changed",
                instance.project_id,
                instance_id=instance.id,
                data={"status": status.value},
            )
        )
        return True

    async def run(self, stop: asyncio.Event) -> None:
        """Follow the engine's events until `stop` is set; never raises."""
        try:
            async for event in self._engine.events(stop, labels=self._ours):
                try:
                    await self.apply(event)
                except WatcherError as exc:
                    log.warning("could not apply engine event %s: %s", event.action, exc)
        except WatcherError as exc:
            log.warning("engine event stream ended: %s", exc)


def _instance_id(container: ContainerInfo) -> int | None:
    return _instance_id_from_labels(container.labels)


def _instance_id_from_labels(labels: Any) -> int | None:
    value = str(labels.get(LABEL_INSTANCE, ""))
    return int(value) if value.isdigit() else None
