"""Nothing points at a lost container.

An instance is lost when its container is gone (removed outside Docker Watcher, status
`missing`) or will not run again by itself (`ContainerInfo.gone_for_good`, status `failed`).
The reconciler then hands it here, and:

- the stage's default subdomain moves to the newest other healthy instance of the stage when
  there is one (`InstanceControl.hand_over_default`);
- every other proxy host the instance held is deleted, so no host forwards to a name that no
  longer resolves (through nginx such a request hangs, then answers 502);
- the row stays with the reason in `error`, so a person sees what happened; a lost instance no
  longer counts toward the stage's `max_instances` (`LOST`) and the next deploy of its tag
  replaces it;
- it is said once: a log line, `instance.changed` on the bus (pages re-read the row) and an
  `instance_lost` notification.

Hosts are deleted, not disabled: the container cannot come back, so there is nothing to
re-enable; a disabled host keeps claiming its domain names in NPM (a later deploy or another
stage would meet it as a conflict); and whether a host is ours is decided by an instance row
holding its id, which has no state for "ours but serving nobody". The next deploy of the stage
creates fresh hosts.

When NPM cannot be reached, the hosts stay on the row and are released again at the next
status check (`Reconciler.recheck` every 30 s, or a resync: `settle` with `newly=False`); the
person is told once.
"""

from __future__ import annotations

import asyncio
import logging

from services.deploy.instance_control import InstanceControl
from services.deploy.routing import Router
from services.errors import NotFound, WatcherError
from services.events import Event, EventBus
from services.notify.notifier import Notification, Notifier
from services.npm.proxy import ProxySource
from services.store.instances import InstanceStore
from services.store.models import Instance, InstanceStatus
from services.store.projects import ProjectStore

log = logging.getLogger(__name__)

LOST = frozenset({InstanceStatus.MISSING, InstanceStatus.FAILED})


def is_lost(instance: Instance) -> bool:
    """A lost instance serves nothing and never will: it does not count toward max_instances."""
    return instance.status in LOST


class LostInstances:
    """Frees what a lost instance held and tells people about it."""

    def __init__(
        self,
        instances: InstanceStore,
        projects: ProjectStore,
        control: InstanceControl,
        router: Router,
        proxies: ProxySource,
        bus: EventBus,
        notifier: Notifier,
    ) -> None:
        self._instances = instances
        self._projects = projects
        self._control = control
        self._router = router
        self._proxies = proxies
        self._bus = bus
        self._notifier = notifier

    async def settle(
        self, instance: Instance, status: InstanceStatus, reason: str, *, newly: bool
    ) -> None:
        """Release the lost instance's hosts; when it was `newly` lost (now `status`), say so.

        A row deleted meanwhile (a retire or a person's Remove won the race) ends it quietly;
        NPM being unreachable is written on the row and retried at the next resync.
        """
        assert instance.id is not None
        try:
            outcome = await self._release_hosts(instance)
        except NotFound:
            return
        except WatcherError as exc:
            outcome = f"could not delete its proxy hosts yet: {exc}"
        text = f"{reason}; {outcome}"
        try:
            await asyncio.to_thread(self._instances.update_same, instance, error=text)
        except NotFound:
            return
        if newly:
            await self._announce(instance, status, text)

    async def _release_hosts(self, instance: Instance) -> str:
        """Default to a healthy sibling first (it keeps answering), then delete the rest."""
        if not instance.proxy_host_ids:
            return "it had no proxy hosts"
        target = await self._proxies.current()
        successor = await self._control.hand_over_default(instance, target)
        assert instance.id is not None
        fresh = await asyncio.to_thread(self._instances.update_same, instance)  # re-read
        deleted = sorted(fresh.proxy_host_ids)
        for domain in deleted:
            await self._router.release(target, fresh, domain)
        parts = [f"deleted its proxy hosts ({', '.join(deleted)})"] if deleted else []
        if successor is not None:
            parts.append(f"the stage's default now points at {successor.tag}")
        return "; ".join(parts) or "its proxy hosts were already gone"

    async def _announce(self, instance: Instance, status: InstanceStatus, text: str) -> None:
        log.warning("instance %s (%s) lost: %s", instance.id, instance.container_name, text)
        self._bus.publish(
            Event(
                "instance.changed",
                instance.project_id,
                instance_id=instance.id,
                data={"status": status.value, "lost": text},
            )
        )
        try:
            project = await asyncio.to_thread(self._projects.get, instance.project_id)
            stage = await asyncio.to_thread(self._projects.get_stage, instance.stage_id)
        except NotFound:
            return  # the project was deleted meanwhile: nobody to tell about it
        self._notifier.notify(
            Notification(
                kind="instance_lost",
                project=project.name,
                stage=stage.name,
                tag=instance.tag,
                error=text,
            )
        )
