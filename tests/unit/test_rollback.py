"""The undo stack: a failed undo step stops the rollback and is never reported as done."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.deploy.job import CLEANUP_PENDING, DeployReport
from services.deploy.step_log import DeployRecorder
from services.errors import CannotConnect
from services.events import EventBus
from services.store.db import Database
from services.store.deploys import DeployStore
from services.store.models import Deploy, DeployTrigger


@pytest.fixture
def deploys(tmp_path: Path) -> DeployStore:
    db = Database(tmp_path / "watcher.db")
    db.migrate()
    return DeployStore(db)


@pytest.fixture
def report(deploys: DeployStore) -> DeployReport:
    row = Deploy(project_name="p", stage_name="dev", tag="dev-1", trigger=DeployTrigger.MANUAL)
    deploy = deploys.create(row)
    assert deploy.id is not None
    return DeployReport(DeployRecorder(deploys, EventBus(), deploy.id, 1))


def lines_of(deploys: DeployStore, report: DeployReport) -> list[str]:
    return [line.message for line in deploys.log_lines(report.log.deploy_id)]


async def test_every_undo_done_is_reported_rolled_back(
    report: DeployReport, deploys: DeployStore
) -> None:
    ran: list[str] = []

    async def first() -> None:
        ran.append("first")

    async def second() -> None:
        ran.append("second")

    report.undo.extend([first, second])
    assert await report.roll_back() is True
    await report.log.flush()
    assert ran == ["second", "first"]
    assert lines_of(deploys, report) == ["rolled back: removed what this deploy created"]


async def test_a_failed_undo_stops_the_rollback_and_leaves_the_clean_up_pending(
    report: DeployReport, deploys: DeployStore
) -> None:
    ran: list[str] = []

    async def remove_container() -> None:
        ran.append("container")

    async def move_domain_back() -> None:
        raise CannotConnect("NPM not reachable")

    async def release_tag_host() -> None:
        ran.append("tag host")

    report.undo.extend([remove_container, move_domain_back, release_tag_host])
    assert await report.roll_back() is False
    await report.log.flush()
    assert ran == ["tag host"]  # the container outlives the host that may still point at it
    lines = lines_of(deploys, report)
    assert lines == ["rollback step failed: NPM not reachable", CLEANUP_PENDING]
    assert not any(line.startswith("rolled back") for line in lines)


async def test_nothing_to_undo_logs_nothing(report: DeployReport, deploys: DeployStore) -> None:
    assert await report.roll_back() is True
    await report.log.flush()
    assert lines_of(deploys, report) == []
