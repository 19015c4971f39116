"""The deploy recorder: rows written in order in the background, timings taken in memory."""

from __future__ import annotations

import asyncio
import threading
from datetime import datetime

import pytest

from services.deploy.step_log import DeployRecorder, StepFailed
from services.events import Event, EventBus
from services.store.models import DeployStep, StepStatus


class SlowStore:
    """Records every write; each write waits until the test opens the gate."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, ...]] = []
        self.gate = threading.Event()
        self.gate.set()
        self.fail_logs = False
        self._next_id = 0

    def start_step(
        self, deploy_id: int, name: str, started_at: datetime | None = None
    ) -> DeployStep:
        self.gate.wait(5)
        self._next_id += 1
        self.rows.append(("start", name))
        return DeployStep(id=self._next_id, deploy_id=deploy_id, name=name, started_at=started_at)

    def end_step(
        self,
        step_id: int,
        status: StepStatus,
        started_at: datetime,
        finished_at: datetime | None = None,
    ) -> DeployStep:
        self.gate.wait(5)
        assert finished_at is not None and finished_at >= started_at
        self.rows.append(("end", str(step_id), status.value))
        return DeployStep(id=step_id, deploy_id=1, name="x")

    def log(
        self,
        deploy_id: int,
        step: str,
        message: str,
        level: str = "info",
        ts: datetime | None = None,
    ) -> object:
        self.gate.wait(5)
        if self.fail_logs:
            raise RuntimeError("database is locked")
        self.rows.append(("log", step, message))
        return None


def recorder(store: SlowStore) -> tuple[DeployRecorder, list[Event]]:
    bus, events = EventBus(), list[Event]()
    bus.subscribe(events.append)
    return DeployRecorder(store, bus, deploy_id=1, project_id=1), events


async def test_a_deploy_does_not_wait_for_its_log_rows_and_flush_writes_them_in_order() -> None:
    store = SlowStore()
    store.gate.clear()  # the database is slow
    rec, events = recorder(store)

    async with rec.step("pull"):
        await rec.log("pulling")
    await rec.log("between steps")

    assert store.rows == []  # nothing written yet, yet the deploy went on
    assert [e.kind for e in events] == ["deploy.step", "deploy.log", "deploy.step", "deploy.log"]
    store.gate.set()
    await rec.flush()
    assert store.rows == [
        ("start", "pull"),
        ("log", "pull", "pulling"),
        ("end", "1", "ok"),
        ("log", "pull", "between steps"),
    ]


async def test_step_timing_is_taken_when_the_step_ends_not_when_its_row_is_written() -> None:
    store = SlowStore()
    rec, events = recorder(store)
    async with rec.step("health"):
        await asyncio.sleep(0.05)
    store.gate.clear()
    done = [e for e in events if e.data.get("status") == "ok"]
    assert 50 <= done[0].data["ms"] < 1000
    store.gate.set()
    await rec.flush()


async def test_steps_side_by_side_log_under_their_own_names() -> None:
    store = SlowStore()
    rec, _ = recorder(store)

    async def step(name: str, pause: float) -> None:
        async with rec.step(name):
            await asyncio.sleep(pause)
            await rec.log(f"inside {name}")

    await asyncio.gather(step("pull", 0.02), step("plan", 0.0))
    await rec.log("explicit", step="pull")
    await rec.flush()
    logs = [row[1:] for row in store.rows if row[0] == "log"]
    assert ("pull", "inside pull") in logs and ("plan", "inside plan") in logs
    assert logs[-1] == ("pull", "explicit")


async def test_a_failing_step_is_recorded_failed_and_raises_step_failed() -> None:
    store = SlowStore()
    rec, _ = recorder(store)
    with pytest.raises(StepFailed) as caught:
        async with rec.step("start"):
            raise ValueError("boom")
    await rec.flush()
    assert caught.value.step == "start" and isinstance(caught.value.cause, ValueError)
    assert store.rows[-1] == ("end", "1", "failed")


async def test_a_row_that_cannot_be_written_never_fails_the_deploy() -> None:
    store = SlowStore()
    store.fail_logs = True
    rec, events = recorder(store)
    await rec.log("lost line")
    await rec.flush()  # no exception
    store.fail_logs = False
    await rec.log("next line")
    await rec.flush()
    assert store.rows == [("log", "queued", "next line")]
    assert events[0].data["message"] == "lost line"  # the live log still showed it
