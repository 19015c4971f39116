"""Rollback a person asks for: the stage's previous successful deploy, run again.

The target is the newest successful deploy of the stage, before the current one (the newest),
that ran another digest or another config, and that has a config snapshot. It goes through the
normal deploy path as a new deploy record (trigger "rollback", `rollback_of` naming the target):
the check step reads the target's digest and snapshot, so the old image runs with the env,
mounts, port and health settings it ran with, whatever the project's config says today.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from services.audit.log import Actor
from services.deploy import snapshot
from services.deploy.deployer import Deployer, DeployRequest
from services.errors import Conflict
from services.store.deploys import DeployStore
from services.store.models import Deploy, DeployTrigger, Project
from services.store.projects import ProjectStore


class ImagePresence(Protocol):
    """Whether the engine still holds a digest's image (the ImageFetcher)."""

    async def present(self, project: Project, digest: str) -> bool: ...


@dataclass(frozen=True)
class RollbackTarget:
    """Where "Roll back" would go: the deploy, and whether its image is still on the engine
    (when not, the rollback pulls it by digest from the registry)."""

    deploy: Deploy
    image_present: bool


def pick_target(succeeded: Sequence[Deploy]) -> Deploy | None:
    """The rollback target among a stage's successful deploys, newest first (None: none)."""
    if not succeeded:
        return None
    current = succeeded[0]
    for deploy in succeeded[1:]:
        runnable = bool(deploy.digest) and snapshot.usable(deploy.config_snapshot)
        same = (deploy.digest, deploy.config_snapshot) == (
            current.digest,
            current.config_snapshot,
        )
        if runnable and not same:
            return deploy
    return None


class Rollbacks:
    def __init__(
        self,
        projects: ProjectStore,
        deploys: DeployStore,
        deployer: Deployer,
        images: ImagePresence,
    ) -> None:
        self._projects = projects
        self._deploys = deploys
        self._deployer = deployer
        self._images = images

    async def target(self, project_id: int, stage: str) -> RollbackTarget | None:
        """The stage's rollback target, or None when there is nothing to roll back to.
        NotFound for an unknown project or stage."""
        project, deploy = await asyncio.to_thread(self._find, project_id, stage)
        if deploy is None:
            return None
        return RollbackTarget(deploy, await self._images.present(project, deploy.digest))

    async def roll_back(self, project_id: int, stage: str, *, actor: Actor) -> Deploy:
        """Queue the rollback (it runs in the background); returns the new deploy record.
        Conflict when the stage has no previous successful deploy; NotFound as `target`."""
        _, deploy = await asyncio.to_thread(self._find, project_id, stage)
        if deploy is None or deploy.id is None:
            raise Conflict(f"stage {stage!r} has no previous successful deploy to roll back to")
        request = DeployRequest(
            project_id,
            stage,
            deploy.tag,
            trigger=DeployTrigger.ROLLBACK,
            confirmed=True,  # a person asked for it, after a confirmation
            rollback_of=deploy.id,
            actor=actor,
        )
        return await self._deployer.submit(request)

    def _find(self, project_id: int, stage: str) -> tuple[Project, Deploy | None]:
        project = self._projects.get(project_id)
        self._projects.stage_by_name(project_id, stage)  # NotFound for an unknown stage
        return project, pick_target(self._deploys.succeeded(project_id, stage))
