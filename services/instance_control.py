"""Stop, start, restart, remove and read logs of one instance (SPEC §6 "Instance controls").

Removing an instance deletes its container and its proxy hosts but never its data. When it held
its stage's default subdomain, that subdomain moves to the newest other healthy instance first,
so the stage URL keeps answering whenever another instance can serve it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Protocol

from app.models import GlobalSettings, Instance, InstanceStatus, Project, Stage, utcnow
from services import naming
from services.errors import NotFound
from services.events import Event, EventBus
from services.routing import ProxyTarget, Router

log = logging.getLogger(__name__)


class _Engine(Protocol):
    async def stop(self, container_id: str, timeout: int = 10) -> None: ...
    async def start(self, container_id: str) -> None: ...
    async def restart(self, container_id: str, timeout: int = 10) -> None: ...
    async def remove(self, container_id: str, force: bool = True) -> bool: ...
    async def logs(self, container_id: str, tail: int = 200) -> str: ...


class _Instances(Protocol):
    def get(self, instance_id: int) -> Instance: ...
    def all(
        self, *, project_id: int | None = None, stage_id: int | None = None
    ) -> list[Instance]: ...
    def update(self, instance_id: int, **changes: Any) -> Instance: ...
    def delete(self, instance_id: int) -> None: ...


class _Projects(Protocol):
    def get(self, project_id: int) -> Project: ...
    def get_stage(self, stage_id: int) -> Stage: ...


class _Settings(Protocol):
    def get_global(self) -> GlobalSettings: ...


class _Proxies(Protocol):
    async def current(self) -> ProxyTarget | None: ...


class InstanceControl:
    def __init__(
        self,
        instances: _Instances,
        projects: _Projects,
        settings: _Settings,
        engine: _Engine,
        router: Router,
        proxies: _Proxies,
        bus: EventBus,
    ) -> None:
        self._instances = instances
        self._projects = projects
        self._settings = settings
        self._engine = engine
        self._router = router
        self._proxies = proxies
        self._bus = bus

    async def stop(self, instance_id: int) -> Instance:
        """Stop the container; its proxy hosts stay (they answer 502 until it starts again)."""
        instance = await self._get(instance_id)
        await self._engine.stop(self._container(instance))
        return await self._set(instance_id, status=InstanceStatus.STOPPED, stopped_at=utcnow())

    async def start(self, instance_id: int) -> Instance:
        """Start the container again; the reconciler's health events settle its status."""
        instance = await self._get(instance_id)
        await self._engine.start(self._container(instance))
        return await self._set(instance_id, status=InstanceStatus.STARTING, started_at=utcnow())

    async def restart(self, instance_id: int) -> Instance:
        instance = await self._get(instance_id)
        await self._engine.restart(self._container(instance))
        return await self._set(instance_id, status=InstanceStatus.STARTING, started_at=utcnow())

    async def logs(self, instance_id: int, tail: int = 200) -> str:
        instance = await self._get(instance_id)
        return await self._engine.logs(self._container(instance), tail=tail)

    async def remove(self, instance_id: int, *, reassign_default: bool = True) -> None:
        """Remove container and proxy hosts; data directories are kept.

        Raises CannotConnect/UpstreamError when NPM or Docker fail; the instance row then stays
        so the user can retry.
        """
        instance = await self._get(instance_id)
        target = await self._proxies.current()
        if reassign_default:
            await self._hand_over_default(instance, target)
        for domain in list(instance.proxy_host_ids):
            await self._router.release(target, instance, domain)
        try:
            await self._engine.remove(instance.container_name or self._container(instance))
        except NotFound:
            log.info("container of instance %s was already gone", instance_id)
        await asyncio.to_thread(self._instances.delete, instance_id)
        self._bus.publish(Event("instance.removed", instance.project_id, instance_id=instance_id))

    async def _hand_over_default(self, instance: Instance, target: ProxyTarget | None) -> None:
        if target is None:
            return
        project = await asyncio.to_thread(self._projects.get, instance.project_id)
        stage = await asyncio.to_thread(self._projects.get_stage, instance.stage_id)
        settings = await asyncio.to_thread(self._settings.get_global)
        default = naming.default_fqdn(settings, project, stage)
        if default not in instance.proxy_host_ids:
            return
        siblings = await asyncio.to_thread(self._instances.all, stage_id=instance.stage_id)
        healthy = [
            i for i in siblings if i.id != instance.id and i.status == InstanceStatus.HEALTHY
        ]
        if healthy:
            await self._router.point(target, default, healthy[-1], project.port)

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
