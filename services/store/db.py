"""The SQLite engine (WAL, busy timeout, foreign keys), sessions, and migrations on start.

Every store works inside `Database.session()`, which is also where the database's refusals
become our own errors: a page, the API and a background task all get the same clear `Conflict`
or `NotFound`, never a SQLAlchemy exception.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import event, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError
from sqlmodel import Session, create_engine

from services.errors import Conflict, NotFound, WatcherError

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
BUSY_TIMEOUT_MS = 5000
_UNIQUE = re.compile(r"UNIQUE constraint failed: (.+)")
_STALE_TABLE = re.compile(r"on table '(\w+)'")


def _set_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    # Overwrite freed pages: a value saved in plain text and later made secret must not linger.
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()


class Database:
    """Owns the engine; every store opens short sessions from here (thread-safe)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.engine: Engine = create_engine(
            f"sqlite:///{path}",
            connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_MS / 1000},
        )
        event.listen(self.engine, "connect", _set_pragmas)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session that commits when the block ends cleanly and rolls back otherwise.

        Raises Conflict when a uniqueness rule refuses the change (two saves racing for one
        name), NotFound when it refers to a row deleted meanwhile or updates a vanished row.
        """
        with Session(self.engine, expire_on_commit=False) as session:
            try:
                yield session
                session.commit()
            except (IntegrityError, StaleDataError) as exc:
                session.rollback()
                raise database_refusal(exc) from exc
            except BaseException:
                session.rollback()
                raise

    def migrate(self) -> None:
        """Bring the schema to the newest Alembic revision (run at every start).

        Raises SchemaTooNew, touching nothing, when a newer Docker Watcher wrote the database:
        running older code over it could lose what the newer one keeps.
        """
        config = migration_config()
        with self.engine.connect() as connection:
            # SQLite alters a table by copying it and dropping the old one; with foreign keys
            # on, that drop would delete (cascade) every row of the tables referring to it.
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            connection.commit()
            try:
                with connection.begin():
                    check_known_revision(schema_revision(connection))
                    config.attributes["connection"] = connection
                    command.upgrade(config, "head")
                    _check_references(connection)
            finally:
                connection.exec_driver_sql("PRAGMA foreign_keys=ON")
                connection.commit()

    def ping(self) -> None:
        """Raise when the database cannot answer a trivial query."""
        with self.engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    def close(self) -> None:
        self.engine.dispose()


def _check_references(connection: Connection) -> None:
    """After migrating with foreign keys off: every reference must still point at a row."""
    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if broken:
        tables = sorted({str(row[0]) for row in broken})
        raise WatcherError(f"the upgrade left broken references in {', '.join(tables)}")


class SchemaTooNew(WatcherError):
    """The database was written by a newer version than this one."""


def migration_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def head_revision() -> str:
    """The newest schema revision this version knows."""
    head = ScriptDirectory.from_config(migration_config()).get_current_head()
    assert head is not None  # the migrations ship with the code
    return head


def schema_revision(connection: Connection) -> str | None:
    """The database's schema revision; None for a new (empty) database."""
    return MigrationContext.configure(connection).get_current_revision()


def check_known_revision(revision: str | None) -> None:
    """Raise SchemaTooNew for a revision none of our migrations made."""
    if revision is None:
        return
    try:
        known = ScriptDirectory.from_config(migration_config()).get_revision(revision)
    except CommandError:  # a revision none of our migrations has
        known = None
    if known is None:
        raise SchemaTooNew(
            f"the database has schema {revision!r}, newer than this version of Docker Watcher "
            f"(it knows up to {head_revision()!r}); run the newer version, or restore a backup "
            "made by this one"
        )


def database_refusal(exc: IntegrityError | StaleDataError) -> WatcherError:
    """Our error for a change the database refused, in words a person can act on.

    SQLite names the table and columns (never the values), so the message carries no data.
    """
    if isinstance(exc, StaleDataError):
        table = _STALE_TABLE.search(str(exc))
        what = table.group(1).replace("_", " ") if table else "row"
        return NotFound(f"this {what} was deleted meanwhile")
    reason = str(exc.orig)
    unique = _UNIQUE.match(reason)
    if unique:
        return Conflict(_taken(unique.group(1)))
    if reason.startswith("FOREIGN KEY"):
        return NotFound("what this change refers to was deleted meanwhile")
    return Conflict(f"the database refused the change: {reason}")


def _taken(columns: str) -> str:
    """`stage.project_id, stage.name` -> `a stage with this name already exists`."""
    pairs = [column.strip().partition(".") for column in columns.split(",")]
    table = pairs[0][0].replace("_", " ")
    names = [name for _, _, name in pairs if not name.endswith("_id")] or [pairs[-1][2]]
    return f"a {table} with this {' and '.join(names)} already exists"
