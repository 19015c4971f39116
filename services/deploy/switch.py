"""The traffic half of a deploy: "route" points the planned domains at the new instance, then
"retire" removes the instances it replaces.

Routing comes in two parts. A domain no host serves yet (the new tag's own subdomain) is made
while the container starts, beside the health check ("route", `RouteStep.early`): a proxy-host
write and its nginx reload take about half a second on a real NPM, which then costs nothing.
The domains users already reach (the stage's default, or a tag redeployed) move only once the
instance is healthy ("switch", `RouteStep.run`).

Each domain moved is pushed on the report's undo stack with the instance it came from, so a
failure moves it back. Old instances that lost a domain keep serving for `drain_seconds`
(blue_green; a stop_first deploy stopped them before it started, so there is nothing to drain).
"""

from __future__ import annotations

import asyncio

from services.deploy.instance_control import InstanceControl
from services.deploy.job import DeployJob, Undo
from services.deploy.lost import is_lost
from services.deploy.plan import PlannedRoute, RoutePlan
from services.deploy.routing import Router
from services.errors import WatcherError
from services.npm.proxy import ProxyTarget
from services.store.instances import InstanceStore
from services.store.models import DeployStrategy, Instance

Moved = frozenset[int]  # ids of the instances that lost a domain to the new one


class RouteStep:
    def __init__(self, router: Router, instances: InstanceStore) -> None:
        self._router = router
        self._instances = instances

    async def early(self, job: DeployJob, plan: RoutePlan, instance: Instance) -> None:
        """Point the domains nobody reaches yet at the starting `instance` (see the module doc);
        a failed health check undoes them like everything else this deploy made."""
        if plan.target is None or not plan.early:
            return
        upstream = f"{instance.container_name}:{job.project.port}"
        async with job.log.step("route"):
            for route in plan.early:
                await self._point(job, plan.target, route, instance)
                await job.log.log(f"routed {route.domain} → {upstream} (while it starts)")

    async def run(self, job: DeployJob, plan: RoutePlan, instance: Instance) -> Moved:
        """Point the remaining planned domains at the healthy `instance`; nothing (no step)
        without a proxy."""
        if plan.target is None:
            return frozenset()
        upstream = f"{instance.container_name}:{job.project.port}"
        moved: set[int] = set()
        async with job.log.step("switch"):
            for route in plan.after_health:
                previous = await self._point(job, plan.target, route, instance)
                if previous is not None and previous.id is not None:
                    moved.add(previous.id)
                await job.log.log(f"routed {route.domain} → {upstream}")
        return frozenset(moved)

    async def _point(
        self, job: DeployJob, target: ProxyTarget, route: PlannedRoute, instance: Instance
    ) -> Instance | None:
        """Move one domain; returns the instance of this stage that served it before."""
        stage_instances = await asyncio.to_thread(self._instances.all, stage_id=job.stage.id)
        previous = self._router.owner_of(route.domain, stage_instances)
        await self._router.point(target, route.domain, instance, job.project.port, seen=route.seen)
        job.report.undo.append(self._undo_route(job, target, route.domain, instance, previous))
        return previous

    def _undo_route(
        self,
        job: DeployJob,
        target: ProxyTarget,
        domain: str,
        instance: Instance,
        previous: Instance | None,
    ) -> Undo:
        async def undo() -> None:
            if previous is None:
                await self._router.release(target, instance, domain)
            else:
                await self._router.point(target, domain, previous, job.project.port)

        return undo


def replaced_instances(
    job: DeployJob, stage_instances: list[Instance], new: Instance | None = None
) -> list[Instance]:
    """The instances a deploy replaces: the stage's instance of the same tag, and the oldest
    others over `max_instances` (the new one counted). `stage_instances` oldest first; `new` is
    left out once it exists (the stop_first "stop" step asks before it does). Lost instances
    (their container is gone for good) do not count, and stay listed until a person removes
    them."""
    others = [i for i in stage_instances if new is None or i.id != new.id]
    replaced = [i for i in others if i.tag == job.request.tag]
    kept = [i for i in others if i.tag != job.request.tag and not is_lost(i)]
    excess = max(0, len(kept) + 1 - job.stage.max_instances)
    return replaced + kept[:excess]


class RetireStep:
    """Removes the instances the new one replaces (`replaced_instances`)."""

    def __init__(
        self, instances: InstanceStore, control: InstanceControl, *, drain_seconds: float
    ) -> None:
        self._instances = instances
        self._control = control
        self._drain = drain_seconds

    async def run(self, job: DeployJob, instance: Instance, moved: Moved) -> None:
        async with job.log.step("retire"):
            doomed = await asyncio.to_thread(self._doomed, job, instance)
            draining = job.stage.strategy == DeployStrategy.BLUE_GREEN
            if draining and any(i.id in moved for i in doomed) and self._drain > 0:
                await job.log.log(f"waiting {self._drain:.1f}s for in-flight requests")
                await asyncio.sleep(self._drain)
            for old in doomed:
                await self._retire_one(job, old)

    def _doomed(self, job: DeployJob, instance: Instance) -> list[Instance]:
        """Same tag, then the oldest beyond max_instances (see `replaced_instances`)."""
        return replaced_instances(job, self._instances.all(stage_id=job.stage.id), instance)

    async def _retire_one(self, job: DeployJob, old: Instance) -> None:
        assert old.id is not None
        try:
            await self._control.remove(old.id, reassign_default=False)
            await job.log.log(f"removed older instance {old.container_name} ({old.tag})")
        except WatcherError as exc:  # the new instance serves; leftovers are reported
            await job.log.log(f"could not remove {old.container_name}: {exc}", "warning")
