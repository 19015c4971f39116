"""The live status board: one bus subscriber for the whole process, read by every open page.

It keeps the dashboard's project cards and the progress of recent deploys (steps with timings,
the log lines) in memory, and tells its watchers what changed. Pages render from it and refresh
their own elements when told, so ten open tabs cost one database read per change, and no tab
ever polls Docker: statuses arrive from the deployer, the instance controls and the reconciler
(which follows the Engine's event stream).

Watchers are called on the event loop, synchronously; one that raises is logged and skipped.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime

from services.events import Event, EventBus
from services.store.models import utcnow
from services.views.models import LogLine, ProjectCard, StepView
from services.views.overview import Overview

log = logging.getLogger(__name__)
TAIL = 1000  # log lines kept per deploy
KEEP_DEPLOYS = 50  # finished deploys whose progress stays in memory
CARD_EVENTS = ("instance.", "deploy.queued", "deploy.finished", "tag.")
KINDS = {
    "deploy.queued": "deploy",
    "deploy.finished": "deploy",
    "deploy.step": "step",
    "deploy.log": "log",
    "instance.changed": "instance",
    "instance.removed": "instance",
    "tag.waiting": "tag",
}


@dataclass(frozen=True)
class Change:
    """What a watcher is told. `kind`: card, instance, deploy, step, log or tag."""

    kind: str
    project_id: int | None
    deploy_id: int | None = None
    instance_id: int | None = None


Watcher = Callable[[Change], None]


@dataclass
class DeployProgress:
    """A deploy as it happens, built from the bus (complete for every deploy since start-up)."""

    deploy_id: int
    project_id: int | None
    status: str = "queued"
    error: str | None = None
    steps: list[StepView] = field(default_factory=list)
    lines: deque[LogLine] = field(default_factory=lambda: deque(maxlen=TAIL))
    line_count: int = 0  # lines ever added (the deque drops old ones); views track what they show

    @property
    def finished(self) -> bool:
        return self.status not in ("queued", "running")

    def step_event(self, data: dict[str, object]) -> None:
        name, status = str(data.get("step")), str(data.get("status"))
        ms = data.get("ms")
        view = StepView(name, status, ms if isinstance(ms, int) else None)
        self.status = "running"
        for index, step in enumerate(self.steps):
            if step.name == name and step.status == "running":
                self.steps[index] = view
                return
        self.steps.append(view)

    def log_event(self, data: dict[str, object], at: datetime) -> None:
        step, level = str(data.get("step")), str(data.get("level", "info"))
        self.lines.append(LogLine(step, level, str(data.get("message", "")), at))
        self.line_count += 1

    def lines_after(self, shown: int) -> list[LogLine]:
        """The lines added since a view showed `shown` of them (at most the kept tail)."""
        new = min(self.line_count - shown, len(self.lines))
        return list(self.lines)[len(self.lines) - new :] if new > 0 else []


class Coalescer:
    """Runs `job` after `poke()`, never twice at once; pokes during a run cause one more run.

    The newest state always wins, and a burst of events costs at most two reads.
    """

    def __init__(self, job: Callable[[], Awaitable[None]]) -> None:
        self._job = job
        self._task: asyncio.Task[None] | None = None
        self._again = False

    def poke(self) -> None:
        if self._task is not None and not self._task.done():
            self._again = True
            return
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        self._again = True
        while self._again:
            self._again = False
            try:
                await self._job()
            except Exception:  # a failed read must not stop the next one
                log.exception("live refresh failed")

    async def wait(self) -> None:
        """Until the current run (if any) has finished (tests, shutdown)."""
        if self._task is not None:
            await asyncio.shield(self._task)


class LiveBoard:
    """Cards and deploy progress in memory, kept current from the event bus."""

    def __init__(self, bus: EventBus, overview: Overview) -> None:
        self._overview = overview
        self._cards: dict[int, ProjectCard] = {}
        self._deploys: OrderedDict[int, DeployProgress] = OrderedDict()
        self._watchers: list[Watcher] = []
        self._reloads: dict[int, Coalescer] = {}
        self._unsubscribe = bus.subscribe(self._on_event)

    # reading -------------------------------------------------------------------------------
    async def load_cards(self) -> list[ProjectCard]:
        """Read every card again (projects may have been added or deleted) and return them."""
        cards = await self._overview.cards()
        self._cards = {c.id: c for c in cards}
        return cards

    def cards(self) -> list[ProjectCard]:
        return sorted(self._cards.values(), key=lambda c: c.name)

    def card(self, project_id: int) -> ProjectCard | None:
        return self._cards.get(project_id)

    def progress(self, deploy_id: int) -> DeployProgress | None:
        return self._deploys.get(deploy_id)

    # watching ------------------------------------------------------------------------------
    def watch(self, watcher: Watcher) -> Callable[[], None]:
        """Call `watcher` on every change; returns the function that stops it."""
        self._watchers.append(watcher)
        return lambda: self._watchers.remove(watcher) if watcher in self._watchers else None

    def close(self) -> None:
        self._unsubscribe()
        self._watchers.clear()

    async def settled(self) -> None:
        """Until pending card reloads are done (tests and benchmarks)."""
        for reload in list(self._reloads.values()):
            await reload.wait()

    # the bus -------------------------------------------------------------------------------
    def _on_event(self, event: Event) -> None:
        if event.kind.startswith("deploy.") and event.deploy_id is not None:
            self._track_deploy(event)
        if event.project_id is not None and event.kind.startswith(CARD_EVENTS):
            self._reload(event.project_id).poke()
        kind = KINDS.get(event.kind, event.kind)
        self._tell(Change(kind, event.project_id, event.deploy_id, event.instance_id))

    def _track_deploy(self, event: Event) -> None:
        assert event.deploy_id is not None
        progress = self._deploys.get(event.deploy_id)
        if progress is None:
            progress = DeployProgress(event.deploy_id, event.project_id)
            self._deploys[event.deploy_id] = progress
            self._forget_old()
        if event.kind == "deploy.step":
            progress.step_event(event.data)
        elif event.kind == "deploy.log":
            progress.log_event(event.data, utcnow())
        elif event.kind == "deploy.finished":
            progress.status = str(event.data.get("status", "failed"))
            error = event.data.get("error")
            progress.error = str(error) if error else None

    def _forget_old(self) -> None:
        finished = [d.deploy_id for d in self._deploys.values() if d.finished]
        for deploy_id in finished[: max(0, len(finished) - KEEP_DEPLOYS)]:
            del self._deploys[deploy_id]

    def _reload(self, project_id: int) -> Coalescer:
        if project_id not in self._reloads:

            async def reload() -> None:
                card = await self._overview.card(project_id)
                if card is None:
                    self._cards.pop(project_id, None)
                else:
                    self._cards[project_id] = card
                self._tell(Change("card", project_id))

            self._reloads[project_id] = Coalescer(reload)
        return self._reloads[project_id]

    def _tell(self, change: Change) -> None:
        for watcher in list(self._watchers):
            try:
                watcher(change)
            except Exception:  # one broken page never stops the others
                log.exception("live watcher failed on %s", change.kind)
