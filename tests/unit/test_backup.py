"""Backups and restores of the database, and the refusal of a database newer than the code."""

from __future__ import annotations

import sqlite3
import threading
import tomllib
from pathlib import Path

import pytest
from sqlalchemy import text

from app.data_lock import hold_data_dir, release
from app.version import VERSION
from services.errors import ConfigError
from services.store.backup import backup, restore
from services.store.db import Database, SchemaTooNew, head_revision
from services.store.models import AppState


def _database(path: Path) -> Database:
    database = Database(path)
    database.migrate()
    return database


def _put(database: Database, key: str, value: str) -> None:
    with database.session() as session:
        session.merge(AppState(key=key, value=value))


def _value(path: Path, key: str) -> str | None:
    with sqlite3.connect(path) as connection:
        row = connection.execute("SELECT value FROM app_state WHERE key = ?", (key,)).fetchone()
    return None if row is None else str(row[0])


def test_a_backup_taken_while_the_app_writes_is_one_consistent_moment(tmp_path: Path) -> None:
    database = _database(tmp_path / "data" / "watcher.db")
    _put(database, "counter", "0")
    stop = threading.Event()

    def keep_writing() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            with database.session() as session:  # two rows changed in one transaction
                session.merge(AppState(key="counter", value=str(n)))
                session.merge(AppState(key="mirror", value=str(n)))

    writer = threading.Thread(target=keep_writing)
    writer.start()
    try:
        revision = backup(database.path, tmp_path / "copy.db")
    finally:
        stop.set()
        writer.join()
    assert revision == head_revision()
    copied = tmp_path / "copy.db"
    assert _value(copied, "counter") == (_value(copied, "mirror") or "0")
    with sqlite3.connect(copied) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    assert not list(tmp_path.glob(".copy.db*"))  # no partial file left
    database.close()


def test_backup_refuses_to_overwrite_a_file_or_copy_nothing(tmp_path: Path) -> None:
    database = _database(tmp_path / "watcher.db")
    (tmp_path / "taken.db").write_text("mine")
    with pytest.raises(ConfigError, match="already exists"):
        backup(database.path, tmp_path / "taken.db")
    assert (tmp_path / "taken.db").read_text() == "mine"
    with pytest.raises(ConfigError, match="no database"):
        backup(tmp_path / "missing.db", tmp_path / "out.db")
    database.close()


def test_restore_brings_the_backup_back_and_keeps_what_it_replaced(tmp_path: Path) -> None:
    live = tmp_path / "data" / "watcher.db"
    database = _database(live)
    _put(database, "project", "before")
    backup(live, tmp_path / "monday.db")
    _put(database, "project", "after")
    database.close()

    kept = restore(tmp_path / "monday.db", live)

    assert _value(live, "project") == "before"
    assert kept is not None and _value(kept, "project") == "after"
    assert kept.name.startswith("watcher.db.before-restore-")
    reopened = _database(live)  # the restored file is a working database
    _put(reopened, "project", "again")
    reopened.close()


def test_restore_refuses_what_is_not_a_usable_backup_and_changes_nothing(tmp_path: Path) -> None:
    live = tmp_path / "data" / "watcher.db"
    database = _database(live)
    _put(database, "project", "current")
    database.close()
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database at all" * 100)
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).close()
    newer = tmp_path / "newer.db"
    backup(live, newer)
    with sqlite3.connect(newer) as connection:
        connection.execute("UPDATE alembic_version SET version_num = '0999'")

    with pytest.raises(ConfigError, match="not a Docker Watcher database"):
        restore(junk, live)
    with pytest.raises(ConfigError, match="no schema revision"):
        restore(empty, live)
    with pytest.raises(SchemaTooNew, match="'0999', newer than this version"):
        restore(newer, live)
    with pytest.raises(ConfigError, match="no backup"):
        restore(tmp_path / "missing.db", live)
    assert _value(live, "project") == "current"
    assert sorted(p.name for p in live.parent.iterdir() if "restor" in p.name) == []


def test_a_database_from_a_newer_version_is_refused_untouched(tmp_path: Path) -> None:
    database = _database(tmp_path / "watcher.db")
    with database.engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0999'"))
    with pytest.raises(SchemaTooNew, match=f"it knows up to '{head_revision()}'"):
        database.migrate()
    with database.engine.connect() as connection:
        assert connection.execute(text("SELECT version_num FROM alembic_version")).scalar() == (
            "0999"
        )
    database.close()


def test_one_process_per_data_directory(tmp_path: Path) -> None:
    held = hold_data_dir(tmp_path / "data")
    try:
        with pytest.raises(ConfigError, match="another Docker Watcher is running"):
            hold_data_dir(tmp_path / "data")
    finally:
        release(held)
    release(hold_data_dir(tmp_path / "data"))  # free again once released


def test_the_version_is_the_packages() -> None:
    pyproject = tomllib.loads(Path("pyproject.toml").read_text())
    assert pyproject["project"]["version"] == VERSION
