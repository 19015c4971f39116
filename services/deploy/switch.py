"""The traffic half of a deploy: point the subdomains at the new instance, then retire old ones.

Each domain moved is pushed on the job's undo stack with the instance it came from, so a failure
moves it back. Old instances that lost a domain keep serving for `drain_seconds` (blue-green).
"""

from __future__ import annotations

import asyncio

from services.deploy.collaborators import DeployPorts
from services.deploy.job import DeployJob, Undo
from services.errors import WatcherError
from services.npm.proxy import Lookup, ProxyTarget
from services.store.models import Instance


class TrafficSwitch:
    def __init__(self, ports: DeployPorts, *, drain_seconds: float) -> None:
        self._p = ports
        self._drain = drain_seconds

    async def route(self, job: DeployJob) -> None:
        if job.target is None:
            return
        assert job.instance is not None
        upstream = f"{job.instance.container_name}:{job.project.port}"
        async with job.recorder.step("route"):
            for domain in job.domains:
                await self._point(job, job.target, domain)
                await job.recorder.log(f"routed {domain} → {upstream}")

    async def _point(self, job: DeployJob, target: ProxyTarget, domain: str) -> None:
        assert job.instance is not None
        stage_instances = await asyncio.to_thread(self._p.instances.all, stage_id=job.stage.id)
        previous = self._p.router.owner_of(domain, stage_instances)
        seen = job.hosts_seen.get(domain, Lookup.NOT_DONE)
        await self._p.router.point(target, domain, job.instance, job.project.port, seen=seen)
        if previous is not None and previous.id is not None:
            job.moved_from.add(previous.id)
        job.undo.append(self._undo_route(job, target, domain, previous))

    def _undo_route(
        self, job: DeployJob, target: ProxyTarget, domain: str, previous: Instance | None
    ) -> Undo:
        async def undo() -> None:
            assert job.instance is not None
            if previous is None:
                await self._p.router.release(target, job.instance, domain)
            else:
                await self._p.router.point(target, domain, previous, job.project.port)

        return undo

    async def retire(self, job: DeployJob) -> None:
        async with job.recorder.step("retire"):
            doomed = await asyncio.to_thread(self._doomed, job)
            if any(i.id in job.moved_from for i in doomed) and self._drain > 0:
                await job.recorder.log(f"waiting {self._drain:.1f}s for in-flight requests")
                await asyncio.sleep(self._drain)
            for old in doomed:
                await self._retire_one(job, old)

    def _doomed(self, job: DeployJob) -> list[Instance]:
        """Older instances to remove: the same tag (replaced) and the oldest over the limit."""
        assert job.instance is not None
        others = [
            i for i in self._p.instances.all(stage_id=job.stage.id) if i.id != job.instance.id
        ]
        replaced = [i for i in others if i.tag == job.request.tag]
        kept = [i for i in others if i.tag != job.request.tag]
        excess = max(0, len(kept) + 1 - job.stage.max_instances)
        return replaced + kept[:excess]

    async def _retire_one(self, job: DeployJob, old: Instance) -> None:
        assert old.id is not None
        try:
            await self._p.control.remove(old.id, reassign_default=False)
            await job.recorder.log(f"removed older instance {old.container_name} ({old.tag})")
        except WatcherError as exc:  # the new instance serves; leftovers are reported
            await job.recorder.log(f"could not remove {old.container_name}: {exc}", "warning")
