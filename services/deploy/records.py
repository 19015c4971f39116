"""A deploy's row from queued to its outcome, and the notification of that outcome.

The outcome is written after the whole step log (the recorder is flushed first), so whoever sees a
finished deploy also sees every line of it. A failure is logged, rolled back, then recorded; a
rollback that could not finish is recorded as `cleanup_pending` (the reconciler finishes it).
"""

from __future__ import annotations

import asyncio
import logging

from services.audit.log import Actor, AuditLog, Target
from services.deploy.job import DeployJob, DeployReport, DeployRequest, Refused
from services.deploy.step_log import DeployRecorder, StepFailed
from services.errors import WatcherError
from services.events import Event, EventBus
from services.notify.notifier import Notification, NotificationKind, Notifier
from services.store.deploys import DeployStore
from services.store.models import (
    ActorKind,
    AuditOutcome,
    Deploy,
    DeployStatus,
    DeployTrigger,
    Instance,
    utcnow,
)
from services.store.projects import ProjectStore

log = logging.getLogger(__name__)


class DeployRecords:
    def __init__(
        self,
        projects: ProjectStore,
        deploys: DeployStore,
        bus: EventBus,
        notifier: Notifier,
        audit: AuditLog,
    ) -> None:
        self._projects = projects
        self._deploys = deploys
        self._bus = bus
        self._notifier = notifier
        self._audit = audit
        self._actors: dict[int, Actor] = {}  # queued deploy -> who asked (with the address)

    async def queued(self, request: DeployRequest) -> Deploy:
        """The deploy's row, announced as queued (it may wait for its stage's lock)."""
        project = await asyncio.to_thread(self._projects.get, request.project_id)
        row = Deploy(
            project_id=project.id,
            project_name=project.name,
            stage_name=request.stage,
            tag=request.tag,
            trigger=request.trigger,
            rollback_of=request.rollback_of,
            actor=request.actor.name,
        )
        deploy = await asyncio.to_thread(self._deploys.create, row)
        assert deploy.id is not None
        self._actors[deploy.id] = request.actor
        self._bus.publish(Event("deploy.queued", project.id, deploy.id))
        return deploy

    async def running(self, deploy: Deploy, project_id: int) -> DeployReport:
        """Mark the deploy running; returns the report its steps log to."""
        assert deploy.id is not None
        recorder = DeployRecorder(self._deploys, self._bus, deploy.id, project_id)
        await asyncio.to_thread(
            self._deploys.update, deploy.id, status=DeployStatus.RUNNING, started_at=utcnow()
        )
        return DeployReport(recorder)

    async def finished(self, job: DeployJob, instance: Instance | None) -> Deploy:
        """Succeeded with `instance` serving, or skipped (None: the image already ran)."""
        assert job.deploy.id is not None
        status = DeployStatus.SUCCEEDED if instance is not None else DeployStatus.SKIPPED
        await job.log.flush()  # the outcome is recorded after the whole log
        deploy = await asyncio.to_thread(
            self._deploys.update,
            job.deploy.id,
            status=status,
            step=None,
            instance_id=instance.id if instance else None,
            finished_at=utcnow(),
        )
        # The audit row before the announcement: whoever sees the deploy finished sees it too.
        await record_outcome(self._audit, deploy, self._actors.pop(job.deploy.id, None))
        job.log.finished(status)
        if instance is not None:
            note = _notification("deploy_succeeded", job.deploy, url=instance.url)
            self._notifier.notify(note)
        return deploy

    async def failed(
        self, deploy: Deploy, report: DeployReport, failure: StepFailed, job: DeployJob | None
    ) -> Deploy:
        """Log why, undo what the deploy made, then record it refused or failed and notify."""
        assert deploy.id is not None
        refused = isinstance(failure.cause, Refused)
        described = _describe(failure)
        message = job.redact(described) if job is not None else described
        await report.log.log(message, "warning" if refused else "error", step=failure.step)
        cleaned = await report.roll_back()
        status = DeployStatus.REFUSED if refused else DeployStatus.FAILED
        await report.log.flush()
        final = await asyncio.to_thread(
            self._deploys.update,
            deploy.id,
            status=status,
            step=failure.step,
            error=message,
            cleanup_pending=not cleaned,
            finished_at=utcnow(),
        )
        await record_outcome(self._audit, final, self._actors.pop(deploy.id, None))
        report.log.finished(status, message)
        if not refused:
            note = _notification("deploy_failed", deploy, step=failure.step, error=message)
            self._notifier.notify(note)
        return final


ACTIONS = {DeployTrigger.PROMOTE: "promote", DeployTrigger.ROLLBACK: "rollback"}
OUTCOMES = {DeployStatus.FAILED: AuditOutcome.FAILED, DeployStatus.REFUSED: AuditOutcome.REFUSED}
KINDS = {
    DeployTrigger.WEBHOOK: ActorKind.WEBHOOK,
    DeployTrigger.POLL: ActorKind.POLLER,
}


async def record_outcome(audit: AuditLog, deploy: Deploy, actor: Actor | None = None) -> None:
    """The one audit row of a finished deploy: promote, rollback or deploy, with its tag and
    digest, by `actor` (who asked, with the address) or else the actor named on the record."""
    if actor is None:
        kind = KINDS.get(DeployTrigger(deploy.trigger), ActorKind.USER)
        actor = Actor(deploy.actor or "system", kind if deploy.actor else ActorKind.SYSTEM)
    await audit.record(
        actor,
        ACTIONS.get(DeployTrigger(deploy.trigger), "deploy"),
        Target(project=deploy.project_name, stage=deploy.stage_name),
        outcome=OUTCOMES.get(DeployStatus(deploy.status), AuditOutcome.OK),
        detail={
            "deploy_id": deploy.id,
            "tag": deploy.tag,
            "digest": deploy.digest,
            "trigger": str(deploy.trigger),
            "status": str(deploy.status),
        },
        message=deploy.error or "",
    )


def _describe(failure: StepFailed) -> str:
    if isinstance(failure.cause, WatcherError):
        return str(failure.cause)
    log.error("unexpected error in step %s", failure.step, exc_info=failure.cause)
    kind = type(failure.cause).__name__
    return f"internal error in step {failure.step}: {kind}: {failure.cause}"


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
