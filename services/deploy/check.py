"""The "check" step: read what the deploy is about and refuse what the stage does not allow.

Nothing is touched before this step passed: the rules (shutdown, tag pattern, confirmation,
promotion, an image on its registry's host) raise Refused with the reason, and the container's
env and mounts are resolved and checked here (ValidationFailed), so a bad volume never leaves a
pulled image or a row behind.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Protocol

from services import promotion, tags
from services.deploy import container_config
from services.deploy.container_config import ContainerConfig
from services.deploy.job import AUTOMATIC_TRIGGERS, DeployJob, DeployReport, DeployRequest, Refused
from services.errors import ValidationFailed
from services.store.instances import InstanceStore
from services.store.models import Deploy, GlobalSettings, Project, Stage
from services.store.projects import ProjectStore
from services.store.settings_store import SettingsStore
from services.volumes import allowed_named, allowed_roots

_Read = tuple[Project, Stage, GlobalSettings]


class ImageSources(Protocol):
    """Knows which registry serves an image (the RegistryPool)."""

    def check_image_host(self, registry_id: int | None, image: str) -> None:
        """ValidationFailed when `image` is not on registry `registry_id`'s host (blocking)."""


class CheckStep:
    """Turns a request into an approved `DeployJob`, or raises why it may not run."""

    def __init__(
        self,
        projects: ProjectStore,
        instances: InstanceStore,
        settings: SettingsStore,
        volume_defaults: Path,
        sources: ImageSources,
    ) -> None:
        """`volume_defaults`: where volumes may live when no roots are configured."""
        self._sources = sources
        self._projects = projects
        self._instances = instances
        self._settings = settings
        self._volume_defaults = volume_defaults

    async def run(
        self, request: DeployRequest, deploy: Deploy, report: DeployReport, *, accepting: bool
    ) -> DeployJob:
        async with report.log.step("check"):
            project, stage, settings = await asyncio.to_thread(self._read, request)  # one trip
            if not accepting:
                raise Refused("Docker Watcher is shutting down; deploy again after the restart")
            await self._check_rules(request, project, stage)
            await self._check_image_host(project)
            config = await asyncio.to_thread(self._configure, request, project, stage, settings)
            for line in config.describe():
                await report.log.log(line)
        return DeployJob(request, deploy, project, stage, settings, config, report)

    def _read(self, request: DeployRequest) -> _Read:
        project = self._projects.get(request.project_id)
        stage = self._projects.stage_by_name(request.project_id, request.stage)
        return project, stage, self._settings.get_global()

    async def _check_rules(self, request: DeployRequest, project: Project, stage: Stage) -> None:
        """Tag pattern, confirmation and promotion, in that order."""
        if not tags.matches(stage.tag_pattern, request.tag):
            raise Refused(
                f"tag {request.tag!r} does not match stage {stage.name!r} ({stage.tag_pattern})"
            )
        if stage.confirm and (request.trigger in AUTOMATIC_TRIGGERS or not request.confirmed):
            raise Refused(f"stage {stage.name!r} deploys only after confirmation in the UI")
        if stage.promote_from:
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
        self, request: DeployRequest, project: Project, stage: Stage, settings: GlobalSettings
    ) -> ContainerConfig:
        """Env and mounts, checked before anything is pulled or created (ValidationFailed)."""
        assert project.id is not None
        roots = allowed_roots(settings, self._volume_defaults)
        data_dir = self._volume_defaults.parent
        named = allowed_named(settings)
        return container_config.build(
            self._projects, project.id, stage, request.tag, roots, data_dir, named
        )
