"""Quick deploy: image reference → pull and inspect → a prefilled proposal → deploy.

`accept` saves the project and its stage, so the next version deploys from the project page. The
webhook's auto-creation goes through the same two calls. Also the tag lists of "Deploy new
version": registry tags matching a stage, newest first; for a `promote_from` stage only the tags
running healthy in the source stage (the deployer refuses any other, whatever the trigger).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from services import promotion, tags
from services.audit.log import Actor
from services.deploy.deployer import Deployer, DeployRequest
from services.detect import proposals
from services.detect.proposals import Proposal
from services.detect.webhook_payloads import lower_name
from services.docker_engine import DockerEngine
from services.errors import NotFound, ValidationFailed
from services.imageref import ImageRef
from services.registry.pool import RegistryPool
from services.store.instances import InstanceStore
from services.store.models import Deploy, DeployTrigger, Project, Stage
from services.store.projects import ProjectStore
from services.store.settings_store import SettingsStore
from services.types import PullProgress

PERSON_TRIGGERS = (DeployTrigger.QUICK, DeployTrigger.MANUAL, DeployTrigger.PROMOTE)


@dataclass(frozen=True)
class QuickDeployStores:
    projects: ProjectStore
    instances: InstanceStore
    settings: SettingsStore


class QuickDeploy:
    """Inspects images, creates projects from reviewed proposals, lists deployable tags."""

    def __init__(
        self,
        stores: QuickDeployStores,
        pool: RegistryPool,
        engine: DockerEngine,
        deployer: Deployer,
    ) -> None:
        self._s = stores
        self._pool = pool
        self._engine = engine
        self._deployer = deployer

    async def inspect(self, reference: str, progress: PullProgress | None = None) -> Proposal:
        """Pull `reference` (with the credentials of the registry serving it) and propose a project.

        No tag means `latest`, as with `docker pull`. Raises ValidationFailed (field
        `reference`), and the pull's InvalidAuth, NotFound, CannotConnect or Timeout.
        """
        ref = parse_reference(reference)
        source = await asyncio.to_thread(self._pool.source_for_ref, ref)
        info = await self._engine.pull(str(ref), auth=source.pull_auth, progress=progress)
        context = await asyncio.to_thread(self._context, ref)
        return proposals.build(ref, info, source.registry_id, context)

    async def review(self, proposal: Proposal) -> Proposal:
        """`proposal` as edited, with its name and subdomain clashes and addresses worked out
        again against what exists now (the form calls it as the person types)."""
        ref = parse_reference(proposal.reference)
        context = await asyncio.to_thread(self._context, ref)
        return proposals.reviewed(proposal, context)

    async def accept(
        self, proposal: Proposal, *, actor: Actor, trigger: DeployTrigger = DeployTrigger.QUICK
    ) -> Deploy:
        """Create the project and its stage from a (reviewed) proposal and queue its deploy.

        Raises ValidationFailed naming the field, or Conflict when the name was taken meanwhile;
        nothing is left half-created. Returns the queued deploy (it runs in the background).
        """
        proposals.validate(proposal)
        await asyncio.to_thread(self._pool.check_image_host, proposal.registry_id, proposal.image)
        project = await asyncio.to_thread(self._create, proposal)
        assert project.id is not None
        request = DeployRequest(
            project.id,
            proposal.stage.name,
            proposal.tag,
            trigger=trigger,
            confirmed=trigger in PERSON_TRIGGERS,
            actor=actor,
        )
        return await self._deployer.submit(request)

    async def tags_for_stage(self, project_id: int, stage: str) -> list[str]:
        """Tags a person may deploy to a stage, newest first.

        Registry tags matching the stage's pattern; for a `promote_from` stage, the promotable
        tags instead. Raises NotFound and the registry's errors (InvalidAuth, CannotConnect...).
        """
        project, row = await asyncio.to_thread(self._project_stage, project_id, stage)
        if row.promote_from:
            return await self.promotable_tags(project_id, stage)
        _, client = await self._pool.client_for(project)
        listed = await client.list_tags(project.image)
        return tags.sort_newest_first(t for t in listed if tags.matches(row.tag_pattern, t))

    async def promotable_tags(self, project_id: int, stage: str) -> list[str]:
        """Tags running healthy in the stage's `promote_from` stage that match its pattern."""
        return await asyncio.to_thread(self._promotable, project_id, stage)

    # blocking helpers (run in a thread) ---------------------------------------------------
    def _context(self, ref: ImageRef) -> proposals.Context:
        all_projects = self._s.projects.all()
        same_image = [p.id for p in all_projects if _same_image(p, ref) and p.id is not None]
        return proposals.Context(
            taken_names={p.name for p in all_projects},
            existing_project_id=same_image[0] if same_image else None,
            settings=self._s.settings.get_global(),
            subdomain_owners=self._s.instances.subdomain_owners(),
        )

    def _create(self, proposal: Proposal) -> Project:
        project = self._s.projects.create(**proposals.project_fields(proposal))
        assert project.id is not None
        try:
            self._s.projects.add_stage(project.id, **proposals.stage_fields(proposal))
            if proposal.env:  # written before the deploy is queued, so its first run has it
                self._s.projects.set_env(project.id, None, list(proposal.env))
        except BaseException:
            self._s.projects.delete(project.id)  # never leave a project without its stage
            raise
        return project

    def _project_stage(self, project_id: int, stage: str) -> tuple[Project, Stage]:
        return self._s.projects.get(project_id), self._s.projects.stage_by_name(project_id, stage)

    def _promotable(self, project_id: int, stage: str) -> list[str]:
        row = self._s.projects.stage_by_name(project_id, stage)
        if not row.promote_from:
            return []
        try:
            source = self._s.projects.stage_by_name(project_id, row.promote_from)
        except NotFound:
            return []
        return promotion.promotable_tags(row, self._s.instances.all(stage_id=source.id))


def parse_reference(reference: str) -> ImageRef:
    """A reference to deploy by tag: lowercase name, `latest` when no tag, no digest pinning."""
    if not isinstance(reference, str):
        raise ValidationFailed.single("reference", "must be a text such as 'ghcr.io/owner/app:v1'")
    ref = ImageRef.parse(lower_name(reference.strip()), field="reference")
    if ref.digest is not None and ref.tag is None:
        raise ValidationFailed.single(
            "reference", "give a tag (deploys follow tags), e.g. 'ghcr.io/owner/app:v1'"
        )
    return ref.with_tag(ref.tag or "latest", field="reference")


def _same_image(project: Project, ref: ImageRef) -> bool:
    try:
        return ImageRef.parse_name(project.image).name == ref.name
    except ValidationFailed:
        return False
