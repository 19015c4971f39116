"""Stop, start, restart, remove and read logs of one instance.

Removing an instance deletes its container and its proxy hosts but never its data. When it held
its stage's default subdomain, that subdomain moves to the newest other healthy instance first,
so the stage URL keeps answering whenever another instance can serve it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from services import naming
from services.deploy.routing import Router
from services.errors import NotFound
from services.events import Event, EventBus
from services.npm.proxy import ProxySource, ProxyTarget
from services.store.models import Instance, InstanceStatus, utcnow

if TYPE_CHECKING:
    from services.docker_engine import DockerEngine
    from services.store.instances import InstanceStore
    from services.store.projects import ProjectStore
    from services.store.settings_store import SettingsStore

log = logging.getLogger(__name__)


class InstanceControl:
    def __init__(
        self,
        instances: InstanceStore,
        projects: ProjectStore,
        settings: SettingsStore,
        engine: DockerEngine,
        router: Router,
        proxies: ProxySource,
        bus: EventBus,
    ) -> None:
        self._instances = instances
        self._projects = projects
        self._settings = settings
        self._engine = engine
        self._router = router
        self._proxies = proxies
        self._bus = bus
        self._removing: set[int] = set()

    async def stop(self, instance_id: int, *, by_deploy: int | None = None) -> Instance:
        """Stop the container; its proxy hosts stay (they answer 502 until it starts again).

        `by_deploy`: a stop_first deploy stopping what it replaces; marked on the row first, so
        a clean-up after that deploy failed or was cut short knows to start it again
        (`start_stopped_by`).
        """
        instance = await self._get(instance_id)
        if by_deploy is not None:
            await self._set(instance_id, stopped_by_deploy=by_deploy)
        await self._engine.stop(self._container(instance))
        return await self._set(instance_id, status=InstanceStatus.STOPPED, stopped_at=utcnow())

    async def start_stopped_by(self, deploy_id: int) -> list[Instance]:
        """Start again the instances a stop_first deploy stopped (it failed or was cut short)."""
        stopped = [
            i
            for i in await asyncio.to_thread(self._instances.all)
            if i.stopped_by_deploy == deploy_id and i.id is not None
        ]
        return [await self.start(i.id) for i in stopped if i.id is not None]

    async def start(self, instance_id: int) -> Instance:
        """Start the container again; the reconciler's health events settle its status."""
        instance = await self._get(instance_id)
        await self._engine.start(self._container(instance))
        return await self._set(
            instance_id,
            status=InstanceStatus.STARTING,
            started_at=utcnow(),
            stopped_by_deploy=None,
        )

    async def restart(self, instance_id: int) -> Instance:
        instance = await self._get(instance_id)
        await self._engine.restart(self._container(instance))
        return await self._set(instance_id, status=InstanceStatus.STARTING, started_at=utcnow())

    async def logs(self, instance_id: int, tail: int = 200) -> str:
        instance = await self._get(instance_id)
        return await self._engine.logs(self._container(instance), tail=tail)

    async def remove(self, instance_id: int, *, reassign_default: bool = True) -> None:
        """Remove proxy hosts, then the container; data directories are kept.

        Hosts go first so no proxy host ever forwards to a name that no longer resolves. Raises
        CannotConnect/UpstreamError when NPM or Docker fail; the instance row then stays so the
        user can retry. While it runs, `removing(instance_id)` is true: the reconciler then
        knows the container's disappearance is ours, not an outside loss.
        """
        self._removing.add(instance_id)
        try:
            await self._remove(instance_id, reassign_default=reassign_default)
        finally:
            self._removing.discard(instance_id)

    def removing(self, instance_id: int) -> bool:
        """True while `remove` works on this instance."""
        return instance_id in self._removing

    async def _remove(self, instance_id: int, *, reassign_default: bool) -> None:
        instance = await self._get(instance_id)
        target = await self._proxies.current()
        if reassign_default and await self.hand_over_default(instance, target) is not None:
            instance = await self._get(instance_id)  # the default's host now serves the other
        for domain in list(instance.proxy_host_ids):
            await self._router.release(target, instance, domain)
        try:
            await self._engine.remove(instance.container_name or self._container(instance))
        except NotFound:
            log.info("container of instance %s was already gone", instance_id)
        await asyncio.to_thread(self._instances.delete, instance_id)
        self._bus.publish(Event("instance.removed", instance.project_id, instance_id=instance_id))

    async def hand_over_default(
        self, instance: Instance, target: ProxyTarget | None
    ) -> Instance | None:
        """Point the stage's default subdomain, when `instance` holds it, at the newest other
        healthy instance of the stage; returns that instance (None: nothing was moved)."""
        if target is None:
            return None
        project = await asyncio.to_thread(self._projects.get, instance.project_id)
        stage = await asyncio.to_thread(self._projects.get_stage, instance.stage_id)
        settings = await asyncio.to_thread(self._settings.get_global)
        default = naming.default_fqdn(settings, project, stage)
        if default not in instance.proxy_host_ids:
            return None
        siblings = await asyncio.to_thread(self._instances.all, stage_id=instance.stage_id)
        healthy = [
            i for i in siblings if i.id != instance.id and i.status == InstanceStatus.HEALTHY
        ]
        if not healthy:
            return None
        staged = target.for_stage(stage.certificate_id)
        await self._router.point(staged, default, healthy[-1], project.port)
        return healthy[-1]

    async def _get(self, instance_id: int) -> Instance:
        return await asyncio.to_thread(self._instances.get, instance_id)

    async def _set(self, instance_id: int, **changes: Any) -> Instance:
        row = await asyncio.to_thread(self._instances.update, instance_id, **changes)
        self._bus.publish(
            Event(
                "instance.changed",
                row.project_id,
                instance_id=instance_id,
                data={"status": row.status.value},
            )
        )
        return row

    @staticmethod
    def _container(instance: Instance) -> str:
        if not instance.container_id:
            raise NotFound(f"instance #{instance.id} has no container")
        return instance.container_id
