"""The audit log's store: filters, newest-first cursor paging, counts, and the retention purge."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from services.audit.retention import AuditRetention
from services.secrets import SecretBox
from services.store.audit import AuditFilter, AuditStore
from services.store.db import Database
from services.store.models import AuditEvent, AuditOutcome
from services.store.settings_store import SettingsStore

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(tmp_path / "watcher.db")
    database.migrate()
    yield database
    database.close()


def add(store: AuditStore, days_ago: float, **fields: object) -> AuditEvent:
    row = {"actor": "alice", "action": "deploy", **fields}
    return store.append(AuditEvent(ts=NOW - timedelta(days=days_ago), **row))  # type: ignore[arg-type]


def test_pages_run_newest_first_by_cursor_and_count_every_match(db: Database) -> None:
    store = AuditStore(db)
    made = [add(store, 10 - n, project_name="web") for n in range(7)]
    add(store, 0, project_name="api")

    first = store.page(AuditFilter(project="web"), limit=3)
    second = store.page(AuditFilter(project="web"), limit=3, before=first.next_before)
    last = store.page(AuditFilter(project="web"), limit=3, before=second.next_before)

    ids = [r.id for r in made]
    assert [r.id for r in first.rows] == ids[::-1][:3]
    assert [r.id for r in second.rows] == ids[::-1][3:6]
    assert [r.id for r in last.rows] == ids[:1] and last.next_before is None
    assert first.total == second.total == 7


def test_filters_combine_actor_project_action_outcome_and_time(db: Database) -> None:
    store = AuditStore(db)
    wanted = add(store, 1, actor="bob", project_name="web", outcome=AuditOutcome.FAILED)
    add(store, 1, actor="bob", project_name="web")  # outcome ok
    add(store, 1, actor="alice", project_name="web", outcome=AuditOutcome.FAILED)
    add(store, 1, actor="bob", project_name="web", action="stop", outcome=AuditOutcome.FAILED)
    add(store, 5, actor="bob", project_name="web", outcome=AuditOutcome.FAILED)  # too old

    where = AuditFilter(
        actor="bob",
        project="web",
        action="deploy",
        outcome=AuditOutcome.FAILED,
        since=NOW - timedelta(days=2),
        until=NOW,
    )
    page = store.page(where)

    assert [r.id for r in page.rows] == [wanted.id] and page.total == 1
    assert store.page(AuditFilter(actor="nobody")).rows == []
    assert store.distinct("actor") == ["alice", "bob"]
    assert store.distinct("action") == ["deploy", "stop"]
    assert store.distinct("project_name") == ["web"]


def test_the_limit_is_capped(db: Database) -> None:
    store = AuditStore(db)
    for _ in range(3):
        add(store, 0)
    assert len(store.page(limit=0).rows) == 1
    assert len(store.page(limit=10_000).rows) == 3


def test_retention_purges_only_rows_older_than_the_setting(db: Database) -> None:
    store = AuditStore(db)
    settings = SettingsStore(db, SecretBox(b"k" * 32))
    settings.update_global(audit_retention_days=30)
    kept = [add(store, 29), add(store, 1)]
    add(store, 31)
    add(store, 400)

    retention = AuditRetention(store, settings, clock=lambda: NOW)

    assert retention.purge_now() == 2
    assert [r.id for r in store.page().rows] == [kept[1].id, kept[0].id]
    settings.update_global(audit_retention_days=1)
    assert retention.purge_now() == 1  # the setting is read again on every pass
    assert retention.purge_now() == 0
