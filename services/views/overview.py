"""Read models for the dashboard and the project page, built in a few bulk queries per view.

A page asks once and renders; the live board (services/live.py) asks again when an event says a
project changed. Every query runs in a worker thread, so no page ever blocks the event loop; a
dashboard of 100 projects costs five queries, not one per project.
"""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import func
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from services import tags
from services.deploy import container_config
from services.deploy.lost import is_lost
from services.errors import NotFound
from services.store.db import Database
from services.store.deploys import DeployStore
from services.store.models import Deploy, Instance, Project, SeenTag, Stage
from services.store.projects import ProjectStore
from services.store.seen_tags import SeenState
from services.views.models import (
    RUNNING,
    Activity,
    DeployDetail,
    InstanceView,
    Light,
    LogLine,
    ProjectCard,
    ProjectView,
    StageView,
    StepView,
    WaitingTag,
    light_of,
    short_digest,
)

HISTORY = 15
T = TypeVar("T")


@dataclass
class _Rows:
    """What one read loaded, grouped by project id."""

    projects: list[Project]
    stages: defaultdict[int, list[Stage]] = field(default_factory=lambda: defaultdict(list))
    instances: defaultdict[int, list[Instance]] = field(default_factory=lambda: defaultdict(list))
    seen: defaultdict[int, list[SeenTag]] = field(default_factory=lambda: defaultdict(list))
    latest: dict[int, Deploy] = field(default_factory=dict)


class Overview:
    """Builds the views; NotFound for a project or deploy that does not exist."""

    def __init__(self, db: Database, projects: ProjectStore, deploys: DeployStore) -> None:
        self._db = db
        self._projects = projects
        self._deploys = deploys

    async def cards(self) -> list[ProjectCard]:
        """Every project for the dashboard, by name."""
        return await asyncio.to_thread(self._cards, None)

    async def card(self, project_id: int) -> ProjectCard | None:
        """One project's card (None once the project is gone)."""
        found = await asyncio.to_thread(self._cards, project_id)
        return found[0] if found else None

    async def project(self, project_id: int) -> ProjectView:
        """Stages with their instances, tags waiting for a person, and recent deploys."""
        return await asyncio.to_thread(self._project, project_id)

    async def deploy(self, deploy_id: int) -> DeployDetail:
        """A recorded deploy with its steps and log lines."""
        return await asyncio.to_thread(self._deploy, deploy_id)

    # blocking parts (worker thread) ------------------------------------------------------
    def _cards(self, project_id: int | None) -> list[ProjectCard]:
        with self._db.session() as session:
            rows = _load(session, project_id)
        return [_card(p, rows) for p in rows.projects]

    def _project(self, project_id: int) -> ProjectView:
        with self._db.session() as session:
            rows = _load(session, project_id)
        if not rows.projects:
            raise NotFound(f"project #{project_id} does not exist")
        project, stages = rows.projects[0], rows.stages[project_id]
        instances = rows.instances[project_id]
        stale = {i.id for i in container_config.outdated(self._projects, stages, instances)}
        history = self._deploys.recent(project_id=project_id, limit=HISTORY)
        return ProjectView(
            project_id,
            project.name,
            project.image,
            project.port,
            project.healthcheck,
            tuple(_stage_view(s, instances, stale) for s in stages),
            tuple(waiting_tags(rows.seen[project_id], stages, instances)),
            tuple(Activity.of(d) for d in history),
        )

    def _deploy(self, deploy_id: int) -> DeployDetail:
        deploy = self._deploys.get(deploy_id)
        return DeployDetail(
            Activity.of(deploy),
            tuple(StepView.of(s) for s in self._deploys.steps(deploy_id)),
            tuple(LogLine.of(line) for line in self._deploys.log_lines(deploy_id)),
        )


def _scoped(query: SelectOfScalar[T], column: Any, project_id: int | None) -> SelectOfScalar[T]:
    return query if project_id is None else query.where(column == project_id)


def _load(session: Session, project_id: int | None) -> _Rows:
    """Five queries whatever the number of projects (the dashboard's whole cost)."""
    projects = _scoped(select(Project), Project.id, project_id).order_by(col(Project.name))
    rows = _Rows(list(session.exec(projects).all()))
    stages = _scoped(select(Stage), Stage.project_id, project_id)
    for stage in session.exec(stages.order_by(col(Stage.position), col(Stage.id))).all():
        rows.stages[stage.project_id].append(stage)
    instances = _scoped(select(Instance), Instance.project_id, project_id)
    for instance in session.exec(instances.order_by(col(Instance.created_at))).all():
        rows.instances[instance.project_id].append(instance)
    seen = _scoped(select(SeenTag), SeenTag.project_id, project_id)
    seen = seen.where(SeenTag.state == SeenState.AVAILABLE.value)
    for tag in session.exec(seen.order_by(col(SeenTag.last_seen).desc())).all():
        rows.seen[tag.project_id].append(tag)
    newest = _scoped(select(func.max(Deploy.id)), Deploy.project_id, project_id)
    latest = select(Deploy).where(col(Deploy.id).in_(newest.group_by(col(Deploy.project_id))))
    for deploy in session.exec(latest).all():
        if deploy.project_id is not None:
            rows.latest[deploy.project_id] = deploy
    return rows


def _card(project: Project, rows: _Rows) -> ProjectCard:
    assert project.id is not None
    instances = rows.instances[project.id]
    lights = Counter(light_of(i.status) for i in instances)
    latest = rows.latest.get(project.id)
    return ProjectCard(
        project.id,
        project.name,
        project.image,
        tuple(s.name for s in rows.stages[project.id]),
        {light: lights.get(light, 0) for light in Light},
        sum(1 for i in instances if i.status in RUNNING),
        Activity.of(latest) if latest else None,
        len(waiting_tags(rows.seen[project.id], rows.stages[project.id], instances)),
    )


def _stage_view(stage: Stage, instances: Sequence[Instance], stale: set[int | None]) -> StageView:
    own = [i for i in instances if i.stage_id == stage.id]
    return StageView(
        stage.name,
        stage.tag_pattern,
        stage.auto_deploy,
        stage.confirm,
        stage.promote_from,
        stage.max_instances,
        str(stage.strategy),
        tuple(InstanceView.of(i, stage.name, i.id in stale) for i in reversed(own)),
    )


def waiting_tags(
    seen: Iterable[SeenTag], stages: Sequence[Stage], instances: Sequence[Instance]
) -> list[WaitingTag]:
    """Available tags and the manual stages they could go to, minus stages already running them
    (a lost instance runs nothing: its tag may be deployed again)."""
    running = {(i.stage_id, i.tag) for i in instances if not is_lost(i)}
    waiting = []
    for row in seen:
        names = tuple(
            s.name
            for s in tags.stages_for_tag(stages, row.tag)
            if not s.auto_deploy and (s.id, row.tag) not in running
        )
        if names:
            waiting.append(WaitingTag(row.tag, short_digest(row.digest), row.last_seen, names))
    return waiting
