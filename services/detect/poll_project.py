"""One project's poll cycle (see `services.detect.poller` for the whole picture and the trade-offs).

List the tags; on the first look record them all as the baseline; otherwise route the newest
new tags that match a stage, record the rest, and now and then HEAD one running auto-deployed tag
to notice a digest that moved under the same name.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from services import tags
from services.detect.decisions import Outcome
from services.detect.intake import Intake
from services.detect.poll_status import PollerOptions, ProjectStatus
from services.errors import NotFound
from services.registry.client import RegistryClient
from services.store.instances import InstanceStore
from services.store.models import DeployTrigger, InstanceStatus, Project, SeenTag, Stage, utcnow
from services.store.projects import ProjectStore
from services.store.seen_tags import SeenState, SeenTagStore
from services.store.settings_store import SettingsStore

log = logging.getLogger(__name__)
RUNNING = (InstanceStatus.HEALTHY, InstanceStatus.UNHEALTHY, InstanceStatus.STARTING)


@dataclass
class PollerStores:
    projects: ProjectStore
    instances: InstanceStore
    seen: SeenTagStore
    settings: SettingsStore


@dataclass(frozen=True)
class _View:
    """A project's state before routing: seen tags, baseline, stages, running auto tags."""

    seen: dict[str, SeenTag]
    baselined: bool
    stages: list[Stage]
    watched: dict[str, set[str]]  # tag running in an auto-deploy stage → its digests


class ProjectPoll:
    """Polls one project at a time; shared by every registry's task (it keeps no state)."""

    def __init__(self, stores: PollerStores, intake: Intake, options: PollerOptions) -> None:
        self._s = stores
        self._intake = intake
        self._o = options

    async def poll(
        self, client: RegistryClient, project: Project, status: ProjectStatus
    ) -> list[Outcome]:
        """One cycle for one project; raises the registry's errors (the caller sorts them)."""
        assert project.id is not None
        started = utcnow()
        try:
            listed = await client.list_tags(project.image)
        except NotFound:
            listed = []  # nothing pushed yet: an empty repository
        status.tags = len(listed)
        view = await asyncio.to_thread(self._view, project)
        if not view.baselined:
            await asyncio.to_thread(self._s.seen.take_baseline, project.id, project.image, listed)
            return []
        outcomes = await self._route_new(client, project, view, listed)
        outcomes += await self._recheck(client, project, view, status)
        if view.seen.keys() - set(listed):
            await asyncio.to_thread(self._s.seen.forget_missing, project.id, set(listed), started)
        return outcomes

    def _view(self, project: Project) -> _View:
        assert project.id is not None
        seen, marker = self._s.seen.snapshot(project.id)
        stages = self._s.projects.stages(project.id)
        auto = {s.id for s in stages if s.auto_deploy and not s.confirm}
        watched: dict[str, set[str]] = {}
        for instance in self._s.instances.all(project_id=project.id):
            if instance.stage_id in auto and instance.status in RUNNING:
                watched.setdefault(instance.tag, set()).add(instance.digest)
        return _View(seen, marker == project.image, stages, watched)

    async def _route_new(
        self, client: RegistryClient, project: Project, view: _View, listed: list[str]
    ) -> list[Outcome]:
        assert project.id is not None
        new = [t for t in listed if t not in view.seen]
        wanted = tags.sort_newest_first(t for t in new if tags.stages_for_tag(view.stages, t))
        now, later = wanted[: self._o.new_per_cycle], wanted[self._o.new_per_cycle :]
        skipped = [(t, "", SeenState.SUPERSEDED) for t in later]
        skipped += [(t, "", SeenState.IGNORED) for t in new if t not in wanted]
        if skipped:
            await asyncio.to_thread(self._s.seen.record, project.id, skipped)
        outcomes = []
        for tag in reversed(now):
            outcome = await self._route_tag(client, project, tag)
            outcomes += [outcome] if outcome else []
        return outcomes

    async def _recheck(
        self, client: RegistryClient, project: Project, view: _View, status: ProjectStatus
    ) -> list[Outcome]:
        """Every `recheck_every` cycles, HEAD one running auto-deployed tag for a moved digest."""
        assert project.id is not None
        status.cycles += 1
        if not view.watched or (status.cycles + project.id) % self._o.recheck_every:
            return []
        ordered = sorted(view.watched)
        tag = ordered[status.recheck_turn % len(ordered)]
        status.recheck_turn += 1
        digest = await self._digest(client, project, tag)
        known = view.seen.get(tag)
        if digest is None or (known is not None and known.digest == digest):
            return []
        if digest in view.watched[tag]:  # running already; the seen row just lacked it
            await asyncio.to_thread(self._s.seen.claim, project.id, tag, digest, SeenState.DEPLOYED)
            return []
        log.info("poller: %s:%s moved to %s", project.image, tag, digest)
        return [await self._intake.route_project(project, tag, digest, DeployTrigger.POLL)]

    async def _route_tag(
        self, client: RegistryClient, project: Project, tag: str
    ) -> Outcome | None:
        digest = await self._digest(client, project, tag)
        if digest is None:
            return None  # deleted between listing and now
        return await self._intake.route_project(project, tag, digest, DeployTrigger.POLL)

    @staticmethod
    async def _digest(client: RegistryClient, project: Project, tag: str) -> str | None:
        try:
            return await client.manifest_digest(project.image, tag)
        except NotFound:
            return None
