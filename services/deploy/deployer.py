"""The deploy flow: check → pull ‖ plan → (stop) → start → health ‖ route → switch → retire.

Each step is an object built with only what it uses; the deployer runs them in order and hands
each one's result to the next:

    check   check.py    the stage's rules, env and mounts        → DeployJob (frozen)
    pull    pull.py     the image on the engine                  → Pulled
    plan    plan.py     the domains, what NPM serves them with   → RoutePlan
    stop    strategies.py  stop_first only: the replaced instances stopped first
    start   start.py    the instance row and its container       → Started
    health  start.py    the gate: healthy or HealthFailed        → the healthy Instance
    route   switch.py   new domains onto the starting instance   (beside health)
    switch  switch.py   the stage's default onto the healthy one → the instances moved from
    retire  switch.py   the instances it replaces removed

Pull and plan run side by side, and so do health and route. What a step creates is pushed on
the report's undo stack, so a failure at any point removes exactly what this deploy made and
leaves the previous instances serving; records.py writes the outcome. One lock per
project/stage serialises every trigger (webhook, poller, UI, API); other stages run
concurrently. A request identical to one still
waiting for that lock is merged into it (`enqueue`), so a burst of requests for one tag queues
one deploy, not one per request.

The stage's strategy (strategies.py) decides whether the replaced instances are stopped before
the new one starts (stop_first) or serve until it is healthy (blue_green); the log's first line
after pull and plan says which one ran.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

from services import log_context
from services.deploy.check import CheckStep
from services.deploy.image_cleanup import ImageCleanup
from services.deploy.job import DeployJob, DeployRequest, HealthFailed, Refused
from services.deploy.plan import PlanStep, RoutePlan
from services.deploy.pull import Pulled, PullStep
from services.deploy.records import DeployRecords
from services.deploy.start import HealthStep, Started, StartStep
from services.deploy.step_log import StepFailed
from services.deploy.strategies import StopStep, strategy_line
from services.deploy.switch import RetireStep, RouteStep
from services.errors import ShuttingDown
from services.store.models import Deploy, DeployStrategy, Instance

__all__ = ["DeployRequest", "Deployer", "HealthFailed", "Queued", "Refused"]

STOPPED_AT_SHUTDOWN = "Docker Watcher is shutting down: this deploy was stopped and undone"


@dataclass(frozen=True)
class Queued:
    """A deploy handed to the background; `merged` when it was already waiting in the queue."""

    deploy: Deploy
    merged: bool = False


class Deployer:
    """Runs deploys; `submit`/`enqueue` for background work, `deploy` to wait for the outcome."""

    def __init__(
        self,
        *,
        records: DeployRecords,
        check: CheckStep,
        pull: PullStep,
        plan: PlanStep,
        stop: StopStep,
        start: StartStep,
        health: HealthStep,
        route: RouteStep,
        retire: RetireStep,
        cleanup: ImageCleanup | None = None,
    ) -> None:
        """`cleanup` removes images nothing needs after each successful deploy (None: keep)."""
        self._records = records
        self._check, self._pull, self._plan, self._stop = check, pull, plan, stop
        self._start, self._health, self._route, self._retire = start, health, route, retire
        self._cleanup = cleanup
        self._locks: defaultdict[tuple[int, str], asyncio.Lock] = defaultdict(asyncio.Lock)
        self._tasks: set[asyncio.Task[Deploy]] = set()
        self._pending: dict[DeployRequest, Deploy] = {}  # queued, not started yet
        self._queueing = asyncio.Lock()
        self._accepting = True
        self._aborting = False  # running deploys are being stopped: a cancel means undo

    async def submit(self, request: DeployRequest) -> Deploy:
        """Record the deploy as queued and run it in the background; returns the record."""
        return (await self.enqueue(request)).deploy

    async def enqueue(self, request: DeployRequest) -> Queued:
        """As `submit`, but an identical request still waiting to start gets that deploy back
        (`merged`) instead of a second one: the later one would deploy the same tag again."""
        async with self._queueing:  # one check-and-record at a time: no two slip past the check
            waiting = self._pending.get(request)
            if waiting is not None:
                return Queued(waiting, merged=True)
            deploy = await self._records.queued(request)
            self._pending[request] = deploy
        task = asyncio.get_running_loop().create_task(self._run(deploy, request))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return Queued(deploy)

    async def deploy(self, request: DeployRequest) -> Deploy:
        """Run a deploy to its end and return the final record (never raises for its failure)."""
        return await self._run(await self._records.queued(request), request)

    def stop_accepting(self) -> None:
        """From now on every new deploy is refused (the first thing a shutdown does)."""
        self._accepting = False

    @property
    def accepting(self) -> bool:
        return self._accepting

    async def shutdown(self, timeout: float = 60.0) -> None:
        """Refuse new deploys and let running ones finish; those still running after
        `timeout` seconds are stopped and undone like a failure (`abort`)."""
        self.stop_accepting()
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)
        if self._tasks:
            await self.abort()

    async def abort(self) -> None:
        """Stop every running deploy now: each is undone (what it made is removed) and
        recorded as failed because of the shutdown; queued ones are dropped."""
        self.stop_accepting()
        self._aborting = True
        tasks = set(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)

    @property
    def running(self) -> int:
        return len(self._tasks)

    @asynccontextmanager
    async def exclusive(self, project_id: int, stages: Iterable[str]) -> AsyncIterator[None]:
        """Hold these stages' deploy locks: no deploy of them runs inside the block (while a
        project or stage and its instances are removed). Locks are taken in name order, so two
        holders never wait on each other."""
        async with AsyncExitStack() as stack:
            for name in sorted(set(stages)):
                await stack.enter_async_context(self._locks[(project_id, name)])
            yield

    # the run ------------------------------------------------------------------------------
    async def _run(self, deploy: Deploy, request: DeployRequest) -> Deploy:
        assert deploy.id is not None
        async with self._locks[(request.project_id, request.stage)]:
            if self._pending.get(request) is deploy:
                del self._pending[request]  # started: a later request needs a deploy of its own
            with log_context.bind(
                project=deploy.project_name,
                stage=request.stage,
                tag=request.tag,
                deploy_id=deploy.id,
            ):
                return await self._run_locked(deploy, request)

    async def _run_locked(self, deploy: Deploy, request: DeployRequest) -> Deploy:
        report = await self._records.running(deploy, request.project_id)
        job: DeployJob | None = None
        try:
            job = await self._check.run(request, deploy, report, accepting=self._accepting)
            instance = await self._steps(job)
        except StepFailed as failure:
            return await self._records.failed(deploy, report, failure, job)
        except asyncio.CancelledError:
            if not self._aborting:
                raise
            stopped = StepFailed(report.log.current_step, ShuttingDown(STOPPED_AT_SHUTDOWN))
            return await self._records.failed(deploy, report, stopped, job)
        finished = await self._records.finished(job, instance)
        if instance is not None and self._cleanup is not None:
            await self._cleanup.run(job.project)  # under the stage's lock: nothing pulls here
        return finished

    # the steps, in order -------------------------------------------------------------------
    async def _steps(self, job: DeployJob) -> Instance | None:
        """The steps after "check"; the new instance, or None when the image already runs."""
        prepared = await self._pull_and_plan(job)
        if prepared is None:
            return None
        pulled, plan = prepared
        if job.stage.strategy == DeployStrategy.STOP_FIRST:
            await self._stop.run(job)  # logs the strategy line inside its step
        else:
            await job.log.log(strategy_line(job), step="start")
        started = await self._start.run(job, pulled)
        healthy = await self._healthy_and_routed(job, pulled, plan, started)
        moved = await self._route.run(job, plan, healthy)
        await self._retire.run(job, healthy, moved)
        return healthy

    async def _healthy_and_routed(
        self, job: DeployJob, pulled: Pulled, plan: RoutePlan, started: Started
    ) -> Instance:
        """The health check, and beside it the domains nobody reaches yet (`RouteStep.early`).

        Both are awaited to their end, so every undo is on the stack before a failure is
        raised; a failed health check wins.
        """
        healthy, routed = await asyncio.gather(
            self._health.run(job, pulled, started),
            self._route.early(job, plan, started.instance),
            return_exceptions=True,
        )
        if isinstance(healthy, BaseException):
            raise healthy
        if isinstance(routed, BaseException):
            raise routed
        return healthy

    async def _pull_and_plan(self, job: DeployJob) -> tuple[Pulled, RoutePlan] | None:
        """Pull and plan side by side (neither changes anything); None when nothing changed.

        Both are awaited to their end before anything else happens. A pull failure wins; an
        unchanged instance makes the deploy a no-op whatever the plan found.
        """
        pulled, plan = await asyncio.gather(
            self._pull.run(job), self._plan.run(job), return_exceptions=True
        )
        if isinstance(pulled, BaseException):
            raise pulled
        if await self._pull.already_runs(job, pulled):
            return None
        if isinstance(plan, BaseException):
            raise plan
        return pulled, plan
