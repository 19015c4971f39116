"""The "check" step: read what the deploy is about and refuse what the stage does not allow.

Nothing is touched before this step passed: the rules (shutdown, tag pattern, confirmation,
promotion, an image on its registry's host) raise Refused with the reason, and the container's
env and mounts are resolved and checked here (ValidationFailed), so a bad volume never leaves a
pulled image or a row behind.

Check also pins the deploy: the tag's manifest digest is read from the registry here, and that
digest is what the later steps pull and start, however the tag moves meanwhile. The deploy record
gets the digest and a snapshot of the config (see snapshot.py). A rollback reads both from the
deploy it returns to instead: its digest, and its env, mounts, port and health settings.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, Protocol

from services import promotion, tags
from services.deploy import container_config, snapshot
from services.deploy.container_config import ConfigRows, ContainerConfig
from services.deploy.job import AUTOMATIC_TRIGGERS, DeployJob, DeployReport, DeployRequest, Refused
from services.errors import NotFound, ValidationFailed
from services.store.deploys import DeployStore
from services.store.instances import InstanceStore
from services.store.models import (
    Deploy,
    DeployStatus,
    DeployTrigger,
    GlobalSettings,
    Project,
    Stage,
)
from services.store.projects import ProjectStore
from services.store.settings_store import SettingsStore
from services.volumes import allowed_named, allowed_roots

_Read = tuple[Project, Stage, GlobalSettings, Deploy | None]


class ImageSources(Protocol):
    """Knows which registry serves an image (the RegistryPool)."""

    def check_image_host(self, registry_id: int | None, image: str) -> None:
        """ValidationFailed when `image` is not on registry `registry_id`'s host (blocking)."""


class DigestSource(Protocol):
    """Resolves a tag to its registry manifest digest (the ImageFetcher)."""

    async def resolve(self, project: Project, tag: str) -> str | None:
        """The digest, or None when the registry cannot say (the pull reports why)."""


class CheckStep:
    """Turns a request into an approved `DeployJob`, or raises why it may not run."""

    def __init__(
        self,
        projects: ProjectStore,
        instances: InstanceStore,
        settings: SettingsStore,
        deploys: DeployStore,
        volume_defaults: Path,
        sources: ImageSources,
        digests: DigestSource,
    ) -> None:
        """`volume_defaults`: where volumes may live when no roots are configured."""
        self._sources = sources
        self._digests = digests
        self._deploys = deploys
        self._projects = projects
        self._instances = instances
        self._settings = settings
        self._volume_defaults = volume_defaults

    async def run(
        self, request: DeployRequest, deploy: Deploy, report: DeployReport, *, accepting: bool
    ) -> DeployJob:
        async with report.log.step("check"):
            project, stage, settings, target = await asyncio.to_thread(self._read, request)
            if not accepting:
                raise Refused("Docker Watcher is shutting down; deploy again after the restart")
            await self._check_rules(request, project, stage)
            await self._check_image_host(project)
            if target is not None:
                project = snapshot.project_as_deployed(project, target.config_snapshot)
                await report.log.log(f"rolling back to deploy #{target.id} ({target.tag})")
            (config, taken), digest = await asyncio.gather(
                asyncio.to_thread(self._configure, request, project, stage, settings, target),
                self._digest(request, project, target),
            )
            assert deploy.id is not None
            await asyncio.to_thread(
                self._deploys.update, deploy.id, digest=digest or "", config_snapshot=taken
            )
            for line in config.describe():
                await report.log.log(line)
            await report.log.log(_pinned(request.tag, digest))
        return DeployJob(request, deploy, project, stage, settings, config, report, digest)

    def _read(self, request: DeployRequest) -> _Read:
        project = self._projects.get(request.project_id)
        stage = self._projects.stage_by_name(request.project_id, request.stage)
        target = None if request.rollback_of is None else self._target(request)
        return project, stage, self._settings.get_global(), target

    def _target(self, request: DeployRequest) -> Deploy:
        """The deploy a rollback returns to: a successful one of this stage with a snapshot."""
        assert request.rollback_of is not None
        try:
            target = self._deploys.get(request.rollback_of)
        except NotFound as exc:
            raise Refused(f"deploy #{request.rollback_of} no longer exists") from exc
        if (
            target.project_id != request.project_id
            or target.stage_name != request.stage
            or target.status != DeployStatus.SUCCEEDED
            or not target.digest
            or not snapshot.usable(target.config_snapshot)
        ):
            raise Refused(f"deploy #{target.id} is not a successful deploy of this stage")
        return target

    async def _digest(
        self, request: DeployRequest, project: Project, target: Deploy | None
    ) -> str | None:
        """The digest this deploy runs: the rollback target's, else the tag's in the registry."""
        if target is not None:
            return target.digest
        return await self._digests.resolve(project, request.tag)

    async def _check_rules(self, request: DeployRequest, project: Project, stage: Stage) -> None:
        """Tag pattern, confirmation and promotion, in that order."""
        if not tags.matches(stage.tag_pattern, request.tag):
            raise Refused(
                f"tag {request.tag!r} does not match stage {stage.name!r} ({stage.tag_pattern})"
            )
        if stage.confirm and (request.trigger in AUTOMATIC_TRIGGERS or not request.confirmed):
            raise Refused(f"stage {stage.name!r} deploys only after confirmation in the UI")
        if stage.promote_from and request.trigger != DeployTrigger.ROLLBACK:
            # a rollback returns to what this stage already ran: the source stage moved on
            await self._check_promotable(request, stage, stage.promote_from)

    async def _check_promotable(self, request: DeployRequest, stage: Stage, source: str) -> None:
        """A promoting stage takes only a tag that runs healthy in its source stage."""
        source_stage = await asyncio.to_thread(
            self._projects.stage_by_name, request.project_id, source
        )
        running = await asyncio.to_thread(self._instances.all, stage_id=source_stage.id)
        reason = promotion.refusal(stage, request.tag, running)
        if reason:
            raise Refused(reason)

    async def _check_image_host(self, project: Project) -> None:
        """Before any pull: Docker sends the registry's credentials to the image's host."""
        try:
            await asyncio.to_thread(
                self._sources.check_image_host, project.registry_id, project.image
            )
        except ValidationFailed as exc:
            raise Refused(f"not pulled: {exc.errors[0].message}") from exc

    def _configure(
        self,
        request: DeployRequest,
        project: Project,
        stage: Stage,
        settings: GlobalSettings,
        target: Deploy | None,
    ) -> tuple[ContainerConfig, dict[str, Any]]:
        """Env and mounts, checked before anything is pulled or created (ValidationFailed),
        and the snapshot they come from: today's rows, or the rollback target's snapshot."""
        assert project.id is not None
        rows: ConfigRows = self._projects
        if target is None:
            taken = snapshot.take(self._projects, project, stage)
        else:
            taken = dict(target.config_snapshot)
            rows = snapshot.SnapshotRows(taken, project.id, self._projects)
        roots = allowed_roots(settings, self._volume_defaults)
        data_dir = self._volume_defaults.parent
        named = allowed_named(settings)
        config = container_config.build(
            rows, project.id, stage, request.tag, roots, data_dir, named
        )
        return config, taken


def _pinned(tag: str, digest: str | None) -> str:
    if digest is None:
        return f"the registry did not say the digest of {tag}: the pull pins what it gets"
    return f"{tag} is {digest}: this digest is what runs"
