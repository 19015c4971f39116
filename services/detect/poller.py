"""The registry poller: notices tags when no webhook told us.

Each registry (a configured one, or an image host read anonymously) runs on its own schedule, so a
slow or failing registry never delays another; at most `per_registry` requests to one registry
are in flight. Per project and cycle:
1. one `GET /v2/<name>/tags/list` (plus its pages); when nothing changed, the only request;
2. the first look at a project (or at its new image) records every tag as the baseline and
   deploys nothing; a missing repository is an empty one;
3. new tags matching a stage: the newest `new_per_cycle` get a HEAD for their digest and are
   routed oldest first (so the newest deploys last); older ones of the same burst are recorded as
   superseded, tags no stage matches as ignored; tags gone from the list are forgotten, so a tag
   pushed again later is new again;
4. moved digests: only a tag running in an auto-deploy stage can need a redeploy. One such tag per
   project (round robin) gets a HEAD every `recheck_every` cycles.

Trade-off of 4: a HEAD per running tag per cycle would double or triple what an idle installation
sends (registries such as Docker Hub rate-limit), while a tag moving under the same name is rare
next to new tags and the webhook reports it at once. So an idle cycle costs 1 request per project,
plus 1/`recheck_every` for projects with running auto-deployed tags; a moved tag is noticed within
`recheck_every` × (its project's running auto-deployed tags) intervals.

A registry failing (cannot connect, timeout, 429, 5xx, or every project refused) backs off:
interval × 2^(failures-1), capped, at least a 429's `Retry-After`; `status()` keeps its last error.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from services.detect.decisions import Outcome
from services.detect.intake import Intake
from services.detect.poll_project import PollerStores, ProjectPoll
from services.detect.poll_status import (
    CycleReport,
    PollerOptions,
    PollerStatus,
    ProjectStatus,
    SourceStatus,
    snapshot,
)
from services.errors import InvalidAuth, NotFound, ValidationFailed, WatcherError
from services.registry.client import RegistryClient
from services.registry.pool import RegistryPool, Source
from services.store.models import Project, utcnow

log = logging.getLogger(__name__)
# One project's problem, not the registry's (a private or misspelt repository, a bad image name).
PROJECT_ERRORS = (NotFound, ValidationFailed, InvalidAuth)


@dataclass(frozen=True)
class _Group:
    source: Source
    projects: tuple[Project, ...]


class Poller:
    """Polls every project's repository; `run` loops until stopped, `poll_once` does one cycle."""

    def __init__(
        self,
        stores: PollerStores,
        pool: RegistryPool,
        intake: Intake,
        options: PollerOptions | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._s = stores
        self._pool = pool
        self._intake = intake
        self._o = options or PollerOptions()
        self._clock = clock
        self._one = ProjectPoll(stores, intake, self._o)
        self._sources: dict[str, SourceStatus] = {}
        self._projects: dict[int, ProjectStatus] = {}

    def status(self) -> PollerStatus:
        """Per registry and project: last success, last error, next poll (a copy)."""
        return snapshot(self._sources, self._projects)

    async def poll_once(self, *, only_due: bool = False) -> CycleReport:
        """Poll every registry now (or only those not backing off) and wait for all of them."""
        interval = await self._interval()
        groups = await self._groups()
        due = [g for g in groups if not only_due or self._is_due(g.source)]
        total = CycleReport()
        for report in await asyncio.gather(*(self._poll_source(g, interval) for g in due)):
            total.add(report)
        return total

    async def run(self, stop: asyncio.Event) -> None:
        """Poll each registry whenever it is due, until `stop` is set; then finish cleanly."""
        running: dict[str, asyncio.Task[CycleReport]] = {}
        try:
            while not stop.is_set():
                interval = await self._interval()
                for group in await self._groups():
                    if group.source.key not in running and self._is_due(group.source):
                        self._launch(running, group, interval)
                await self._sleep(stop)
        except asyncio.CancelledError:  # the app cancels background loops at shutdown
            await _cancel(set(running.values()))
            raise
        await self._finish(running)

    # scheduling -----------------------------------------------------------------------------
    def _launch(
        self, running: dict[str, asyncio.Task[CycleReport]], group: _Group, interval: float
    ) -> None:
        key = group.source.key
        task = asyncio.get_running_loop().create_task(self._guarded(group, interval))
        running[key] = task
        task.add_done_callback(lambda _: running.pop(key, None))

    async def _guarded(self, group: _Group, interval: float) -> CycleReport:
        """One registry's poll; a bug there is logged and retried later, never ends the loop."""
        try:
            return await self._poll_source(group, interval)
        except Exception as exc:
            log.exception("poller: polling %s crashed", group.source.label)
            self._source(group.source).failed(exc, self._clock(), interval, self._o.backoff_max)
            return CycleReport()

    async def _sleep(self, stop: asyncio.Event) -> None:
        soonest = min((s.due for s in self._sources.values()), default=self._clock())
        delay = min(max(soonest - self._clock(), 0.05), self._o.idle_wake)
        try:
            await asyncio.wait_for(stop.wait(), delay)
        except TimeoutError:
            return

    async def _finish(self, running: dict[str, asyncio.Task[CycleReport]]) -> None:
        """Let polls in flight end (bounded: `stop_grace`), then cancel the stragglers."""
        tasks = set(running.values())
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=self._o.stop_grace)
            await _cancel(late)

    async def _interval(self) -> float:
        settings = await asyncio.to_thread(self._s.settings.get_global)
        return max(float(settings.poll_interval), self._o.min_interval)

    def _is_due(self, source: Source) -> bool:
        return self._source(source).due <= self._clock()

    async def _groups(self) -> list[_Group]:
        projects = await asyncio.to_thread(self._s.projects.all)
        sources, errors = await asyncio.to_thread(self._pool.sources, projects)
        by_key: dict[str, list[Project]] = {}
        for project in projects:
            assert project.id is not None
            if project.id in errors:
                self._project(project).last_error = errors[project.id]
                continue
            source = sources[project.id]
            self._project(project).source = source.label
            by_key.setdefault(source.key, []).append(project)
        return [_Group(sources[group[0].id or 0], tuple(group)) for group in by_key.values()]

    # one registry ---------------------------------------------------------------------------
    async def _poll_source(self, group: _Group, interval: float) -> CycleReport:
        client = self._pool.client(group.source)
        state = self._source(group.source)
        state.projects = len(group.projects)
        before, limit = client.requests_made, asyncio.Semaphore(self._o.per_registry)
        failures: list[Exception] = []
        report = CycleReport(projects=len(group.projects))

        async def poll(project: Project) -> None:
            async with limit:
                if any(not isinstance(f, PROJECT_ERRORS) for f in failures):
                    return  # the registry is failing: spare it the rest of this cycle
                report.outcomes.extend(await self._poll_guarded(client, project, failures))

        await client.prefetch_tokens(p.image for p in group.projects)
        await asyncio.gather(*(poll(p) for p in group.projects))
        report.requests = client.requests_made - before
        self._settle(state, group, failures, interval, report)
        return report

    def _settle(
        self,
        state: SourceStatus,
        group: _Group,
        failures: list[Exception],
        interval: float,
        report: CycleReport,
    ) -> None:
        registry_wide = [f for f in failures if not isinstance(f, PROJECT_ERRORS)]
        everyone = len(failures) == len(group.projects) and failures
        if registry_wide or everyone:
            error = (registry_wide or failures)[0]
            delay = state.failed(error, self._clock(), interval, self._o.backoff_max)
            report.errors[state.label] = str(error)
            log.warning("poller: %s failed (%s); next try in %.0f s", state.label, error, delay)
        else:
            state.succeeded(self._clock(), interval)

    async def _poll_guarded(
        self, client: RegistryClient, project: Project, failures: list[Exception]
    ) -> list[Outcome]:
        status = self._project(project)
        try:
            outcomes = await self._one.poll(client, project, status)
        except WatcherError as exc:
            status.last_error = str(exc)
            failures.append(exc)
            return []
        status.last_ok, status.last_error = utcnow(), None
        return outcomes

    # state ----------------------------------------------------------------------------------
    def _source(self, source: Source) -> SourceStatus:
        state = self._sources.get(source.key)
        if state is None:
            state = self._sources[source.key] = SourceStatus(source.key, source.label)
        return state

    def _project(self, project: Project) -> ProjectStatus:
        assert project.id is not None
        state = self._projects.get(project.id)
        if state is None:
            state = self._projects[project.id] = ProjectStatus(project.id, project.name)
        return state


async def _cancel(tasks: set[asyncio.Task[CycleReport]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
