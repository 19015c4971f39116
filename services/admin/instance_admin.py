"""A stage's instances from a person's side: list them, deploy a tag, stop/start/restart/remove.

Every call names project, stage and instance, and an instance of another stage is NotFound, so
a URL (or a stale page) can never act on the wrong container. A deploy is checked against the
stage's rules before it is queued (tag format and pattern, confirmation, promotion), so a person
gets the reason at once instead of a refused deploy in the history; the deployer checks again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from services import promotion, tags
from services.audit.log import Actor, AuditLog, Target
from services.deploy.deployer import Deployer, DeployRequest
from services.deploy.instance_control import InstanceControl
from services.errors import NotFound, ValidationFailed, WatcherError
from services.imageref import ImageRef
from services.store.instances import InstanceStore
from services.store.models import AuditOutcome, Deploy, DeployTrigger, Instance, Stage
from services.store.projects import ProjectStore

T = TypeVar("T")


class InstanceAdmin:
    def __init__(
        self,
        projects: ProjectStore,
        instances: InstanceStore,
        control: InstanceControl,
        deployer: Deployer,
        audit: AuditLog,
    ) -> None:
        self._audit = audit
        self._projects = projects
        self._instances = instances
        self._control = control
        self._deployer = deployer

    async def list(self, project_id: int, stage: str) -> list[Instance]:
        """The stage's instances, oldest first. NotFound for an unknown project or stage."""
        row = await asyncio.to_thread(self._stage, project_id, stage)
        return await asyncio.to_thread(self._instances.all, stage_id=row.id)

    async def deploy(
        self, project_id: int, stage: str, tag: str, *, actor: Actor, confirmed: bool = False
    ) -> Deploy:
        """Queue a person's deploy of `tag`; returns the queued record (it runs in background).

        Raises NotFound, or ValidationFailed naming `tag` (format, pattern, not promotable) or
        `confirmed` (the stage asks for confirmation).
        """
        row = await asyncio.to_thread(self._checked, project_id, stage, tag, confirmed)
        trigger = DeployTrigger.PROMOTE if row.promote_from else DeployTrigger.MANUAL
        request = DeployRequest(
            project_id, stage, tag, trigger=trigger, confirmed=confirmed, actor=actor
        )
        return await self._deployer.submit(request)

    async def stop(self, project_id: int, stage: str, instance_id: int, actor: Actor) -> Instance:
        await self._owned(project_id, stage, instance_id)
        return await self._audited(
            actor, "stop", project_id, stage, instance_id, self._control.stop
        )

    async def start(self, project_id: int, stage: str, instance_id: int, actor: Actor) -> Instance:
        await self._owned(project_id, stage, instance_id)
        call = self._control.start
        return await self._audited(actor, "start", project_id, stage, instance_id, call)

    async def restart(
        self, project_id: int, stage: str, instance_id: int, actor: Actor
    ) -> Instance:
        await self._owned(project_id, stage, instance_id)
        call = self._control.restart
        return await self._audited(actor, "restart", project_id, stage, instance_id, call)

    async def remove(self, project_id: int, stage: str, instance_id: int, actor: Actor) -> None:
        """Container and proxy hosts go; data folders stay; the stage URL moves if it can."""
        await self._owned(project_id, stage, instance_id)
        call = self._control.remove
        await self._audited(actor, "remove", project_id, stage, instance_id, call)

    async def _audited(
        self,
        actor: Actor,
        action: str,
        project_id: int,
        stage: str,
        instance_id: int,
        call: Callable[[int], Awaitable[T]],
    ) -> T:
        """Run a control on the instance and leave one audit row, ok or failed with why."""
        project = await asyncio.to_thread(self._projects.get, project_id)
        target = Target(project=project.name, stage=stage, instance_id=instance_id)
        try:
            result = await call(instance_id)
        except WatcherError as exc:
            outcome, message = AuditOutcome.FAILED, str(exc)
            await self._audit.record(actor, action, target, outcome=outcome, message=message)
            raise
        await self._audit.record(actor, action, target)
        return result

    async def logs(self, project_id: int, stage: str, instance_id: int, tail: int = 200) -> str:
        """The container's last `tail` log lines."""
        await self._owned(project_id, stage, instance_id)
        return await self._control.logs(instance_id, tail=tail)

    # blocking helpers ----------------------------------------------------------------------
    def _stage(self, project_id: int, stage: str) -> Stage:
        self._projects.get(project_id)
        return self._projects.stage_by_name(project_id, stage)

    async def _owned(self, project_id: int, stage: str, instance_id: int) -> Instance:
        row = await asyncio.to_thread(self._stage, project_id, stage)
        instance = await asyncio.to_thread(self._instances.find, instance_id)
        if instance is None or instance.stage_id != row.id:
            raise NotFound(f"instance {instance_id} not found in stage {stage!r}")
        return instance

    def _checked(self, project_id: int, stage: str, tag: str, confirmed: bool) -> Stage:
        project = self._projects.get(project_id)
        row = self._projects.stage_by_name(project_id, stage)
        ImageRef(registry="", repository=project.image).with_tag(tag, field="tag")
        if not tags.matches(row.tag_pattern, tag):
            raise ValidationFailed.single(
                "tag", f"{tag!r} does not match stage {stage!r} ({row.tag_pattern})"
            )
        if row.confirm and not confirmed:
            raise ValidationFailed.single(
                "confirmed", f"stage {stage!r} deploys only when confirmed (confirmed: true)"
            )
        if row.promote_from:
            self._check_promotable(project_id, row, tag)
        return row

    def _check_promotable(self, project_id: int, row: Stage, tag: str) -> None:
        assert row.promote_from is not None
        try:
            source = self._projects.stage_by_name(project_id, row.promote_from)
        except NotFound:
            source = None
        running = self._instances.all(stage_id=source.id) if source else None
        reason = promotion.refusal(row, tag, running)
        if reason:
            raise ValidationFailed.single("tag", reason)
