"""What the poller knows about each registry and project, for the UI and for its own schedule."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from services.detect.decisions import Outcome
from services.errors import RateLimited
from services.store.models import utcnow


@dataclass(frozen=True)
class PollerOptions:
    """Tuning knobs; the defaults suit a home server polling every few minutes.

    `recheck_every`: cycles between digest checks of one running auto-deployed tag per project
    (see the trade-off in `services.detect.poller`).
    `new_per_cycle`: new tags routed per project and
    cycle (the newest; older ones of the same burst are recorded as superseded).
    """

    per_registry: int = 4  # requests in flight to one registry
    new_per_cycle: int = 3
    recheck_every: int = 3
    backoff_max: float = 3600.0
    min_interval: float = 1.0
    idle_wake: float = 5.0  # longest sleep, so new projects and setting changes are noticed
    stop_grace: float = 10.0  # how long a running poll may finish at shutdown


@dataclass
class SourceStatus:
    """One registry (or anonymously read image host): its health and schedule."""

    key: str
    label: str
    projects: int = 0
    failures: int = 0
    last_ok: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None
    next_at: datetime | None = None
    due: float = 0.0  # monotonic clock; the poller's own schedule

    @property
    def ok(self) -> bool:
        return self.failures == 0

    def succeeded(self, now: float, interval: float) -> None:
        self.failures, self.last_ok = 0, utcnow()
        self._schedule(now, interval)

    def failed(self, error: Exception, now: float, interval: float, cap: float) -> float:
        """Back off exponentially (at least a 429's Retry-After); returns the delay chosen."""
        self.failures += 1
        self.last_error, self.last_error_at = str(error), utcnow()
        delay = min(cap, interval * 2.0 ** (self.failures - 1))
        if isinstance(error, RateLimited) and error.retry_after:
            delay = max(delay, min(error.retry_after, cap))
        self._schedule(now, delay)
        return delay

    def _schedule(self, now: float, delay: float) -> None:
        self.due = now + delay
        self.next_at = utcnow() + timedelta(seconds=delay)


@dataclass
class ProjectStatus:
    project_id: int
    name: str
    source: str = ""
    tags: int = 0
    last_ok: datetime | None = None
    last_error: str | None = None
    cycles: int = 0
    recheck_turn: int = 0


@dataclass(frozen=True)
class PollerStatus:
    """A snapshot for the UI: per registry and per project, last success and last error."""

    sources: tuple[SourceStatus, ...]
    projects: tuple[ProjectStatus, ...]


@dataclass
class CycleReport:
    """What one poll of one or more registries did (tests and the benchmark read it)."""

    projects: int = 0
    requests: int = 0
    outcomes: list[Outcome] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)  # source label → error

    def add(self, other: CycleReport) -> CycleReport:
        self.projects += other.projects
        self.requests += other.requests
        self.outcomes.extend(other.outcomes)
        self.errors.update(other.errors)
        return self


def snapshot(sources: dict[str, SourceStatus], projects: dict[int, ProjectStatus]) -> PollerStatus:
    return PollerStatus(
        tuple(replace(s) for s in sources.values()), tuple(replace(p) for p in projects.values())
    )
