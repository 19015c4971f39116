"""Finishing the undo of failed deploys that an outage cut short.

When a failed deploy's rollback cannot finish (the Docker Engine or NPM does not answer), the
deploy is marked `cleanup_pending` and the instance rows it made stay, with their container
names and proxy host ids, so the work can be found again. `PendingCleanup` finishes it once
the engine and NPM answer: each of those instances is removed through
`InstanceControl.remove` (the stage's default subdomain handed to another healthy instance,
then its proxy hosts deleted, then its container, then its row). That also removes a container
the engine's restart policy started again when dockerd came back. Only then is the deploy
cleared, with a line on its log saying so; a clean-up that fails again stays pending.

The reconciler runs it at start-up and after each reconnect of the engine's event stream;
`run` retries while any clean-up is pending, because NPM coming back sends no event.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from contextlib import AbstractAsyncContextManager

from services.deploy.instance_control import InstanceControl
from services.errors import NotFound, WatcherError
from services.events import Event, EventBus
from services.store.deploys import DeployStore
from services.store.instances import InstanceStore
from services.store.models import Deploy, Instance

log = logging.getLogger(__name__)
StageLocks = Callable[[int, Iterable[str]], AbstractAsyncContextManager[None]]
CLEANUP_STEP = "cleanup"
CLEANUP_DONE = "clean-up finished: removed what this deploy created"


class PendingCleanup:
    """Removes what failed deploys left behind; one pass at a time."""

    def __init__(
        self,
        *,
        deploys: DeployStore,
        instances: InstanceStore,
        control: InstanceControl,
        bus: EventBus,
        stage_locks: StageLocks | None = None,
    ) -> None:
        """`stage_locks` is the deployer's `exclusive`: while an instance is removed, no deploy
        of its stage moves a domain (the removal may hand the stage's default over)."""
        self._deploys = deploys
        self._instances = instances
        self._control = control
        self._bus = bus
        self._stage_locks = stage_locks
        self._one_pass = asyncio.Lock()

    async def finish_all(self) -> list[int]:
        """Finish every pending clean-up that can be finished now; the ids of those finished.

        One that fails again (the engine or NPM still away) stays pending and is logged; the
        others still run. Never raises for an outside system's failure.
        """
        async with self._one_pass:
            finished: list[int] = []
            for deploy in await asyncio.to_thread(self._deploys.cleanup_pending):
                assert deploy.id is not None
                if await self._finish(deploy):
                    finished.append(deploy.id)
            return finished

    async def run(self, stop: asyncio.Event, interval: float) -> None:
        """Retry pending clean-ups every `interval` seconds until `stop` is set."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)
            if not stop.is_set():
                try:
                    await self.finish_all()
                except WatcherError as exc:  # the database itself failed: try again later
                    log.warning("pending clean-ups not checked: %s", exc)

    async def _finish(self, deploy: Deploy) -> bool:
        assert deploy.id is not None
        made = await asyncio.to_thread(self._made_by, deploy.id)
        try:
            async with self._locked(deploy):
                for instance in made:
                    await self._remove(instance)
                restarted = await self._control.start_stopped_by(deploy.id)  # stop_first
        except WatcherError as exc:
            log.warning("clean-up of deploy #%s is still pending: %s", deploy.id, exc)
            return False
        names = ", ".join(i.container_name for i in made if i.container_name)
        line = f"{CLEANUP_DONE} ({names})" if names else CLEANUP_DONE
        if restarted:
            again = ", ".join(i.container_name for i in restarted)
            line += f"; started again what it had stopped ({again})"
        await asyncio.to_thread(self._deploys.log, deploy.id, CLEANUP_STEP, line)
        final = await asyncio.to_thread(self._deploys.update, deploy.id, cleanup_pending=False)
        log.info("deploy #%s: %s", deploy.id, line)
        self._announce(final, line)
        return True

    def _made_by(self, deploy_id: int) -> list[Instance]:
        return [i for i in self._instances.all() if i.deploy_id == deploy_id]

    def _locked(self, deploy: Deploy) -> AbstractAsyncContextManager[None]:
        if self._stage_locks is None or deploy.project_id is None:
            return contextlib.nullcontext()  # no project: its instances went with it
        return self._stage_locks(deploy.project_id, [deploy.stage_name])

    async def _remove(self, instance: Instance) -> None:
        """Hosts first, then the container, then the row; a row already gone is done."""
        assert instance.id is not None
        try:
            await self._control.remove(instance.id, reassign_default=True)
        except NotFound:
            if await asyncio.to_thread(self._instances.find, instance.id) is not None:
                raise  # something else is missing (e.g. its stage): not done
            log.info("instance %s was removed meanwhile", instance.id)

    def _announce(self, deploy: Deploy, line: str) -> None:
        """The line in the live log, and the deploy's outcome again so pages re-read it."""
        data = {"step": CLEANUP_STEP, "message": line, "level": "info"}
        self._bus.publish(Event("deploy.log", deploy.project_id, deploy.id, data=data))
        outcome = {"status": deploy.status.value, "error": deploy.error}
        self._bus.publish(Event("deploy.finished", deploy.project_id, deploy.id, data=outcome))
