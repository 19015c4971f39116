"""How a stage's deploy replaces its instances: `blue_green` (the default) or `stop_first`.

    blue_green   start → health → route → retire
                 The new instance starts beside the old ones; the domains move once it is
                 healthy; the replaced instances are removed after in-flight requests drained.
                 The stage's URL never stops answering.
    stop_first   stop → start → health → route → retire
                 The "stop" step stops the replaced instances before the new one starts, so the
                 two never run together (an app whose data only one process may open, such as
                 SQLite). The stopped ones keep their domains: if the new one fails (start,
                 health or route), the undo stack removes it and starts them again, and they
                 serve as before. The stage answers 502 while the swap runs. A stopped
                 instance is marked with the deploy (`stopped_by_deploy`): when the process
                 dies mid-deploy or the undo cannot finish (an outage), the reconciler's
                 clean-up starts it again.

Which instances a deploy replaces is one rule for both (`switch.replaced_instances`): the
stage's instance of the same tag, and the oldest others over `max_instances` (the new one
counted). With `max_instances` 1 that is every other instance of the stage. With more, the
instances of other tags within the limit keep running beside the new one, under either
strategy: that is what a higher limit asks for. A stage whose app must never run twice keeps
`max_instances` at 1; isolated volumes are per stage and tag, so only a same-tag instance,
which stop_first always stops first, shares the new one's folder.
"""

from __future__ import annotations

import asyncio

from services.deploy.instance_control import InstanceControl
from services.deploy.job import DeployJob, Undo
from services.deploy.switch import replaced_instances
from services.docker_engine import DockerEngine
from services.errors import NotFound
from services.fields import STRATEGY_EXPLAINED
from services.store.instances import InstanceStore
from services.store.models import Instance

RUNNING_STATES = ("running", "restarting", "paused")  # the engine's states a stop ends


def strategy_line(job: DeployJob) -> str:
    """The deploy log's line saying which strategy runs and what it does."""
    name = str(job.stage.strategy)
    return f"strategy: {name} — {STRATEGY_EXPLAINED[name]}"


class StopStep:
    """stop_first's first step: stops the running instances the new one replaces.

    Each stop's undo is pushed before the stop is asked for, so a deploy that fails anywhere
    later (or a stop that fails half-way) starts them again. An instance already stopped (by a
    person) is left stopped, and is not started by the undo either.
    """

    def __init__(
        self, instances: InstanceStore, engine: DockerEngine, control: InstanceControl
    ) -> None:
        self._instances = instances
        self._engine = engine
        self._control = control

    async def run(self, job: DeployJob) -> None:
        async with job.log.step("stop"):
            await job.log.log(strategy_line(job))
            stage_instances = await asyncio.to_thread(self._instances.all, stage_id=job.stage.id)
            stopped = 0
            for old in replaced_instances(job, stage_instances):
                if await self._running(old):
                    await self._stop(job, old)
                    stopped += 1
            if not stopped:
                await job.log.log("no running instance to stop")

    async def _running(self, instance: Instance) -> bool:
        if not instance.container_id:
            return False
        try:
            container = await self._engine.get(instance.container_id)
        except NotFound:
            return False
        return container.status in RUNNING_STATES

    async def _stop(self, job: DeployJob, old: Instance) -> None:
        assert old.id is not None
        job.report.undo.append(self._undo_stop(job, old))
        await self._control.stop(old.id, by_deploy=job.deploy.id)
        await job.log.log(
            f"stopped {old.container_name} ({old.tag}); it keeps its domains until the new "
            "instance is healthy"
        )

    def _undo_stop(self, job: DeployJob, old: Instance) -> Undo:
        async def undo() -> None:
            assert old.id is not None
            await self._control.start(old.id)
            await job.log.log(f"started {old.container_name} ({old.tag}) again with its domains")

        return undo
