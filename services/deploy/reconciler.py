"""Keeps the database true to the engine.

At start-up: deploys still marked queued/running were interrupted by a crash; what they created is
removed (container and proxy hosts) and they are finished as failed. Failed deploys whose undo an
outage cut short are cleaned up (`cleanup.py`). Containers carrying our labels that no instance
row knows are removed. Then every instance's status is read from its container.
While running: the engine's event stream keeps statuses current; after a reconnect the stream
says "resync" (dockerd may have restarted, and its restart policies started containers again)
and the same clean-up as at start-up runs.

The follower must not die: every event (and every instance of a resync) is applied in its own
error boundary. A row that vanished meanwhile (a retire or a person's Remove won the race) is a
normal case; any other error is logged with the event and the next event is applied. When the
stream itself breaks, `run` follows it again after a back-off and re-reads every status.

An instance whose container is gone or will not run again (`status_of`) is lost: it goes to
`services.deploy.lost`, which frees its proxy hosts and says so. Not when the loss is ours: a
removal in progress (`InstanceControl.removing`) or the instance's own deploy still running (its
undo removes the container).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, Awaitable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from services.deploy.cleanup import PendingCleanup
from services.deploy.lost import LOST
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
    from services.deploy.lost import LostInstances

log = logging.getLogger(__name__)
INTERRUPTED = "interrupted: Docker Watcher stopped while this deploy was running"
FOLLOW_BACKOFF = (0.5, 30.0)  # seconds before following a broken event stream again: min, max
UNFINISHED = (DeployStatus.QUEUED, DeployStatus.RUNNING)
MAX_ID_DIGITS = 18  # below SQLite's largest integer (2**63 - 1 has 19 digits)


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
    if container.gone_for_good:
        return InstanceStatus.FAILED
    return InstanceStatus.STOPPED


def loss_reason(container: ContainerInfo | None) -> str:
    """Why an instance with this container (or none) is lost, in words for a person."""
    if container is None:
        return "its container was removed outside Docker Watcher"
    if container.status == "dead":
        return "its container is dead (the engine could not stop or remove it)"
    policy = container.restart_policy or "no"
    return (
        f"its container exited (code {container.exit_code}) and its restart policy "
        f"({policy}) will not start it again"
    )


class Reconciler:
    def __init__(
        self,
        instances: InstanceStore,
        deploys: DeployStore,
        engine: DockerEngine,
        control: InstanceControl,
        lost: LostInstances,
        bus: EventBus,
        installation: str,
        backoff: tuple[float, float] = FOLLOW_BACKOFF,
        cleanup: PendingCleanup | None = None,
    ) -> None:
        self._ours = {LABEL_INSTALLATION: installation}
        self._lost = lost
        self._backoff = backoff
        self._cleanup = cleanup
        self._born = utcnow()  # deploys created from now on run in this process
        self._instances = instances
        self._deploys = deploys
        self._engine = engine
        self._control = control
        self._bus = bus

    async def reconcile_startup(self) -> ReconcileReport:
        """Clean up after an interrupted run, then sync statuses. Call before deploys start."""
        return await self._clean_up_and_sync(interrupted_before=None)

    async def resync(self) -> ReconcileReport:
        """The start-up clean-up again, after the event stream reconnected. Deploys this
        process queued are alive, so only unfinished ones older than it count as interrupted."""
        return await self._clean_up_and_sync(interrupted_before=self._born)

    async def _clean_up_and_sync(self, *, interrupted_before: datetime | None) -> ReconcileReport:
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
        """Read every instance's status from the engine (after an events reconnect); a lost
        instance whose hosts NPM could not delete before is settled again."""
        report = ReconcileReport()
        await self._sync(await self._engine.list_managed(self._ours), report)
        return report

    async def recheck(self, stop: asyncio.Event, interval: float) -> None:
        """Read every status again each `interval` seconds until `stop` is set: NPM coming
        back sends no event, and a lost instance's hosts must not outlive an NPM outage."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)
            if not stop.is_set():
                await guarded("the periodic status check", self.sync_statuses())

    async def _finish_interrupted(self, deploy: Deploy, report: ReconcileReport) -> None:
        assert deploy.id is not None
        made = [i for i in await asyncio.to_thread(self._instances.all) if i.deploy_id == deploy.id]
        pending = serving = False
        for instance in made:
            if deploy.step == "retire" and instance.status == InstanceStatus.HEALTHY:
                serving = True  # it already serves the stage; only the retire of old ones was cut
                continue
            assert instance.id is not None
            try:
                await self._control.remove(instance.id, reassign_default=True)
            except WatcherError as exc:  # the rows stay: the pending clean-up finishes it
                pending = True
                log.warning(
                    "could not clean up instance %s of deploy %s: %s", instance.id, deploy.id, exc
                )
        if not pending and not serving:
            pending = not await self._start_stopped(deploy.id)
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

    async def _start_stopped(self, deploy_id: int) -> bool:
        """What an interrupted stop_first deploy stopped runs again; False when it cannot yet
        (the pending clean-up tries again)."""
        try:
            await self._control.start_stopped_by(deploy_id)
        except WatcherError as exc:
            log.warning("could not start again what deploy %s stopped: %s", deploy_id, exc)
            return False
        return True

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
        by_id = {c.id: c for c in containers}
        for instance in await asyncio.to_thread(self._instances.all):
            assert instance.id is not None
            if instance.container_id:  # its own container, not an older one of a reused id
                container = by_id.get(instance.container_id)
            else:
                container = by_instance.get(instance.id)
            what = f"the status of instance {instance.id}"
            if await guarded(what, self._reconcile(instance, container)):
                report.status_changes[instance.id] = status_of(container).value

    async def apply(self, event: EngineEvent) -> None:
        """Update the instance an engine event is about (or resync everything)."""
        if event.action == RESYNC_ACTION:
            await self.resync()
            return
        instance_id = _instance_id_from_labels(event.labels)
        if instance_id is None:
            return
        instance = await asyncio.to_thread(self._instances.find, instance_id)
        if instance is None or not _about(instance, event):
            return
        await self._reconcile(instance, await self._current(event))

    async def _current(self, event: EngineEvent) -> ContainerInfo | None:
        """The container now (events can arrive late or out of order, so ask); None: gone."""
        try:
            return await self._engine.get(event.container_id)
        except NotFound:
            return None

    async def _reconcile(self, instance: Instance, container: ContainerInfo | None) -> bool:
        """Write the status the container means; settle a lost instance. True: it changed."""
        status = status_of(container)
        changed = await self._set_status(instance, status)
        unsettled = status in LOST and (changed or instance.proxy_host_ids)
        if unsettled and not await self._loss_is_ours(instance):
            await self._lost.settle(instance, status, loss_reason(container), newly=changed)
        return changed

    async def _loss_is_ours(self, instance: Instance) -> bool:
        """A removal in progress, or a deploy still working on its own new instance."""
        assert instance.id is not None
        if self._control.removing(instance.id):
            return True
        if instance.deploy_id is None:
            return False
        try:
            deploy = await asyncio.to_thread(self._deploys.get, instance.deploy_id)
        except NotFound:
            return False
        return deploy.status in UNFINISHED

    async def _set_status(self, instance: Instance, status: InstanceStatus) -> bool:
        if instance.status == status:
            return False
        assert instance.id is not None
        changes: dict[str, Any] = {"status": status}
        if status in (InstanceStatus.STOPPED, InstanceStatus.MISSING):
            changes["stopped_at"] = utcnow()
        await asyncio.to_thread(self._instances.update_same, instance, **changes)
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
        """Follow the engine's events until `stop` is set; never raises, never ends before.

        A broken stream is followed again after a back-off (doubling while it keeps breaking
        quickly), and every status is read again since events may have been missed.
        """
        low, high = self._backoff
        delay = low
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            began = loop.time()
            try:
                await self._follow(stop)
            except Exception:  # the adapter absorbs engine outages; this is anything else
                log.exception("engine event stream broke; following again in %.1fs", delay)
            else:
                if stop.is_set():
                    return
                log.warning("engine event stream ended; following again in %.1fs", delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            delay = low if loop.time() - began > high else min(delay * 2, high)
            if not stop.is_set():
                await guarded("the statuses after following again", self.sync_statuses())

    async def _follow(self, stop: asyncio.Event) -> None:
        events = self._engine.events(stop, labels=self._ours)
        try:
            async for event in events:
                what = f"engine event {event.action} of {event.name or event.container_id[:12]}"
                await guarded(what, self.apply(event))
        finally:  # also when cancelled: the stream's reader thread must stop
            if isinstance(events, AsyncGenerator):
                await events.aclose()


async def guarded(what: str, work: Awaitable[object]) -> bool:
    """Run `work` in its own error boundary (it never takes the follower down); True when it
    returned True. A vanished row or container is normal; anything else is logged with `what`."""
    try:
        return await work is True
    except NotFound as exc:  # a retire or a person's Remove won the race: nothing left to do
        log.debug("%s: %s", what, exc)
    except WatcherError as exc:
        log.warning("could not apply %s: %s", what, exc)
    except Exception:
        log.exception("unexpected error applying %s; going on", what)
    return False


def _about(instance: Instance, event: EngineEvent) -> bool:
    """SQLite reuses the id of a deleted row, so a late event of a removed container can carry
    a newer instance's id: an event is about the row only when it names the row's container."""
    if instance.container_id:
        return event.container_id == instance.container_id
    return bool(instance.container_name) and event.name == instance.container_name


def _instance_id(container: ContainerInfo) -> int | None:
    return _instance_id_from_labels(container.labels)


def _instance_id_from_labels(labels: Any) -> int | None:
    """The row id a container's label names; None for what no row id can be (labels are set
    by whoever created the container, and SQLite refuses integers beyond 64 bits)."""
    value = str(labels.get(LABEL_INSTANCE, ""))
    return int(value) if value.isdigit() and len(value) <= MAX_ID_DIGITS else None
