"""Deploy history and logs: the list, one deploy with its steps, and a live follow of its log.

`follow` is what the REST API streams as server-sent events (and a page may use alike): the
lines stored so far, then each new one as the deployer announces it on the event bus, ending
when the deploy finishes. The bus only says "something happened"; lines are always read from the
database after the last one sent, so none is lost or sent twice however events interleave.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from services.events import Event, EventBus
from services.store.deploys import UNFINISHED, DeployStore
from services.store.models import Deploy, DeployLogLine, DeployStatus, DeployStep, StepStatus

MAX_LIMIT = 500


@dataclass(frozen=True)
class DeployDetail:
    deploy: Deploy
    steps: tuple[DeployStep, ...]


@dataclass(frozen=True)
class FollowItem:
    """One thing to tell a follower: a log line, a step change, the end, or "still here"."""

    kind: Literal["log", "step", "finished", "keepalive"]
    line: DeployLogLine | None = None
    step: DeployStep | None = None
    deploy: Deploy | None = None


class DeployQueries:
    def __init__(self, deploys: DeployStore, bus: EventBus) -> None:
        self._deploys = deploys
        self._bus = bus

    async def recent(self, project_id: int | None = None, limit: int = 50) -> list[Deploy]:
        """Newest first; `limit` is capped at MAX_LIMIT."""
        limit = max(1, min(limit, MAX_LIMIT))
        return await asyncio.to_thread(self._deploys.recent, project_id=project_id, limit=limit)

    async def get(self, deploy_id: int) -> DeployDetail:
        """A deploy and its steps with timings. NotFound for an unknown id."""
        return await asyncio.to_thread(self._detail, deploy_id)

    async def log_lines(self, deploy_id: int, after_id: int = 0) -> list[DeployLogLine]:
        """Lines after `after_id` (0: all), oldest first. NotFound for an unknown id."""
        await asyncio.to_thread(self._deploys.get, deploy_id)
        return await asyncio.to_thread(self._deploys.log_lines, deploy_id, after_id=after_id)

    async def follow(
        self, deploy_id: int, after_id: int = 0, keepalive: float = 15.0
    ) -> AsyncIterator[FollowItem]:
        """Lines after `after_id` and step changes as they happen, then one `finished` item.

        Raises NotFound before yielding anything. Between events, a `keepalive` item every
        `keepalive` seconds (the stream's proof of life), after which the deploy's state is read
        again, so a deploy finished without an event (a crash clean-up) still ends the stream.
        """
        await asyncio.to_thread(self._deploys.get, deploy_id)
        events: asyncio.Queue[Event] = asyncio.Queue()
        unsubscribe = self._bus.subscribe(_for_deploy(deploy_id, events))
        try:
            async for item in self._stream(deploy_id, after_id, events, keepalive):
                yield item
        finally:
            unsubscribe()

    async def _stream(
        self, deploy_id: int, after_id: int, events: asyncio.Queue[Event], keepalive: float
    ) -> AsyncIterator[FollowItem]:
        last = after_id
        while True:
            deploy = await asyncio.to_thread(self._deploys.get, deploy_id)  # before the lines
            for line in await asyncio.to_thread(self._deploys.log_lines, deploy_id, after_id=last):
                last = line.id or last
                yield FollowItem("log", line=line)
            if DeployStatus(deploy.status) not in UNFINISHED:
                yield FollowItem("finished", deploy=deploy)
                return
            event = await _next(events, keepalive)
            if event is None:
                yield FollowItem("keepalive")
            elif event.kind == "deploy.step":
                yield FollowItem("step", step=await self._step(deploy_id, event))

    async def _step(self, deploy_id: int, event: Event) -> DeployStep | None:
        """The step as the event tells it (its row may not be written yet), else as stored."""
        data = event.data
        if isinstance(data.get("started_at"), datetime):
            return DeployStep(
                deploy_id=deploy_id,
                name=str(data["step"]),
                status=StepStatus(data["status"]),
                started_at=data["started_at"],
                finished_at=data.get("finished_at"),
                duration_ms=data.get("ms"),
            )
        steps = await asyncio.to_thread(self._deploys.steps, deploy_id)
        named = [s for s in steps if s.name == data.get("step")]
        return named[-1] if named else None

    def _detail(self, deploy_id: int) -> DeployDetail:
        deploy = self._deploys.get(deploy_id)
        return DeployDetail(deploy, tuple(self._deploys.steps(deploy_id)))


def _for_deploy(deploy_id: int, queue: asyncio.Queue[Event]) -> Callable[[Event], None]:
    def take(event: Event) -> None:
        if event.deploy_id == deploy_id and event.kind.startswith("deploy."):
            queue.put_nowait(event)

    return take


async def _next(events: asyncio.Queue[Event], timeout: float) -> Event | None:
    with contextlib.suppress(TimeoutError):
        return await asyncio.wait_for(events.get(), timeout)
    return None
