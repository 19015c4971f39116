"""Routing a detected image, shared by the webhook and the poller.

Known project (same registry host and repository) → every stage whose tag pattern matches:
`auto_deploy` without `confirm` → a deploy is queued (a `promote_from` stage only for a tag
running healthy in its source stage; otherwise a refused deploy is recorded with the reason);
any other stage → the tag is recorded as available and one `tag_waiting` notification goes out.
Every decision happens once per (project, tag, digest): `SeenTagStore.claim` is one atomic upsert,
so the webhook and the poller seeing the same push deploy it once. The digest is always the
registry's (one HEAD of the manifest), never a digest the webhook's caller sent: anyone holding
the URL could otherwise make one tag "new" again and again by sending made-up digests, each
queueing a deploy. A deploy of the same stage and tag still waiting in the queue takes the later
request in (the deployer answers "merged"). Unknown images go to `AutoCreator`, which creates a
project only for repositories on the allow-list.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from services import promotion, tags
from services.audit.log import POLLER, WEBHOOK, Actor, AuditLog
from services.deploy.deployer import Deployer, DeployRequest
from services.deploy.records import record_outcome
from services.detect.auto_create import AutoCreator
from services.detect.decisions import Decision, Outcome
from services.detect.webhook_payloads import Pushed
from services.errors import NotFound, ValidationFailed, WatcherError
from services.events import Event, EventBus
from services.imageref import ImageRef
from services.notify.notifier import Notification, Notifier
from services.registry.pool import RegistryPool, Source
from services.store.deploys import DeployStore
from services.store.instances import InstanceStore
from services.store.models import Deploy, DeployStatus, DeployTrigger, Project, Stage, utcnow
from services.store.projects import ProjectStore
from services.store.seen_tags import SeenState, SeenTagStore

log = logging.getLogger(__name__)
DIGEST_TIMEOUT = 5.0


def detector(trigger: DeployTrigger) -> Actor:
    """Who noticed the image: the webhook, or else the registry poller."""
    return WEBHOOK if trigger == DeployTrigger.WEBHOOK else POLLER


@dataclass(frozen=True)
class _Step:
    """What routing does for one stage: deploy, wait (for a person) or refuse (with why)."""

    stage: Stage
    action: str
    reason: str = ""


@dataclass(frozen=True)
class _Target:
    """A project using the pushed repository, with what routing needs to know up front."""

    project: Project
    stages: list[Stage]
    source: Source | None  # None when its image cannot be resolved to a registry


@dataclass
class IntakeStores:
    projects: ProjectStore
    instances: InstanceStore
    deploys: DeployStore
    seen: SeenTagStore


class Intake:
    """Turns sightings of `image:tag` (with digest when known) into decisions."""

    def __init__(
        self,
        stores: IntakeStores,
        pool: RegistryPool,
        deployer: Deployer,
        notifier: Notifier,
        bus: EventBus,
        creator: AutoCreator,
        audit: AuditLog,
    ) -> None:
        self._s = stores
        self._audit = audit
        self._pool = pool
        self._deployer = deployer
        self._notifier = notifier
        self._bus = bus
        self._creator = creator

    async def route(self, pushed: Pushed, trigger: DeployTrigger) -> list[Outcome]:
        """Route a pushed image to every project using its repository (or the auto-creator).

        `pushed.digest` (what the sender claims) is not used: the registry's digest decides.
        """
        targets = await asyncio.to_thread(self._targets, pushed.ref)
        if not targets:
            return [await self._creator.handle(pushed, self.route)]
        tag = pushed.ref.require_tag()
        return [await self._route_target(target, tag, trigger) for target in targets]

    async def route_project(
        self,
        project: Project,
        tag: str,
        digest: str,
        trigger: DeployTrigger,
        stages: list[Stage] | None = None,
    ) -> Outcome:
        """Decide for one project; `digest` "" when unknown (then only an unseen tag is news).

        `stages`: the project's stages when the caller just read them (saves a query).
        """
        assert project.id is not None
        image = f"{project.image}:{tag}"
        steps, claimed = await asyncio.to_thread(self._plan_and_claim, project, tag, digest, stages)
        if not steps:
            return Outcome(image, project.name, (_no_stage(project, tag),))
        if not claimed:
            note = Decision("ignored", f"already seen {tag} at {digest[:19] or 'this digest'}")
            return Outcome(image, project.name, (note,))
        decisions = [await self._execute(project, step, tag, digest, trigger) for step in steps]
        self._announce_waiting(project, tag, [s for s in steps if s.action == "wait"])
        return Outcome(image, project.name, tuple(decisions))

    async def _route_target(self, target: _Target, tag: str, trigger: DeployTrigger) -> Outcome:
        project = target.project
        if not tags.stages_for_tag(target.stages, tag):  # spare the registry a digest lookup
            return Outcome(f"{project.image}:{tag}", project.name, (_no_stage(project, tag),))
        found = await self._digest(target, tag)
        if found is None:
            note = Decision("ignored", f"tag {tag} was not found in the registry")
            return Outcome(f"{project.image}:{tag}", project.name, (note,))
        return await self.route_project(project, tag, found, trigger, target.stages)

    async def shutdown(self, timeout: float = 30.0) -> None:
        await self._creator.shutdown(timeout)

    # planning (blocking: runs in a thread) ------------------------------------------------
    def _targets(self, ref: ImageRef) -> list[_Target]:
        """Projects using `ref`'s repository, with their stages and registry (one thread hop)."""
        exact = self._s.projects.find_by_image(ref.name)
        projects = exact or [p for p in self._s.projects.all() if _image_name(p.image) == ref.name]
        if not projects:
            return []
        sources, _ = self._pool.sources(projects)
        return [
            _Target(p, self._s.projects.stages(p.id or 0), sources.get(p.id or 0)) for p in projects
        ]

    def _plan_and_claim(
        self, project: Project, tag: str, digest: str, stages: list[Stage] | None
    ) -> tuple[list[_Step], bool]:
        """Per matching stage what to do, and whether this sighting is news (claimed)."""
        assert project.id is not None
        stages = self._s.projects.stages(project.id) if stages is None else stages
        by_name = {s.name: s for s in stages}
        steps = [self._plan_stage(st, by_name, tag) for st in tags.stages_for_tag(stages, tag)]
        if not steps:
            return steps, False
        return steps, self._s.seen.claim(project.id, tag, digest, _state_of(steps))

    def _plan_stage(self, stage: Stage, by_name: dict[str, Stage], tag: str) -> _Step:
        blocked = self._promote_block(stage, by_name, tag)
        if stage.auto_deploy and not stage.confirm:
            return _Step(stage, "refuse", blocked) if blocked else _Step(stage, "deploy")
        reason = "waiting for manual deploy"
        if stage.confirm:
            reason += " (with confirmation)"
        if blocked:
            reason += f" once it runs healthy in stage {stage.promote_from!r}"
        return _Step(stage, "wait", reason)

    def _promote_block(self, stage: Stage, by_name: dict[str, Stage], tag: str) -> str:
        """Why `tag` cannot be promoted into `stage` now ("" when it can or needs no source)."""
        if not stage.promote_from:
            return ""
        source = by_name.get(stage.promote_from)
        running = self._s.instances.all(stage_id=source.id) if source else None
        return promotion.refusal(stage, tag, running) or ""

    # doing --------------------------------------------------------------------------------
    async def _execute(
        self, project: Project, step: _Step, tag: str, digest: str, trigger: DeployTrigger
    ) -> Decision:
        assert project.id is not None
        name = step.stage.name
        if step.action == "deploy":
            request = DeployRequest(project.id, name, tag, trigger, actor=detector(trigger))
            queued = await self._deployer.enqueue(request)
            if queued.merged:
                note = "merged into the deploy of this tag already waiting in the queue"
                return Decision("merged", note, name, queued.deploy.id)
            return Decision("queued", "deploy queued", name, queued.deploy.id)
        if step.action == "refuse":
            refused = await self._record_refusal(project, step, tag, digest, trigger)
            return Decision("refused", step.reason, name, refused.id)
        return Decision("waiting", step.reason, name)

    async def _record_refusal(
        self, project: Project, step: _Step, tag: str, digest: str, trigger: DeployTrigger
    ) -> Deploy:
        """Keep the refusal in the deploy history, as the deployer does for its own refusals."""
        row = Deploy(
            project_id=project.id,
            project_name=project.name,
            stage_name=step.stage.name,
            tag=tag,
            digest=digest,
            trigger=trigger,
            status=DeployStatus.REFUSED,
            step="check",
            error=step.reason,
            finished_at=utcnow(),
            actor=detector(trigger).name,
        )
        deploy = await asyncio.to_thread(self._s.deploys.create, row)
        await record_outcome(self._audit, deploy, detector(trigger))
        data = {"status": DeployStatus.REFUSED.value, "error": step.reason}
        self._bus.publish(Event("deploy.finished", project.id, deploy.id, data=data))
        return deploy

    def _announce_waiting(self, project: Project, tag: str, waiting: Sequence[_Step]) -> None:
        if not waiting:
            return
        names = [s.stage.name for s in waiting]
        self._bus.publish(Event("tag.waiting", project.id, data={"tag": tag, "stages": names}))
        stages = ", ".join(names)
        self._notifier.notify(
            Notification(kind="tag_waiting", project=project.name, stage=stages, tag=tag)
        )

    async def _digest(self, target: _Target, tag: str) -> str | None:
        """The tag's digest from the registry; "" when it cannot be read now, None if missing."""
        image = target.project.image
        if target.source is None:
            return ""
        try:
            async with asyncio.timeout(DIGEST_TIMEOUT):
                return await self._pool.client(target.source).manifest_digest(image, tag)
        except NotFound:
            return None
        except (WatcherError, TimeoutError) as exc:
            log.warning("cannot read the digest of %s:%s: %s", image, tag, exc or "timeout")
            return ""


def _state_of(steps: Sequence[_Step]) -> SeenState:
    actions = {s.action for s in steps}
    if "deploy" in actions:
        return SeenState.DEPLOYED
    return SeenState.AVAILABLE if "wait" in actions else SeenState.REFUSED


def _no_stage(project: Project, tag: str) -> Decision:
    return Decision("ignored", f"no stage of {project.name} matches tag {tag}")


@functools.lru_cache(maxsize=4096)
def _image_name(image: str) -> str | None:
    """The normalised repository name of a stored image (cached: pure, and parsing costs)."""
    try:
        return ImageRef.parse_name(image).name
    except ValidationFailed:
        return None
