"""The deploy flow: check → pull → plan → start → health → route → retire.

Each step is a short method; what a step creates is pushed on an undo stack, so a failure at any
point removes exactly what this deploy made and leaves the previous instances serving. One lock per
project/stage serialises every trigger (webhook, poller, UI, API); other stages run concurrently.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable
from contextlib import AsyncExitStack, asynccontextmanager

from services import log_context, naming
from services.deploy import container_config
from services.deploy.collaborators import DeployPorts
from services.deploy.job import (
    MAX_PULL_LINES,
    DeployJob,
    DeployRequest,
    HealthFailed,
    Refused,
    progress_collector,
)
from services.deploy.rules import DeployRules
from services.deploy.start import ContainerSteps
from services.deploy.step_log import DeployRecorder, StepFailed
from services.deploy.switch import TrafficSwitch
from services.errors import WatcherError
from services.events import Event
from services.notify.notifier import Notification, NotificationKind
from services.store.models import Deploy, DeployStatus, InstanceStatus, utcnow
from services.volumes import allowed_roots

__all__ = ["DeployRequest", "Deployer", "HealthFailed", "Refused"]

log = logging.getLogger(__name__)


class Deployer:
    """Runs deploys; `submit` for background work, `deploy` to wait for the outcome."""

    def __init__(self, ports: DeployPorts, *, in_network: bool, drain_seconds: float = 3.0) -> None:
        self._p = ports
        self._rules = DeployRules(ports)
        self._container = ContainerSteps(ports, in_network=in_network)
        self._switch = TrafficSwitch(ports, drain_seconds=drain_seconds)
        self._locks: defaultdict[tuple[int, str], asyncio.Lock] = defaultdict(asyncio.Lock)
        self._tasks: set[asyncio.Task[Deploy]] = set()
        self._accepting = True

    async def submit(self, request: DeployRequest) -> Deploy:
        """Record the deploy as queued and run it in the background; returns the record."""
        deploy = await self._record(request)
        task = asyncio.get_running_loop().create_task(self._run(deploy, request))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return deploy

    async def deploy(self, request: DeployRequest) -> Deploy:
        """Run a deploy to its end and return the final record (never raises for its failure)."""
        return await self._run(await self._record(request), request)

    async def shutdown(self, timeout: float = 60.0) -> None:
        """Refuse new deploys and let running ones finish (bounded)."""
        self._accepting = False
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)

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
    async def _record(self, request: DeployRequest) -> Deploy:
        project = await asyncio.to_thread(self._p.projects.get, request.project_id)
        row = Deploy(
            project_id=project.id,
            project_name=project.name,
            stage_name=request.stage,
            tag=request.tag,
            trigger=request.trigger,
        )
        deploy = await asyncio.to_thread(self._p.deploys.create, row)
        self._p.bus.publish(Event("deploy.queued", project.id, deploy.id))
        return deploy

    async def _run(self, deploy: Deploy, request: DeployRequest) -> Deploy:
        assert deploy.id is not None
        async with self._locks[(request.project_id, request.stage)]:
            with log_context.bind(
                project=deploy.project_name,
                stage=request.stage,
                tag=request.tag,
                deploy_id=deploy.id,
            ):
                return await self._run_locked(deploy, request)

    async def _run_locked(self, deploy: Deploy, request: DeployRequest) -> Deploy:
        assert deploy.id is not None
        recorder = DeployRecorder(self._p.deploys, self._p.bus, deploy.id, request.project_id)
        await asyncio.to_thread(
            self._p.deploys.update, deploy.id, status=DeployStatus.RUNNING, started_at=utcnow()
        )
        job: DeployJob | None = None
        try:
            job = await self._load(request, deploy, recorder)
            status = await self._execute(job)
        except StepFailed as failure:
            return await self._fail(deploy, recorder, failure, job)
        return await self._finish(job, status)

    async def _load(self, request: DeployRequest, deploy: Deploy, rec: DeployRecorder) -> DeployJob:
        async with rec.step("check"):
            job = await asyncio.to_thread(self._read_job, request, deploy, rec)  # one trip
            await self._rules.check(job, accepting=self._accepting)
            job.config = await asyncio.to_thread(self._configure, job)
            for line in job.config.describe():
                await rec.log(line)
        return job

    def _read_job(self, request: DeployRequest, deploy: Deploy, rec: DeployRecorder) -> DeployJob:
        project = self._p.projects.get(request.project_id)
        stage = self._p.projects.stage_by_name(request.project_id, request.stage)
        return DeployJob(request, deploy, project, stage, self._p.settings.get_global(), rec)

    def _configure(self, job: DeployJob) -> container_config.ContainerConfig:
        """Env and mounts, checked before anything is pulled or created (ValidationFailed)."""
        assert job.project.id is not None
        roots = allowed_roots(job.settings, self._p.volume_defaults)
        data_dir = self._p.volume_defaults.parent
        return container_config.build(
            self._p.projects, job.project.id, job.stage, job.request.tag, roots, data_dir
        )

    async def _execute(self, job: DeployJob) -> DeployStatus:
        if await self._prepare(job):
            return DeployStatus.SKIPPED
        await self._container.start(job)
        await self._container.health(job)
        await self._switch.route(job)
        await self._switch.retire(job)
        return DeployStatus.SUCCEEDED

    # steps ---------------------------------------------------------------------------------
    async def _prepare(self, job: DeployJob) -> bool:
        """Pull and plan side by side (neither changes anything); True when nothing changed.

        Both are awaited to their end before anything else happens. A pull failure wins; an
        unchanged instance makes the deploy a no-op whatever the plan found.
        """
        pulled, planned = await asyncio.gather(
            self._pull(job), self._plan(job), return_exceptions=True
        )
        if isinstance(pulled, BaseException):
            raise pulled
        if await self._unchanged(job):
            return True
        if isinstance(planned, BaseException):
            raise planned
        return False

    async def _pull(self, job: DeployJob) -> None:
        async with job.recorder.step("pull"):
            lines: list[str] = []
            fetched = await self._p.images.fetch(
                job.project, job.request.tag, progress_collector(lines)
            )
            job.image = fetched.image
            if fetched.pulled:
                await job.recorder.log(f"pulled {job.image_ref}")
            else:
                await job.recorder.log(f"{job.image_ref} is present and current: not pulled")
            for line in lines[-MAX_PULL_LINES:]:
                await job.recorder.log(line)
            job.digest = job.image.digest or job.image.id
            assert job.deploy.id is not None
            await asyncio.to_thread(self._p.deploys.update, job.deploy.id, digest=job.digest)
            await job.recorder.log(f"image ready: {job.digest}")

    async def _unchanged(self, job: DeployJob) -> bool:
        current = await asyncio.to_thread(self._p.instances.all, stage_id=job.stage.id)
        fingerprint = job.config.fingerprint if job.config else ""
        same = [
            i
            for i in current
            if i.tag == job.request.tag
            and i.digest == job.digest
            and i.config_hash == fingerprint  # a changed env or volume is worth a redeploy
        ]
        if any(i.status == InstanceStatus.HEALTHY for i in same):
            message = f"{job.request.tag} with this digest already runs; nothing to do"
            await job.recorder.log(message, step="pull")
            return True
        return False

    async def _plan(self, job: DeployJob) -> None:
        async with job.recorder.step("plan"):
            job.target = await self._p.proxies.current()
            if job.target is None:
                await job.recorder.log("NPM is not configured: no proxy hosts will be made")
                return
            tag_domain = naming.tag_fqdn(job.settings, job.project, job.stage, job.request.tag)
            default = naming.default_fqdn(job.settings, job.project, job.stage)
            job.domains = [tag_domain, default]
            await asyncio.to_thread(self._rules.check_unique, job)
            checks = (self._p.router.check_available(job.target, d) for d in job.domains)
            outcomes = await asyncio.gather(*checks, return_exceptions=True)
            for domain, outcome in zip(job.domains, outcomes, strict=True):
                if isinstance(outcome, BaseException):
                    raise outcome  # the first domain's problem first
                job.hosts_seen[domain] = outcome
            await job.recorder.log(f"subdomains: {', '.join(job.domains)}")

    # endings -------------------------------------------------------------------------------
    async def _finish(self, job: DeployJob, status: DeployStatus) -> Deploy:
        assert job.deploy.id is not None
        instance_id = job.instance.id if job.instance else None
        await job.recorder.flush()  # the outcome is recorded after the whole log
        deploy = await asyncio.to_thread(
            self._p.deploys.update,
            job.deploy.id,
            status=status,
            step=None,
            instance_id=instance_id,
            finished_at=utcnow(),
        )
        job.recorder.finished(status)
        if status == DeployStatus.SUCCEEDED:
            url = job.instance.url if job.instance else ""
            self._p.notifier.notify(self._notification("deploy_succeeded", job.deploy, url=url))
        return deploy

    async def _fail(
        self, deploy: Deploy, rec: DeployRecorder, failure: StepFailed, job: DeployJob | None
    ) -> Deploy:
        assert deploy.id is not None
        refused = isinstance(failure.cause, Refused)
        described = self._describe(failure)
        message = job.redact(described) if job is not None else described
        await rec.log(message, "warning" if refused else "error", step=failure.step)
        if job is not None:
            await self._rollback(job)
        status = DeployStatus.REFUSED if refused else DeployStatus.FAILED
        await rec.flush()
        final = await asyncio.to_thread(
            self._p.deploys.update,
            deploy.id,
            status=status,
            step=failure.step,
            error=message,
            finished_at=utcnow(),
        )
        rec.finished(status, message)
        if not refused:
            note = self._notification("deploy_failed", deploy, step=failure.step, error=message)
            self._p.notifier.notify(note)
        return final

    @staticmethod
    def _describe(failure: StepFailed) -> str:
        if isinstance(failure.cause, WatcherError):
            return str(failure.cause)
        log.error("unexpected error in step %s", failure.step, exc_info=failure.cause)
        kind = type(failure.cause).__name__
        return f"internal error in step {failure.step}: {kind}: {failure.cause}"

    async def _rollback(self, job: DeployJob) -> None:
        for undo in reversed(job.undo):
            try:
                await undo()
            except Exception as exc:  # keep undoing the rest; the reconciler finishes the job
                await job.recorder.log(f"rollback step failed: {exc}", "warning")
        if job.undo:
            await job.recorder.log("rolled back: removed what this deploy created")

    @staticmethod
    def _notification(
        kind: NotificationKind,
        deploy: Deploy,
        *,
        url: str | None = None,
        step: str | None = None,
        error: str | None = None,
    ) -> Notification:
        return Notification(
            kind=kind,
            project=deploy.project_name,
            stage=deploy.stage_name,
            tag=deploy.tag,
            deploy_id=deploy.id,
            url=url,
            step=step,
            error=error,
        )
