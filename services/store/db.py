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
from sqlalchemy import event, text
from sqlalchemy.engine import Engine
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
        """Bring the schema to the newest Alembic revision (run at every start)."""
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        with self.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")

    def ping(self) -> None:
        """Raise when the database cannot answer a trivial query."""
        with self.engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    def close(self) -> None:
        self.engine.dispose()


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
