"""The "pull" step: the deploy's image on the engine, and whether it already runs unchanged."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Protocol

from services.deploy.image_fetch import Fetched
from services.deploy.job import DeployJob
from services.errors import NotFound
from services.store.deploys import DeployStore
from services.store.instances import InstanceStore
from services.store.models import InstanceStatus, Project
from services.types import ImageInfo, PullProgress, PullUpdate

MAX_PULL_LINES = 30


@dataclass(frozen=True)
class Pulled:
    """The image the new container will run, the digest that names it and the reference to
    start it by (`repo@sha256:...`: pinned, whatever the tag points at meanwhile)."""

    image: ImageInfo
    digest: str
    ref: str


class ImageSource(Protocol):
    """What the pull step asks for its image (the ImageFetcher; tests wrap it)."""

    async def fetch(
        self, project: Project, tag: str, digest: str | None, progress: PullProgress
    ) -> Fetched: ...


class PullStep:
    """Gets the image onto the engine (see `ImageFetcher`) and records its digest."""

    def __init__(self, images: ImageSource, deploys: DeployStore, instances: InstanceStore) -> None:
        self._images = images
        self._deploys = deploys
        self._instances = instances

    async def run(self, job: DeployJob) -> Pulled:
        async with job.log.step("pull"):
            lines: list[str] = []
            fetched = await self._fetch(job, lines)
            how = "pulled {}" if fetched.pulled else "{} is present and current: not pulled"
            await job.log.log(how.format(fetched.ref))
            for line in lines[-MAX_PULL_LINES:]:
                await job.log.log(line)
            digest = fetched.image.digest or fetched.image.id
            assert job.deploy.id is not None
            if digest != job.digest:  # check recorded the digest it resolved
                await asyncio.to_thread(self._deploys.update, job.deploy.id, digest=digest)
            await job.log.log(f"image ready: {digest}")
        return Pulled(fetched.image, digest, fetched.ref)

    async def _fetch(self, job: DeployJob, lines: list[str]) -> Fetched:
        """The image; a rollback whose image is gone from both engine and registry says so."""
        try:
            return await self._images.fetch(
                job.project, job.request.tag, job.digest, progress_collector(lines)
            )
        except NotFound as exc:
            if job.request.rollback_of is None:
                raise
            raise NotFound(
                f"the rollback's image {job.digest} is no longer on the engine and the registry "
                f"no longer has it ({exc})"
            ) from exc

    async def already_runs(self, job: DeployJob, pulled: Pulled) -> bool:
        """True (and said in the log) when a healthy instance runs this tag, digest and config:
        the deploy then has nothing to do. Never for a rollback: an older instance of that tag
        may still run beside the current one (max_instances > 1), and the rollback must move the
        stage's domains back to it, so it deploys anew and replaces that instance."""
        if job.request.rollback_of is not None:
            return False
        current = await asyncio.to_thread(self._instances.all, stage_id=job.stage.id)
        same = [
            i
            for i in current
            if i.tag == job.request.tag
            and i.digest == pulled.digest
            and i.config_hash == job.config.fingerprint  # a changed env or volume redeploys
        ]
        if not any(i.status == InstanceStatus.HEALTHY for i in same):
            return False
        message = f"{job.request.tag} with this digest already runs; nothing to do"
        await job.log.log(message, step="pull")
        return True


def progress_collector(lines: list[str]) -> PullProgress:
    """Keep the pull's milestones (layer done, digest, status), not its byte counters."""

    def collect(update: PullUpdate) -> None:
        if update.current is None and str(update) not in lines[-1:]:
            lines.append(str(update))

    return collect
