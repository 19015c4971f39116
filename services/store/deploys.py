"""Deploy records, their steps and log lines (the live log reads these)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import col, select

from services.store.base import apply_changes, get_or_raise
from services.store.db import Database
from services.store.models import (
    Deploy,
    DeployLogLine,
    DeployStatus,
    DeployStep,
    StepStatus,
    utcnow,
)

UNFINISHED = (DeployStatus.QUEUED, DeployStatus.RUNNING)


class DeployStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    def create(self, deploy: Deploy) -> Deploy:
        with self._db.session() as session:
            session.add(deploy)
            session.flush()
            return deploy

    def get(self, deploy_id: int) -> Deploy:
        with self._db.session() as session:
            return get_or_raise(session, Deploy, deploy_id, "deploy")

    def update(self, deploy_id: int, **changes: Any) -> Deploy:
        with self._db.session() as session:
            row = get_or_raise(session, Deploy, deploy_id, "deploy")
            apply_changes(row, changes)
            session.add(row)
            return row

    def recent(self, *, project_id: int | None = None, limit: int = 50) -> list[Deploy]:
        with self._db.session() as session:
            query = select(Deploy)
            if project_id is not None:
                query = query.where(Deploy.project_id == project_id)
            query = query.order_by(col(Deploy.id).desc()).limit(limit)
            return list(session.exec(query).all())

    def succeeded(self, project_id: int, stage_name: str, *, limit: int = 50) -> list[Deploy]:
        """The stage's successful deploys, newest first (rollback targets, images kept)."""
        with self._db.session() as session:
            query = select(Deploy).where(
                Deploy.project_id == project_id,
                Deploy.stage_name == stage_name,
                Deploy.status == DeployStatus.SUCCEEDED,
            )
            return list(session.exec(query.order_by(col(Deploy.id).desc()).limit(limit)).all())

    def unfinished(self) -> list[Deploy]:
        """Deploys still marked queued or running (after a crash: interrupted ones)."""
        with self._db.session() as session:
            query = select(Deploy).where(col(Deploy.status).in_(UNFINISHED))
            return list(session.exec(query).all())

    def cleanup_pending(self) -> list[Deploy]:
        """Failed deploys whose undo could not finish; the reconciler's clean-up takes these."""
        with self._db.session() as session:
            query = select(Deploy).where(col(Deploy.cleanup_pending).is_(True))
            return list(session.exec(query.order_by(col(Deploy.id))).all())

    def start_step(
        self, deploy_id: int, name: str, started_at: datetime | None = None
    ) -> DeployStep:
        with self._db.session() as session:
            step = DeployStep(deploy_id=deploy_id, name=name, started_at=started_at or utcnow())
            session.add(step)
            deploy = get_or_raise(session, Deploy, deploy_id, "deploy")
            deploy.step = name
            session.add(deploy)
            session.flush()
            return step

    def end_step(
        self,
        step_id: int,
        status: StepStatus,
        started_at: datetime,
        finished_at: datetime | None = None,
    ) -> DeployStep:
        with self._db.session() as session:
            step = get_or_raise(session, DeployStep, step_id, "deploy step")
            step.status, step.finished_at = status, finished_at or utcnow()
            step.duration_ms = int((step.finished_at - started_at).total_seconds() * 1000)
            session.add(step)
            return step

    def steps(self, deploy_id: int) -> list[DeployStep]:
        with self._db.session() as session:
            query = select(DeployStep).where(DeployStep.deploy_id == deploy_id)
            return list(session.exec(query.order_by(col(DeployStep.id))).all())

    def log(
        self,
        deploy_id: int,
        step: str,
        message: str,
        level: str = "info",
        ts: datetime | None = None,
    ) -> DeployLogLine:
        with self._db.session() as session:
            line = DeployLogLine(
                deploy_id=deploy_id, step=step, message=message, level=level, ts=ts or utcnow()
            )
            session.add(line)
            session.flush()
            return line

    def log_lines(self, deploy_id: int, *, after_id: int = 0) -> list[DeployLogLine]:
        with self._db.session() as session:
            query = select(DeployLogLine).where(
                DeployLogLine.deploy_id == deploy_id, col(DeployLogLine.id) > after_id
            )
            return list(session.exec(query.order_by(col(DeployLogLine.id))).all())
