"""The deploy flow (SPEC §6): check → pull → plan → start → health → route → retire.

Each step is a short method; what a step creates is pushed on an undo stack, so a failure at any
point removes exactly what this deploy made and leaves the previous instances serving. One lock per
project/stage serialises every trigger (webhook, poller, UI, API); other stages run concurrently.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from app.models import (
    Deploy,
    DeployStatus,
    DeployTrigger,
    GlobalSettings,
    Instance,
    InstanceStatus,
    Project,
    Stage,
    utcnow,
)
from services import container_config, log_context, naming, tags
from services.deploy_log import DeployRecorder, StepFailed
from services.deploy_ports import DeployPorts
from services.errors import Conflict, WatcherError
from services.events import Event
from services.health import HealthPolicy, HealthResult, reach_address
from services.notify import Notification, NotificationKind
from services.routing import ProxyTarget
from services.types import (
    LABEL_INSTALLATION,
    ContainerSpec,
    ImageInfo,
    Mount,
    PullProgress,
    PullUpdate,
    labels_for,
)
from services.volumes import allowed_roots, prepare

log = logging.getLogger(__name__)
AUTOMATIC_TRIGGERS = (DeployTrigger.WEBHOOK, DeployTrigger.POLL)
MAX_PULL_LINES = 30
Undo = Callable[[], Awaitable[None]]


def _progress_collector(lines: list[str]) -> PullProgress:
    """Keep the pull's milestones (layer done, digest, status), not its byte counters."""

    def collect(update: PullUpdate) -> None:
        if update.current is None and str(update) not in lines[-1:]:
            lines.append(str(update))

    return collect


class Refused(WatcherError):
    """A rule forbids this deploy; nothing was touched."""


class HealthFailed(WatcherError):
    """The new container never became healthy."""


@dataclass(frozen=True)
class DeployRequest:
    project_id: int
    stage: str
    tag: str
    trigger: DeployTrigger = DeployTrigger.MANUAL
    confirmed: bool = False  # a person confirmed it (stages with `confirm: true`)


@dataclass
class _Job:
    """Everything one deploy run knows; filled in step by step."""

    request: DeployRequest
    deploy: Deploy
    project: Project
    stage: Stage
    settings: GlobalSettings
    recorder: DeployRecorder
    target: ProxyTarget | None = None
    image: ImageInfo | None = None
    digest: str = ""
    instance: Instance | None = None
    domains: list[str] = field(default_factory=list)
    undo: list[Undo] = field(default_factory=list)
    moved_from: set[int] = field(default_factory=set)  # instances that lost a domain to us
    config: container_config.ContainerConfig | None = None  # env and mounts, checked in "check"

    @property
    def image_ref(self) -> str:
        return f"{self.project.image}:{self.request.tag}"


class Deployer:
    """Runs deploys; `submit` for background work, `deploy` to wait for the outcome."""

    def __init__(self, ports: DeployPorts, *, in_network: bool, drain_seconds: float = 3.0) -> None:
        self._p = ports
        self._in_network = in_network
        self._drain = drain_seconds
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
        job: _Job | None = None
        try:
            job = await self._load(request, deploy, recorder)
            status = await self._execute(job)
        except StepFailed as failure:
            return await self._fail(deploy, recorder, failure, job)
        return await self._finish(job, status)

    async def _load(self, request: DeployRequest, deploy: Deploy, rec: DeployRecorder) -> _Job:
        async with rec.step("check"):
            project = await asyncio.to_thread(self._p.projects.get, request.project_id)
            stage = await asyncio.to_thread(
                self._p.projects.stage_by_name, request.project_id, request.stage
            )
            settings = await asyncio.to_thread(self._p.settings.get_global)
            job = _Job(request, deploy, project, stage, settings, rec)
            await self._check_rules(job)
            job.config = await asyncio.to_thread(self._configure, job)
            for line in job.config.describe():
                await rec.log(line)
        return job

    def _configure(self, job: _Job) -> container_config.ContainerConfig:
        """Env and mounts, checked before anything is pulled or created (ValidationFailed)."""
        assert job.project.id is not None
        roots = allowed_roots(job.settings, self._p.volume_defaults)
        data_dir = self._p.volume_defaults.parent
        return container_config.build(
            self._p.projects, job.project.id, job.stage, job.request.tag, roots, data_dir
        )

    async def _execute(self, job: _Job) -> DeployStatus:
        await self._pull(job)
        if await self._unchanged(job):
            return DeployStatus.SKIPPED
        await self._plan(job)
        await self._start(job)
        await self._health(job)
        await self._route(job)
        await self._retire(job)
        return DeployStatus.SUCCEEDED

    # rules ---------------------------------------------------------------------------------
    async def _check_rules(self, job: _Job) -> None:
        req, stage = job.request, job.stage
        if not self._accepting:
            raise Refused("Docker Watcher is shutting down; deploy again after the restart")
        if not tags.matches(stage.tag_pattern, req.tag):
            raise Refused(
                f"tag {req.tag!r} does not match stage {stage.name!r} ({stage.tag_pattern})"
            )
        if stage.confirm and (req.trigger in AUTOMATIC_TRIGGERS or not req.confirmed):
            raise Refused(f"stage {stage.name!r} deploys only after confirmation in the UI")
        if stage.promote_from:
            await self._check_promotable(job, stage.promote_from)

    async def _check_promotable(self, job: _Job, source_name: str) -> None:
        assert job.project.id is not None
        source = await asyncio.to_thread(
            self._p.projects.stage_by_name, job.project.id, source_name
        )
        running = await asyncio.to_thread(self._p.instances.all, stage_id=source.id)
        if not any(
            i.tag == job.request.tag and i.status == InstanceStatus.HEALTHY for i in running
        ):
            raise Refused(
                f"tag {job.request.tag!r} is not running healthy in stage {source_name!r}; "
                f"stage {job.stage.name!r} only promotes from there"
            )

    # steps ---------------------------------------------------------------------------------
    async def _pull(self, job: _Job) -> None:
        async with job.recorder.step("pull"):
            await job.recorder.log(f"pulling {job.image_ref}")
            auth = await asyncio.to_thread(self._p.registry_auth, job.project)
            lines: list[str] = []
            job.image = await self._p.engine.pull(
                job.image_ref, auth=auth, progress=_progress_collector(lines)
            )
            for line in lines[-MAX_PULL_LINES:]:
                await job.recorder.log(line)
            job.digest = job.image.digest or job.image.id
            assert job.deploy.id is not None
            await asyncio.to_thread(self._p.deploys.update, job.deploy.id, digest=job.digest)
            await job.recorder.log(f"image ready: {job.digest}")

    async def _unchanged(self, job: _Job) -> bool:
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
            await job.recorder.log(
                f"{job.request.tag} with this digest already runs; nothing to do"
            )
            return True
        return False

    async def _plan(self, job: _Job) -> None:
        async with job.recorder.step("plan"):
            job.target = await self._p.proxies.current()
            if job.target is None:
                await job.recorder.log("NPM is not configured: no proxy hosts will be made")
                return
            tag_domain = naming.tag_fqdn(job.settings, job.project, job.stage, job.request.tag)
            default = naming.default_fqdn(job.settings, job.project, job.stage)
            job.domains = [tag_domain, default]
            await asyncio.to_thread(self._check_unique, job)
            for domain in job.domains:
                await self._p.router.check_available(job.target, domain)
            await job.recorder.log(f"subdomains: {', '.join(job.domains)}")

    def _check_unique(self, job: _Job) -> None:
        """A domain may only move within this stage (and a tag domain only between its tags)."""
        everyone = self._p.instances.all()
        for position, domain in enumerate(job.domains):
            for other in everyone:
                if domain not in other.subdomains:
                    continue
                same_stage = other.stage_id == job.stage.id
                if not same_stage or (position == 0 and other.tag != job.request.tag):
                    raise Conflict(
                        f"subdomain {domain} is already used by instance #{other.id} "
                        f"({other.container_name}); change the stage's subdomain or the pattern"
                    )

    async def _start(self, job: _Job) -> None:
        async with job.recorder.step("start"):
            await self._p.engine.ensure_network(job.settings.network)
            assert job.config is not None
            mounts = await asyncio.to_thread(prepare, job.config.mounts)
            job.instance = await self._new_instance(job)
            spec = await self._container_spec(job, job.instance, mounts)
            job.undo.append(self._undo_instance(job.instance))
            info = await self._p.engine.create_and_start(spec)
            assert job.instance.id is not None
            job.instance = await asyncio.to_thread(
                self._p.instances.update,
                job.instance.id,
                container_id=info.id,
                started_at=utcnow(),
            )
            await job.recorder.log(f"started container {spec.name} on network {spec.network}")

    async def _new_instance(self, job: _Job) -> Instance:
        assert job.project.id is not None and job.stage.id is not None
        row = Instance(
            project_id=job.project.id,
            stage_id=job.stage.id,
            deploy_id=job.deploy.id,
            tag=job.request.tag,
            digest=job.digest,
            config_hash=job.config.fingerprint if job.config else "",
        )
        row = await asyncio.to_thread(self._p.instances.add, row)
        assert row.id is not None
        name = naming.container_name(job.project, job.stage, job.request.tag, row.id)
        return await asyncio.to_thread(self._p.instances.update, row.id, container_name=name)

    async def _container_spec(
        self, job: _Job, instance: Instance, mounts: list[Mount]
    ) -> ContainerSpec:
        assert job.config is not None and instance.id is not None
        env = job.config.env
        labels = labels_for(
            job.project.name, job.stage.name, job.request.tag, instance.id, job.deploy.id or 0
        )
        labels[LABEL_INSTALLATION] = self._p.installation
        return ContainerSpec(
            name=instance.container_name,
            image=job.image_ref,
            env=env,
            labels=labels,
            network=job.settings.network,
            mounts=tuple(mounts),
            port=job.project.port,
        )

    def _undo_instance(self, instance: Instance) -> Undo:
        async def undo() -> None:
            assert instance.id is not None
            await self._p.engine.remove(instance.container_name, force=True)
            await asyncio.to_thread(self._p.instances.delete, instance.id)

        return undo

    async def _health(self, job: _Job) -> None:
        async with job.recorder.step("health"):
            assert job.instance is not None and job.instance.id is not None
            lines: list[str] = []
            result = await self._probe(job, job.instance, lines)
            for line in lines[-20:]:
                await job.recorder.log(self._redact(job, line))
            if not result.ok:
                raise HealthFailed(self._redact(job, f"health check failed: {result.reason}"))
            job.instance = await asyncio.to_thread(
                self._p.instances.update,
                job.instance.id,
                status=InstanceStatus.HEALTHY,
                healthy_at=utcnow(),
            )
            await job.recorder.log(f"healthy after {result.elapsed:.2f}s ({result.probes} probes)")

    async def _probe(self, job: _Job, instance: Instance, lines: list[str]) -> HealthResult:
        assert job.image is not None
        container = instance.container_id or instance.container_name
        project = job.project
        address = await reach_address(
            self._p.engine, container, job.settings.network, in_network=self._in_network
        )
        policy = HealthPolicy(
            project.healthcheck,
            project.healthcheck_retries,
            project.healthcheck_interval,
            project.healthcheck_timeout,
        )
        return await self._p.health.wait_healthy(
            container,
            address=address,
            port=project.port,
            policy=policy,
            image_has_healthcheck=job.image.has_healthcheck,
            on_log=lines.append,
        )

    async def _route(self, job: _Job) -> None:
        if job.target is None:
            return
        assert job.instance is not None
        upstream = f"{job.instance.container_name}:{job.project.port}"
        async with job.recorder.step("route"):
            for domain in job.domains:
                await self._point(job, job.target, domain)
                await job.recorder.log(f"routed {domain} → {upstream}")

    async def _point(self, job: _Job, target: ProxyTarget, domain: str) -> None:
        assert job.instance is not None
        stage_instances = await asyncio.to_thread(self._p.instances.all, stage_id=job.stage.id)
        previous = self._p.router.owner_of(domain, stage_instances)
        await self._p.router.point(target, domain, job.instance, job.project.port)
        if previous is not None and previous.id is not None:
            job.moved_from.add(previous.id)
        job.undo.append(self._undo_route(job, target, domain, previous))

    def _undo_route(
        self, job: _Job, target: ProxyTarget, domain: str, previous: Instance | None
    ) -> Undo:
        async def undo() -> None:
            assert job.instance is not None
            if previous is None:
                await self._p.router.release(target, job.instance, domain)
            else:
                await self._p.router.point(target, domain, previous, job.project.port)

        return undo

    async def _retire(self, job: _Job) -> None:
        async with job.recorder.step("retire"):
            doomed = await asyncio.to_thread(self._doomed, job)
            if any(i.id in job.moved_from for i in doomed) and self._drain > 0:
                await job.recorder.log(f"waiting {self._drain:.1f}s for in-flight requests")
                await asyncio.sleep(self._drain)
            for old in doomed:
                await self._retire_one(job, old)

    def _doomed(self, job: _Job) -> list[Instance]:
        """Older instances to remove: the same tag (replaced) and the oldest over the limit."""
        assert job.instance is not None
        others = [
            i for i in self._p.instances.all(stage_id=job.stage.id) if i.id != job.instance.id
        ]
        replaced = [i for i in others if i.tag == job.request.tag]
        kept = [i for i in others if i.tag != job.request.tag]
        excess = max(0, len(kept) + 1 - job.stage.max_instances)
        return replaced + kept[:excess]

    async def _retire_one(self, job: _Job, old: Instance) -> None:
        assert old.id is not None
        try:
            await self._p.control.remove(old.id, reassign_default=False)
            await job.recorder.log(f"removed older instance {old.container_name} ({old.tag})")
        except WatcherError as exc:  # the new instance serves; leftovers are reported
            await job.recorder.log(f"could not remove {old.container_name}: {exc}", "warning")

    # endings -------------------------------------------------------------------------------
    async def _finish(self, job: _Job, status: DeployStatus) -> Deploy:
        assert job.deploy.id is not None
        instance_id = job.instance.id if job.instance else None
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
        self, deploy: Deploy, rec: DeployRecorder, failure: StepFailed, job: _Job | None
    ) -> Deploy:
        assert deploy.id is not None
        refused = isinstance(failure.cause, Refused)
        message = self._redact(job, self._describe(failure))
        await rec.log(message, "warning" if refused else "error")
        if job is not None:
            await self._rollback(job)
        status = DeployStatus.REFUSED if refused else DeployStatus.FAILED
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
    def _redact(job: _Job | None, text: str) -> str:
        """Mask this deploy's secret env values: a crashing app may print them in its logs."""
        return job.config.redact(text) if job is not None and job.config is not None else text

    @staticmethod
    def _describe(failure: StepFailed) -> str:
        if isinstance(failure.cause, WatcherError):
            return str(failure.cause)
        log.error("unexpected error in step %s", failure.step, exc_info=failure.cause)
        kind = type(failure.cause).__name__
        return f"internal error in step {failure.step}: {kind}: {failure.cause}"

    async def _rollback(self, job: _Job) -> None:
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
