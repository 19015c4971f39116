"""Getting a deploy's image onto the engine, pinned to the digest the "check" step resolved.

A tag can move in the registry at any moment, so the deploy names the image by its manifest
digest (the registry's content address, `repo@sha256:...`, not the local image id) from the
check on: it is pulled by that digest and the container is started from it. A local copy that
already carries that repo digest is byte for byte what a pull would give, so it is used as is
(no `docker pull`: on Docker Hub even a pull of a present image counts against the rate limit).

When the registry could not say the digest at check time (unreachable, refusing), the tag is
pulled as before and the pull's own error explains why; a successful pull pins the digest it got.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

from services.docker_engine import DockerEngine
from services.errors import WatcherError
from services.registry.pool import RegistryPool
from services.store.models import Project
from services.types import ImageInfo, PullProgress

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Fetched:
    image: ImageInfo
    pulled: bool  # False: the local copy already had the registry's digest
    ref: str  # what to start: `repo@sha256:...` once the digest is known, else `repo:tag`


def pinned_ref(image: str, digest: str) -> str:
    """`image@digest`, the reference that cannot move."""
    return f"{image}@{digest}"


class ImageFetcher:
    """Resolves a tag's digest and ensures that exact image is present on the engine."""

    def __init__(self, engine: DockerEngine, registries: RegistryPool) -> None:
        self._engine = engine
        self._registries = registries

    async def resolve(self, project: Project, tag: str) -> str | None:
        """The tag's manifest digest in the project's registry; None when it cannot say (the
        pull then reports the reason: auth, unknown tag, unreachable)."""
        try:
            _, client = await self._registries.client_for(project)
            return await client.manifest_digest(project.image, tag)
        except WatcherError as exc:
            log.debug("registry digest of %s:%s unknown: %s", project.image, tag, exc)
            return None

    async def fetch(
        self, project: Project, tag: str, digest: str | None, progress: PullProgress
    ) -> Fetched:
        """The image of `project` at `digest` (or at `tag` when no digest is known).

        Raises what `DockerEngine.pull` raises (InvalidAuth, NotFound, CannotConnect, ...), and
        ValidationFailed when the project's image name cannot be read.
        """
        if digest is None:
            auth = await self._pull_auth(project)
            image = await self._engine.pull(f"{project.image}:{tag}", auth=auth, progress=progress)
            ref = pinned_ref(project.image, image.digest) if image.digest else image.id
            return Fetched(image, pulled=True, ref=ref)
        ref = pinned_ref(project.image, digest)
        local = await self._local(ref)
        if local is not None:  # no registry needed at all
            return Fetched(_with_digest(local, digest), pulled=False, ref=ref)
        auth = await self._pull_auth(project)
        image = await self._engine.pull(ref, auth=auth, progress=progress)
        return Fetched(_with_digest(image, digest), pulled=True, ref=ref)

    async def _pull_auth(self, project: Project) -> tuple[str, str] | None:
        source, _ = await self._registries.client_for(project)
        return source.pull_auth

    async def present(self, project: Project, digest: str) -> bool:
        """Whether the engine still holds the image of `digest` (a rollback's target)."""
        return await self._local(pinned_ref(project.image, digest)) is not None

    async def _local(self, ref: str) -> ImageInfo | None:
        try:
            return await self._engine.inspect_image(ref)
        except WatcherError:  # absent (NotFound) or the engine failed: the pull says which
            return None


def _with_digest(image: ImageInfo, digest: str) -> ImageInfo:
    """The image as named by `digest` (an image can carry several repo digests)."""
    return image if image.digest == digest else replace(image, digest=digest)
