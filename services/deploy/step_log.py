"""Records one deploy's steps, timings and log lines, and announces them on the event bus.

The bus hears of every step and line at once (the live log). The database rows are written in
order by one background drain, a batch per thread hop, so a deploy never waits for its own log:
about thirty small SQLite writes stay off its critical path. Timings are taken in memory when
the step starts and ends, not when the row is written. `flush` waits for the drain; the deployer
calls it before recording the outcome, so a finished deploy always has its whole log.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from datetime import datetime
from typing import Protocol

from services.events import Event, EventBus
from services.store.models import DeployStatus, DeployStep, StepStatus, utcnow

log = logging.getLogger(__name__)
# The step the running task is in: per task, as two steps may run side by side (pull and plan).
_STEP: ContextVar[str | None] = ContextVar("deploy_step", default=None)


class StepFailed(Exception):
    """Wraps the error that failed a step, so the deploy knows which step it was."""

    def __init__(self, step: str, cause: BaseException) -> None:
        super().__init__(f"{step}: {cause}")
        self.step = step
        self.cause = cause


class _DeployStore(Protocol):
    def start_step(
        self, deploy_id: int, name: str, started_at: datetime | None = None
    ) -> DeployStep: ...
    def end_step(
        self,
        step_id: int,
        status: StepStatus,
        started_at: datetime,
        finished_at: datetime | None = None,
    ) -> DeployStep: ...
    def log(
        self,
        deploy_id: int,
        step: str,
        message: str,
        level: str = "info",
        ts: datetime | None = None,
    ) -> object: ...


Write = Callable[[], object]


class _Journal:
    """Runs database writes in the order given, on a worker thread, without making callers wait."""

    def __init__(self) -> None:
        self._queue: list[Write] = []
        self._drain: asyncio.Task[None] | None = None

    def add(self, write: Write) -> None:
        self._queue.append(write)
        if self._drain is None or self._drain.done():
            self._drain = asyncio.get_running_loop().create_task(self._run())

    async def flush(self) -> None:
        while self._drain is not None and not self._drain.done():
            await asyncio.shield(self._drain)

    async def _run(self) -> None:
        while self._queue:
            batch, self._queue = self._queue, []
            await asyncio.to_thread(_write_all, batch)


def _write_all(batch: list[Write]) -> None:
    for write in batch:
        try:
            write()
        except Exception:  # a lost log row must not fail the deploy it describes
            log.exception("could not record a deploy step or log line")


class DeployRecorder:
    """The deploy's live log: steps with timings, and lines a person can read."""

    def __init__(self, store: _DeployStore, bus: EventBus, deploy_id: int, project_id: int) -> None:
        self._store = store
        self._bus = bus
        self.deploy_id = deploy_id
        self._project_id = project_id
        self._journal = _Journal()
        self._last_step = "queued"  # for lines logged between steps

    @property
    def current_step(self) -> str:
        return _STEP.get() or self._last_step

    @asynccontextmanager
    async def step(self, name: str) -> AsyncIterator[None]:
        """Time a step; an exception inside becomes StepFailed(name, cause)."""
        token = _STEP.set(name)
        self._last_step = name
        started = utcnow()
        row: list[DeployStep] = []  # filled by the journal before the step's end is written
        self._journal.add(lambda: row.append(self._store.start_step(self.deploy_id, name, started)))
        self._announce(
            "deploy.step", step=name, status=StepStatus.RUNNING.value, started_at=started
        )
        try:
            yield
        except asyncio.CancelledError:  # stopped at shutdown: the deployer undoes the rest
            self._end(name, row, started, StepStatus.FAILED)
            raise
        except Exception as exc:
            self._end(name, row, started, StepStatus.FAILED)
            raise exc if isinstance(exc, StepFailed) else StepFailed(name, exc) from exc
        finally:
            _STEP.reset(token)
        self._end(name, row, started, StepStatus.OK)

    def _end(self, name: str, row: list[DeployStep], started: datetime, status: StepStatus) -> None:
        finished = utcnow()

        def write() -> None:
            if row and row[0].id is not None:
                self._store.end_step(row[0].id, status, started, finished)

        self._journal.add(write)
        ms = int((finished - started).total_seconds() * 1000)
        self._announce(
            "deploy.step",
            step=name,
            status=status.value,
            ms=ms,
            started_at=started,
            finished_at=finished,
        )

    async def log(self, message: str, level: str = "info", *, step: str | None = None) -> None:
        """Add a line to the deploy's log (and to the process log, with the deploy's context).

        The line belongs to `step`, by default the step running. Returns at once; the row is
        written in the background (see the module doc).
        """
        log.log(logging.WARNING if level == "warning" else logging.INFO, message)
        step, at = step or self.current_step, utcnow()
        self._journal.add(lambda: self._store.log(self.deploy_id, step, message, level, at))
        self._announce("deploy.log", step=step, message=message, level=level)

    async def flush(self) -> None:
        """Wait until every step and line so far is in the database."""
        await self._journal.flush()

    def finished(self, status: DeployStatus, error: str | None = None) -> None:
        self._announce("deploy.finished", status=status.value, error=error)

    def _announce(self, kind: str, **data: object) -> None:
        self._bus.publish(Event(kind, self._project_id, self.deploy_id, data=dict(data)))
