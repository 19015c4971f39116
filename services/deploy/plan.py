"""The "plan" step: which domains the new instance will serve, checked before anything starts.

The plan is also the deploy's first contact with NPM, so an unreachable NPM or a domain that a
host we did not create already serves fails here, before a container exists. What NPM answered
for each domain travels in the route plan to the "route" step, which then does not look again.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from services import naming
from services.deploy.job import DeployJob
from services.errors import Conflict
from services.npm.ownership import OurHosts
from services.npm.proxy import ProxySource, ProxyTarget
from services.npm.values import ProxyHost
from services.store.instances import InstanceStore


@dataclass(frozen=True)
class PlannedRoute:
    domain: str
    seen: ProxyHost | None  # the host serving it when planned (always ours), or None
    default: bool = False  # the stage's moving subdomain (its users' address)

    @property
    def early(self) -> bool:
        """May point at the new instance while it starts: a domain no host serves yet, and not
        the stage's default (its users must only ever meet a healthy instance)."""
        return self.seen is None and not self.default


@dataclass(frozen=True)
class RoutePlan:
    """Where the "route" step points the new instance; no target: NPM is not configured."""

    target: ProxyTarget | None
    routes: tuple[PlannedRoute, ...] = ()

    @property
    def domains(self) -> tuple[str, ...]:
        return tuple(route.domain for route in self.routes)

    @property
    def early(self) -> tuple[PlannedRoute, ...]:
        return tuple(route for route in self.routes if route.early)

    @property
    def after_health(self) -> tuple[PlannedRoute, ...]:
        return tuple(route for route in self.routes if not route.early)


class PlanStep:
    def __init__(self, proxies: ProxySource, instances: InstanceStore) -> None:
        self._proxies = proxies
        self._instances = instances

    async def run(self, job: DeployJob) -> RoutePlan:
        async with job.log.step("plan"):
            current = await self._proxies.current()
            if current is None:
                await job.log.log("NPM is not configured: no proxy hosts will be made")
                return RoutePlan(None)
            target = current.for_stage(job.stage.certificate_id)
            domains = (
                naming.tag_fqdn(job.settings, job.project, job.stage, job.request.tag),
                naming.default_fqdn(job.settings, job.project, job.stage),
            )
            ours = await asyncio.to_thread(self._check_unique, job, domains)
            plan = RoutePlan(target, await self._look_up(target, domains, ours))
            await job.log.log(f"subdomains: {', '.join(domains)}")
        return plan

    def _check_unique(self, job: DeployJob, domains: tuple[str, ...]) -> OurHosts:
        """A domain may only move within this stage (and the tag domain, first, only between
        its tags). Returns which proxy hosts are ours, read from the same instance rows."""
        everyone = self._instances.all()
        for position, domain in enumerate(domains):
            for other in everyone:
                if domain not in other.subdomains:
                    continue
                same_stage = other.stage_id == job.stage.id
                if not same_stage or (position == 0 and other.tag != job.request.tag):
                    raise Conflict(
                        f"subdomain {domain} is already used by instance #{other.id} "
                        f"({other.container_name}); change the stage's subdomain or the pattern"
                    )
        return OurHosts.held_by(i.proxy_host_ids for i in everyone)

    async def _look_up(
        self, target: ProxyTarget, domains: tuple[str, ...], ours: OurHosts
    ) -> tuple[PlannedRoute, ...]:
        """Each domain's current host, side by side; the first domain's problem is raised."""
        found = await asyncio.gather(
            *(self._available(target, d, ours) for d in domains), return_exceptions=True
        )
        hosts: list[ProxyHost | None] = []
        for outcome in found:
            if isinstance(outcome, BaseException):
                raise outcome
            hosts.append(outcome)
        last = len(domains) - 1  # the default comes last (see `run`)
        return tuple(
            PlannedRoute(d, h, default=i == last)
            for i, (d, h) in enumerate(zip(domains, hosts, strict=True))
        )

    @staticmethod
    async def _available(target: ProxyTarget, domain: str, ours: OurHosts) -> ProxyHost | None:
        """The host serving `domain` (ours) or None; Conflict when a host not ours serves it."""
        host = await target.proxy.find_host(domain)
        if host is None or ours.owns(host):
            return host
        raise Conflict(
            f"{domain} is already served by NPM proxy host #{host.id}, which Docker Watcher did "
            "not create; remove it in NPM or choose another subdomain"
        )
