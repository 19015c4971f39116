"""The stores turn the database's refusals into our errors, so pages get what the API gets.

Each race is made exact, not timed: a SQLAlchemy hook runs the rival change on another
connection of the same real SQLite database just before the store's own statement executes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from services.errors import Conflict, NotFound
from services.store.db import Database
from services.store.models import InstanceStatus
from tests.support.admin_fakes import Stores, stores


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Stores]:
    with stores(tmp_path) as built:
        yield built


@contextmanager
def rival_before(db: Database, statement: str, rival: Callable[[], object]) -> Iterator[None]:
    """Run `rival` once, right before the first SQL statement starting with `statement`."""
    done: list[bool] = []

    def hook(_conn: Any, _cursor: Any, sql: str, *_args: Any) -> None:
        if not done and sql.lstrip().upper().startswith(statement):
            done.append(True)
            rival()

    event.listen(db.engine, "before_cursor_execute", hook)
    try:
        yield
    finally:
        event.remove(db.engine, "before_cursor_execute", hook)
    assert done, f"no {statement} statement ran"


def test_two_projects_racing_for_one_name_give_conflict(db: Stores) -> None:
    """Both saves pass the store's name check; the database keeps one, the other is Conflict."""
    rival = lambda: db.projects.create(name="web", image="example.com/rival")  # noqa: E731
    with (
        rival_before(db.db, "INSERT INTO PROJECT", rival),
        pytest.raises(Conflict, match="a project with this name already exists"),
    ):
        db.projects.create(name="web", image="example.com/web")
    assert [p.image for p in db.projects.all()] == ["example.com/rival"]


def test_two_stages_racing_for_one_name_give_conflict(db: Stores) -> None:
    project = db.project("web", stages=())
    assert project.id is not None
    pid = project.id
    rival = lambda: db.projects.add_stage(pid, name="dev", tag_pattern="*")  # noqa: E731
    with (
        rival_before(db.db, "INSERT INTO STAGE", rival),
        pytest.raises(Conflict, match="a stage with this name already exists"),
    ):
        db.projects.add_stage(pid, name="dev", tag_pattern="dev-*")


def test_updating_a_row_deleted_meanwhile_gives_not_found(db: Stores) -> None:
    """The reconciler's race: an instance row retired while its status is being written."""
    instance = db.instance(db.project(), "dev")
    assert instance.id is not None
    iid = instance.id
    with (
        rival_before(db.db, "UPDATE INSTANCE", lambda: db.instances.delete(iid)),
        pytest.raises(NotFound, match="this instance was deleted meanwhile"),
    ):
        db.instances.update(iid, status=InstanceStatus.STOPPED)


def test_a_row_referring_to_a_project_deleted_meanwhile_gives_not_found(db: Stores) -> None:
    project = db.project()
    assert project.id is not None
    pid = project.id
    with (
        rival_before(db.db, "INSERT INTO INSTANCE", lambda: db.projects.delete(pid)),
        pytest.raises(NotFound, match="deleted meanwhile"),
    ):
        db.instance(project, "dev")
    assert db.instances.all() == []


def test_a_late_write_never_lands_on_the_row_that_reuses_an_id(db: Stores) -> None:
    """SQLite gives a deleted row's id to the next row; update_same refuses the newer one."""
    project = db.project()
    old = db.instance(project, "dev", container_name="web-old-1", container_id="c-old")
    assert old.id is not None
    db.instances.delete(old.id)
    new = db.instance(project, "dev", container_name="web-new-1", container_id="c-new")
    assert new.id == old.id

    with pytest.raises(NotFound, match="deleted meanwhile"):
        db.instances.update_same(old, status=InstanceStatus.MISSING)
    assert db.instances.update_same(new, status=InstanceStatus.STOPPED).status.value == "stopped"
    assert db.instances.get(new.id).status == InstanceStatus.STOPPED
