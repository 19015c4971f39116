"""The live board: deploy progress from bus events, cards re-read once per burst, watchers."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from services.events import Event, EventBus
from services.views.live_board import KEEP_DEPLOYS, Change, Coalescer, LiveBoard
from services.views.models import Light, ProjectCard


def card(project_id: int, healthy: int = 0, name: str = "web") -> ProjectCard:
    lights = {light: 0 for light in Light} | {Light.HEALTHY: healthy}
    return ProjectCard(project_id, name, "registry/web", ("dev",), lights, healthy, None, 0)


class FakeOverview:
    """Cards by id; each read waits for `gate` so a test can hold a reload in flight."""

    def __init__(self) -> None:
        self.cards_by_id: dict[int, ProjectCard] = {}
        self.reads = 0
        self.gate = asyncio.Event()
        self.gate.set()

    async def cards(self) -> list[ProjectCard]:
        return list(self.cards_by_id.values())

    async def card(self, project_id: int) -> ProjectCard | None:
        self.reads += 1
        await self.gate.wait()
        return self.cards_by_id.get(project_id)


@pytest.fixture
def bus() -> EventBus:
    return EventBus()


@pytest.fixture
def overview() -> FakeOverview:
    return FakeOverview()


@pytest.fixture
def board(bus: EventBus, overview: FakeOverview) -> LiveBoard:
    return LiveBoard(bus, overview)  # type: ignore[arg-type]


def deploy_event(kind: str, deploy_id: int = 7, **data: object) -> Event:
    return Event(kind, 1, deploy_id, data=dict(data))


async def test_a_deploy_is_followed_step_by_step(bus: EventBus, board: LiveBoard) -> None:
    bus.publish(deploy_event("deploy.queued"))
    bus.publish(deploy_event("deploy.step", step="pull", status="running"))
    bus.publish(deploy_event("deploy.log", step="pull", message="pulling web:dev-1"))
    bus.publish(deploy_event("deploy.step", step="pull", status="ok", ms=120))
    bus.publish(deploy_event("deploy.step", step="health", status="running"))

    progress = board.progress(7)
    assert progress is not None and progress.status == "running"
    assert [(s.name, s.status, s.duration_ms) for s in progress.steps] == [
        ("pull", "ok", 120),
        ("health", "running", None),
    ]
    assert [line.message for line in progress.lines_after(0)] == ["pulling web:dev-1"]

    bus.publish(deploy_event("deploy.finished", status="failed", error="health check failed"))
    assert (progress.status, progress.error, progress.finished) == (
        "failed",
        "health check failed",
        True,
    )


async def test_lines_after_gives_only_what_a_view_has_not_shown(
    bus: EventBus, board: LiveBoard
) -> None:
    for number in range(3):
        bus.publish(deploy_event("deploy.log", step="pull", message=f"line {number}"))
    progress = board.progress(7)
    assert progress is not None
    assert [line.message for line in progress.lines_after(2)] == ["line 2"]
    assert progress.lines_after(3) == []


async def test_an_instance_change_rereads_its_card_and_tells_watchers(
    bus: EventBus, board: LiveBoard, overview: FakeOverview
) -> None:
    overview.cards_by_id[1] = card(1)
    await board.load_cards()
    told: list[Change] = []
    board.watch(told.append)

    overview.cards_by_id[1] = card(1, healthy=1)
    bus.publish(Event("instance.changed", 1, instance_id=3, data={"status": "healthy"}))
    assert told == [Change("instance", 1, None, 3)]  # at once, before any read
    await board.settled()

    assert told[-1] == Change("card", 1)
    found = board.card(1)
    assert found is not None and found.lights[Light.HEALTHY] == 1


async def test_a_burst_of_events_costs_at_most_two_reads(
    bus: EventBus, board: LiveBoard, overview: FakeOverview
) -> None:
    overview.cards_by_id[1] = card(1)
    overview.gate.clear()  # hold the first read
    bus.publish(Event("instance.changed", 1, instance_id=3))
    await asyncio.sleep(0)  # the read starts and waits
    for _ in range(10):
        bus.publish(Event("instance.changed", 1, instance_id=3))
    overview.gate.set()
    await board.settled()
    assert overview.reads == 2  # the one in flight, then one for all that came meanwhile


async def test_a_deleted_project_leaves_the_board(
    bus: EventBus, board: LiveBoard, overview: FakeOverview
) -> None:
    overview.cards_by_id[1] = card(1)
    await board.load_cards()
    del overview.cards_by_id[1]
    bus.publish(Event("instance.removed", 1, instance_id=3))
    await board.settled()
    assert board.card(1) is None and board.cards() == []


async def test_a_broken_watcher_never_stops_the_others(bus: EventBus, board: LiveBoard) -> None:
    def broken(_: Change) -> None:
        raise RuntimeError("page gone wrong")

    told: list[Change] = []
    board.watch(broken)
    stop = board.watch(told.append)
    bus.publish(Event("tag.waiting", 1, data={"tag": "v1"}))
    assert told == [Change("tag", 1)]
    stop()
    bus.publish(Event("tag.waiting", 1, data={"tag": "v2"}))
    assert len(told) == 1
    await board.settled()


async def test_only_the_newest_finished_deploys_are_kept(bus: EventBus, board: LiveBoard) -> None:
    for deploy_id in range(1, KEEP_DEPLOYS + 6):
        bus.publish(deploy_event("deploy.queued", deploy_id))
        bus.publish(deploy_event("deploy.finished", deploy_id, status="succeeded"))
    bus.publish(deploy_event("deploy.queued", 999))  # the next deploy makes room
    assert board.progress(1) is None
    assert board.progress(KEEP_DEPLOYS + 5) is not None
    assert board.progress(999) is not None
    await board.settled()


async def test_the_coalescer_logs_a_failed_run_and_keeps_going(
    caplog: pytest.LogCaptureFixture,
) -> None:
    runs: list[datetime] = []

    async def job() -> None:
        runs.append(datetime.now(UTC))
        if len(runs) == 1:
            raise RuntimeError("database locked")

    coalescer = Coalescer(job)
    coalescer.poke()
    await coalescer.wait()
    coalescer.poke()
    await coalescer.wait()
    assert len(runs) == 2
    assert "live refresh failed" in caplog.text
