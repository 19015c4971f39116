"""Backups of the database: a consistent copy taken while the app runs, and a careful restore.

The copy uses SQLite's online backup API, which copies pages under a read transaction: writes
by the running app (WAL) go on, and the copy is one consistent moment. A backup is of no use
without the encryption key (ENCRYPTION_KEY or the key file in the data directory): the stored
secrets are sealed with it.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

from services.errors import ConfigError
from services.store.db import check_known_revision

SIDE_FILES = ("-wal", "-shm")  # SQLite's write-ahead log and its index, beside the database


def backup(database: Path, target: Path) -> str:
    """Copy `database` to `target` (not overwriting it) and answer the schema revision copied."""
    if not database.is_file():
        raise ConfigError(f"there is no database at {database}")
    if target.exists():
        raise ConfigError(f"{target} already exists; choose a new file name")
    partial = target.with_name(f".{target.name}.partial")
    try:
        _copy(database, partial)
        revision = _checked(partial)
        partial.rename(target)
    finally:
        partial.unlink(missing_ok=True)
    return revision


def restore(source: Path, database: Path) -> Path | None:
    """Put the backup `source` in place of `database` (the app must be stopped).

    The backup is checked first (a readable SQLite database with a schema this version knows);
    the current database, if any, is kept beside it as `<name>.before-restore-<time>`, which
    is answered. Nothing changes when the backup is refused.
    """
    if not source.is_file():
        raise ConfigError(f"there is no backup at {source}")
    _checked(source)
    database.parent.mkdir(parents=True, exist_ok=True)
    incoming = database.with_name(f".{database.name}.restoring")
    incoming.unlink(missing_ok=True)
    _copy(source, incoming)
    kept = _set_aside(database)
    incoming.rename(database)
    return kept


def _checked(path: Path) -> str:
    """The schema revision of a database file; ConfigError when it is not one we can use."""
    try:
        with closing(_open(path, read_only=True)) as connection:
            verdict = connection.execute("PRAGMA integrity_check").fetchone()
            revision = _revision(connection)
    except sqlite3.DatabaseError as exc:
        raise ConfigError(f"{path} is not a Docker Watcher database ({exc})") from None
    if not verdict or verdict[0] != "ok":
        raise ConfigError(f"{path} is damaged (SQLite integrity check failed)")
    if revision is None:
        raise ConfigError(f"{path} is not a Docker Watcher database (it has no schema revision)")
    check_known_revision(revision)
    return revision


def _revision(connection: sqlite3.Connection) -> str | None:
    tables = connection.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'"
    ).fetchall()
    if not tables:
        return None
    row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    return None if row is None else str(row[0])


def _set_aside(database: Path) -> Path | None:
    if not database.exists():
        return None
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    kept = database.with_name(f"{database.name}.before-restore-{stamp}")
    # A stopped app has folded its log back into the database; keep any left-over side file
    # with the copy it belongs to, so neither is replayed into the restored database.
    database.rename(kept)
    for suffix in SIDE_FILES:
        side = database.with_name(database.name + suffix)
        if side.exists():
            side.rename(kept.with_name(kept.name + suffix))
    return kept


def _copy(source: Path, target: Path) -> None:
    """A consistent copy as one self-contained file (rollback journal, not WAL)."""
    with closing(_open(source)) as reading, closing(_open(target)) as writing:
        reading.backup(writing)
        writing.execute("PRAGMA journal_mode=DELETE")


def _open(path: Path, *, read_only: bool = False) -> sqlite3.Connection:
    if read_only:
        return sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    return sqlite3.connect(path)
