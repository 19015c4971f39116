"""Getting a deploy's image onto the engine: keep the local copy when it is current, else pull.

`docker pull` of an image that is already present still logs in to the registry and fetches the
manifest (Docker Hub counts that GET against its pull limit). The registry client answers the
same question with one HEAD (not counted, token cached): when the tag's manifest digest equals
the digest the local `repo:tag` was pulled as, the local image is byte for byte what a pull would
give, so it is used as is. Any doubt (no local copy, a locally built image without a digest, the
registry unreachable or refusing) falls back to the real pull, which reports its own errors.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from services.docker_engine import DockerEngine
from services.errors import WatcherError
from services.registry.pool import RegistryPool, Source
from services.store.models import Project
from services.types import ImageInfo, PullProgress

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Fetched:
    image: ImageInfo
    pulled: bool  # False: the local copy already had the registry's digest


class ImageFetcher:
    """Ensures `project.image:tag` is present and current on the engine."""

    def __init__(self, engine: DockerEngine, registries: RegistryPool) -> None:
        self._engine = engine
        self._registries = registries

    async def fetch(self, project: Project, tag: str, progress: PullProgress) -> Fetched:
        """The image of `project` at `tag`, pulled only when the local copy is missing or stale.

        Raises what `DockerEngine.pull` raises (InvalidAuth, NotFound, CannotConnect, ...), and
        ValidationFailed when the project's image name cannot be read.
        """
        ref = f"{project.image}:{tag}"
        local, (source, remote) = await asyncio.gather(self._local(ref), self._remote(project, tag))
        if local is not None and local.digest is not None and local.digest == remote:
            return Fetched(local, pulled=False)
        image = await self._engine.pull(ref, auth=source.pull_auth, progress=progress)
        return Fetched(image, pulled=True)

    async def _local(self, ref: str) -> ImageInfo | None:
        try:
            return await self._engine.inspect_image(ref)
        except WatcherError:  # absent (NotFound) or the engine failed: the pull says which
            return None

    async def _remote(self, project: Project, tag: str) -> tuple[Source, str | None]:
        """The project's registry, and the tag's digest there (None when it cannot say)."""
        source, client = await self._registries.client_for(project)
        try:
            return source, await client.manifest_digest(project.image, tag)
        except WatcherError as exc:  # the pull reports it properly (auth, unknown tag, ...)
            log.debug(
                "registry digest of %s:%s unknown before pulling: %s", project.image, tag, exc
            )
            return source, None
