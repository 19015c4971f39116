"""The rules a deploy must pass before anything is touched."""

from __future__ import annotations

import asyncio

from services import tags
from services.deploy.collaborators import DeployPorts
from services.deploy.job import AUTOMATIC_TRIGGERS, DeployJob, Refused
from services.errors import Conflict
from services.store.models import InstanceStatus


class DeployRules:
    """Refuses what the stage does not allow; raises Refused or Conflict with the reason."""

    def __init__(self, ports: DeployPorts) -> None:
        self._p = ports

    async def check(self, job: DeployJob, *, accepting: bool) -> None:
        """Shutdown, tag pattern, confirmation and promotion rules, in that order."""
        if not accepting:
            raise Refused("Docker Watcher is shutting down; deploy again after the restart")
        await self._check_rules(job)

    async def _check_rules(self, job: DeployJob) -> None:
        req, stage = job.request, job.stage
        if not tags.matches(stage.tag_pattern, req.tag):
            raise Refused(
                f"tag {req.tag!r} does not match stage {stage.name!r} ({stage.tag_pattern})"
            )
        if stage.confirm and (req.trigger in AUTOMATIC_TRIGGERS or not req.confirmed):
            raise Refused(f"stage {stage.name!r} deploys only after confirmation in the UI")
        if stage.promote_from:
            await self._check_promotable(job, stage.promote_from)

    async def _check_promotable(self, job: DeployJob, source_name: str) -> None:
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

    def check_unique(self, job: DeployJob) -> None:
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
