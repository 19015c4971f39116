"""DeployQueries.follow: stored lines, then live ones as the bus announces them, then the end.

Driven step by step with `anext`, so every assertion is about order, never about timing.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from services.errors import NotFound
from services.events import Event, EventBus
from services.store.models import Deploy, DeployStatus, StepStatus, utcnow
from services.views.deploy_history import DeployQueries
from tests.support.admin_fakes import Stores, stores


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Stores]:
    with stores(tmp_path) as built:
        yield built


@pytest.fixture
def bus() -> EventBus:
    return EventBus()


@pytest.fixture
def queries(db: Stores, bus: EventBus) -> DeployQueries:
    return DeployQueries(db.deploys, bus)


@pytest.fixture
def running(db: Stores) -> Deploy:
    project = db.project("web")
    deploy = db.deploy(project, "dev", DeployStatus.RUNNING)
    assert deploy.id is not None
    db.deploys.log(deploy.id, "check", "env: none")
    db.deploys.log(deploy.id, "pull", "pulling web:v1")
    return deploy


def announce(bus: EventBus, deploy: Deploy, kind: str, **data: object) -> None:
    bus.publish(Event(kind, deploy.project_id, deploy.id, data=dict(data)))


async def test_follow_sends_stored_then_live_lines_and_ends_when_finished(
    db: Stores, bus: EventBus, queries: DeployQueries, running: Deploy
) -> None:
    assert running.id is not None
    stream = queries.follow(running.id)
    first, second = await anext(stream), await anext(stream)
    assert [first.line and first.line.message, second.line and second.line.message] == [
        "env: none",
        "pulling web:v1",
    ]

    db.deploys.log(running.id, "pull", "image ready")
    announce(bus, running, "deploy.log", message="image ready")
    assert (line := (await anext(stream)).line) is not None and line.message == "image ready"

    db.deploys.start_step(running.id, "start")
    announce(bus, running, "deploy.step", step="start", status="running")
    assert (step := (await anext(stream)).step) is not None and step.name == "start"

    db.deploys.update(running.id, status=DeployStatus.SUCCEEDED, finished_at=utcnow())
    announce(bus, running, "deploy.finished", status="succeeded")
    end = await anext(stream)
    assert end.kind == "finished" and end.deploy is not None
    assert end.deploy.status == DeployStatus.SUCCEEDED
    with pytest.raises(StopAsyncIteration):
        await anext(stream)
    assert bus._subscribers == []  # the stream let go of the bus


async def test_a_step_event_is_told_as_announced_before_its_row_is_written(
    bus: EventBus, queries: DeployQueries, running: Deploy
) -> None:
    assert running.id is not None
    stream = queries.follow(running.id)
    assert [(await anext(stream)).kind for _ in range(2)] == ["log", "log"]
    started = utcnow()
    finished = started + timedelta(milliseconds=42)
    announce(bus, running, "deploy.step", step="health", status="ok", ms=42,
             started_at=started, finished_at=finished)  # fmt: skip
    step = (await anext(stream)).step
    assert step is not None  # no row was stored: the event itself says it all
    assert (step.name, step.status, step.duration_ms) == ("health", StepStatus.OK, 42)
    assert (step.started_at, step.finished_at) == (started, finished)
    await stream.aclose()


async def test_follow_resumes_after_a_line_and_ends_at_once_when_done(
    db: Stores, queries: DeployQueries, running: Deploy
) -> None:
    assert running.id is not None
    first_id = db.deploys.log_lines(running.id)[0].id or 0
    db.deploys.update(running.id, status=DeployStatus.FAILED, finished_at=utcnow())

    items = [item async for item in queries.follow(running.id, after_id=first_id)]

    assert [i.kind for i in items] == ["log", "finished"]
    assert items[0].line is not None and items[0].line.message == "pulling web:v1"


async def test_a_deploy_finished_without_an_event_still_ends_the_stream(
    db: Stores, queries: DeployQueries, running: Deploy
) -> None:
    assert running.id is not None
    stream = queries.follow(running.id, keepalive=0.01)
    assert [(await anext(stream)).kind for _ in range(2)] == ["log", "log"]
    assert (await anext(stream)).kind == "keepalive"  # nothing happened: a sign of life

    db.deploys.update(  # e.g. crash clean-up
        running.id, status=DeployStatus.FAILED, error="interrupted", finished_at=utcnow()
    )
    assert (await anext(stream)).kind == "finished"  # read again after the keepalive


async def test_events_of_other_deploys_are_ignored(
    db: Stores, bus: EventBus, queries: DeployQueries, running: Deploy
) -> None:
    assert running.id is not None
    other = db.deploy(db.project("shop"), "dev", DeployStatus.RUNNING)
    stream = queries.follow(running.id, keepalive=0.01)
    await anext(stream), await anext(stream)

    announce(bus, other, "deploy.step", step="pull")
    assert (await anext(stream)).kind == "keepalive"
    await stream.aclose()


async def test_unknown_deploy_is_not_found_before_anything_is_sent(
    queries: DeployQueries,
) -> None:
    with pytest.raises(NotFound):
        await anext(queries.follow(404))
    with pytest.raises(NotFound):
        await queries.get(404)
    with pytest.raises(NotFound):
        await queries.log_lines(404)


async def test_recent_is_newest_first_and_capped(db: Stores, queries: DeployQueries) -> None:
    web, shop = db.project("web"), db.project("shop")
    made = [db.deploy(web, "dev", DeployStatus.SUCCEEDED) for _ in range(3)]
    db.deploy(shop, "dev", DeployStatus.FAILED)

    assert [d.id for d in await queries.recent(web.id, limit=2)] == [made[2].id, made[1].id]
    assert len(await queries.recent(limit=10_000)) == 4
    detail = await queries.get(made[0].id or 0)
    assert detail.deploy.id == made[0].id and detail.steps == ()
