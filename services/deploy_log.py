"""Records one deploy's steps, timings and log lines, and announces them on the event bus."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Protocol

from app.models import DeployStatus, DeployStep, StepStatus
from services.events import Event, EventBus

log = logging.getLogger(__name__)


class StepFailed(Exception):
    """Wraps the error that failed a step, so the deploy knows which step it was."""

    def __init__(self, step: str, cause: BaseException) -> None:
        super().__init__(f"{step}: {cause}")
        self.step = step
        self.cause = cause


class _DeployStore(Protocol):
    def start_step(self, deploy_id: int, name: str) -> DeployStep: ...
    def end_step(self, step_id: int, status: StepStatus, started_at: datetime) -> DeployStep: ...
    def log(self, deploy_id: int, step: str, message: str, level: str = "info") -> object: ...


class DeployRecorder:
    """The deploy's live log: steps with timings, and lines a person can read."""

    def __init__(self, store: _DeployStore, bus: EventBus, deploy_id: int, project_id: int) -> None:
        self._store = store
        self._bus = bus
        self.deploy_id = deploy_id
        self._project_id = project_id
        self.current_step = "queued"

    @asynccontextmanager
    async def step(self, name: str) -> AsyncIterator[None]:
        """Time a step; an exception inside becomes StepFailed(name, cause)."""
        self.current_step = name
        row = await asyncio.to_thread(self._store.start_step, self.deploy_id, name)
        self._announce("deploy.step", step=name, status=StepStatus.RUNNING.value)
        try:
            yield
        except Exception as exc:
            await self._end(row, StepStatus.FAILED)
            raise exc if isinstance(exc, StepFailed) else StepFailed(name, exc) from exc
        await self._end(row, StepStatus.OK)

    async def _end(self, row: DeployStep, status: StepStatus) -> None:
        assert row.id is not None
        done = await asyncio.to_thread(self._store.end_step, row.id, status, row.started_at)
        self._announce("deploy.step", step=row.name, status=status.value, ms=done.duration_ms)

    async def log(self, message: str, level: str = "info") -> None:
        """Add a line to the deploy's log (and to the process log, with the deploy's context)."""
        log.log(logging.WARNING if level == "warning" else logging.INFO, message)
        await asyncio.to_thread(self._store.log, self.deploy_id, self.current_step, message, level)
        self._announce("deploy.log", step=self.current_step, message=message, level=level)

    def finished(self, status: DeployStatus, error: str | None = None) -> None:
        self._announce("deploy.finished", status=status.value, error=error)

    def _announce(self, kind: str, **data: object) -> None:
        self._bus.publish(Event(kind, self._project_id, self.deploy_id, data=dict(data)))
