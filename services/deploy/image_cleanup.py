"""Image clean-up after a deploy: the project's images nothing needs any more are removed.

Kept: every image an instance of the project runs, the last `rollback_keep` successful digests
of each stage (what a rollback may need), and the digests of the project's deploys still queued
or running (a deploy of another stage may have pulled an image it has not started yet). Only
images of the project's repository are looked at, and removal is never forced: an image still
used by a container, or referenced by another repository, stays; such errors are logged and
ignored, the deploy has succeeded either way.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from services.docker_engine import DockerEngine
from services.errors import WatcherError
from services.store.deploys import DeployStore
from services.store.instances import InstanceStore
from services.store.models import Deploy, Project
from services.store.projects import ProjectStore
from services.store.settings_store import SettingsStore
from services.types import ImageInfo

log = logging.getLogger(__name__)


def kept_digests(succeeded: Sequence[Deploy], keep: int) -> list[str]:
    """The last `keep` distinct digests of a stage's successful deploys (newest first)."""
    digests: list[str] = []
    for deploy in succeeded:
        if deploy.digest and deploy.digest not in digests:
            digests.append(deploy.digest)
    return digests[:keep]


class ImageCleanup:
    def __init__(
        self,
        engine: DockerEngine,
        projects: ProjectStore,
        instances: InstanceStore,
        deploys: DeployStore,
        settings: SettingsStore,
    ) -> None:
        self._engine = engine
        self._projects = projects
        self._instances = instances
        self._deploys = deploys
        self._settings = settings

    async def run(self, project: Project) -> list[str]:
        """Remove the project's images nothing keeps; returns the ids removed."""
        try:
            images = await self._engine.list_images(project.image)
        except WatcherError as exc:
            log.warning("image clean-up of %s skipped: %s", project.image, exc)
            return []
        keep = await asyncio.to_thread(self._kept, project)
        removed: list[str] = []
        for image in images:
            if _digests(image, project.image) & keep or not _digests(image, project.image):
                continue  # needed, or never came from the registry (not ours to judge)
            try:
                await self._engine.remove_image(image.id)
            except WatcherError as exc:  # in use, referenced elsewhere, already gone
                log.info("image %s kept: %s", image.id, exc)
                continue
            removed.append(image.id)
        if removed:
            log.info("removed %d unused image(s) of %s", len(removed), project.image)
        return removed

    def _kept(self, project: Project) -> set[str]:
        """Digests that must stay: running instances, rollback candidates, deploys under way."""
        assert project.id is not None
        keep_count = self._settings.get_global().rollback_keep
        keep = {i.digest for i in self._instances.all(project_id=project.id) if i.digest}
        for stage in self._projects.stages(project.id):
            succeeded = self._deploys.succeeded(project.id, stage.name)
            keep.update(kept_digests(succeeded, keep_count))
        keep.update(
            d.digest for d in self._deploys.unfinished() if d.project_id == project.id and d.digest
        )
        return keep


def _digests(image: ImageInfo, repository: str) -> set[str]:
    """The image's manifest digests in `repository`."""
    prefix = repository + "@"
    return {ref.removeprefix(prefix) for ref in image.repo_digests if ref.startswith(prefix)}
