"""Projects, their stages, and the env and volume entries of both."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, select

from services.errors import Conflict, NotFound
from services.secrets import SecretBox
from services.store.base import apply_changes, get_or_raise
from services.store.db import Database
from services.store.models import EnvVar, Project, Stage, VolumeMount, utcnow

ENV_CONTEXT = "env.value"


class ProjectStore:
    """Queries over the project aggregate (project → stages → env/volume entries)."""

    def __init__(self, db: Database, box: SecretBox) -> None:
        self._db = db
        self._box = box

    # projects -------------------------------------------------------------------------------
    def all(self) -> list[Project]:
        with self._db.session() as session:
            return list(session.exec(select(Project).order_by(Project.name)).all())

    def get(self, project_id: int) -> Project:
        with self._db.session() as session:
            return get_or_raise(session, Project, project_id, "project")

    def get_by_name(self, name: str) -> Project | None:
        with self._db.session() as session:
            return session.exec(select(Project).where(Project.name == name)).first()

    def find_by_image(self, image: str) -> list[Project]:
        """Projects whose repository (without tag) is `image`."""
        with self._db.session() as session:
            return list(session.exec(select(Project).where(Project.image == image)).all())

    def create(self, **fields: Any) -> Project:
        with self._db.session() as session:
            self._refuse_taken_name(session, fields["name"])
            row = Project(**fields)
            session.add(row)
            session.flush()
            return row

    def update(self, project_id: int, **changes: Any) -> Project:
        with self._db.session() as session:
            row = get_or_raise(session, Project, project_id, "project")
            if "name" in changes and changes["name"] != row.name:
                self._refuse_taken_name(session, changes["name"])
            apply_changes(row, {**changes, "updated_at": utcnow()})
            session.add(row)
            return row

    def delete(self, project_id: int) -> None:
        with self._db.session() as session:
            session.delete(get_or_raise(session, Project, project_id, "project"))

    @staticmethod
    def _refuse_taken_name(session: Session, name: str) -> None:
        if session.exec(select(Project).where(Project.name == name)).first():
            raise Conflict(f"a project named {name!r} already exists")

    # stages ---------------------------------------------------------------------------------
    def stages(self, project_id: int) -> list[Stage]:
        with self._db.session() as session:
            query = select(Stage).where(Stage.project_id == project_id)
            return list(session.exec(query.order_by(col(Stage.position), col(Stage.id))).all())

    def get_stage(self, stage_id: int) -> Stage:
        with self._db.session() as session:
            return get_or_raise(session, Stage, stage_id, "stage")

    def stage_by_name(self, project_id: int, name: str) -> Stage:
        with self._db.session() as session:
            query = select(Stage).where(Stage.project_id == project_id, Stage.name == name)
            stage = session.exec(query).first()
        if stage is None:
            raise NotFound(f"stage {name!r} not found")
        return stage

    def add_stage(self, project_id: int, **fields: Any) -> Stage:
        with self._db.session() as session:
            get_or_raise(session, Project, project_id, "project")
            taken = select(Stage).where(
                Stage.project_id == project_id, Stage.name == fields["name"]
            )
            if session.exec(taken).first():
                raise Conflict(f"stage {fields['name']!r} already exists in this project")
            row = Stage(project_id=project_id, **fields)
            session.add(row)
            session.flush()
            return row

    def update_stage(self, stage_id: int, **changes: Any) -> Stage:
        with self._db.session() as session:
            row = get_or_raise(session, Stage, stage_id, "stage")
            apply_changes(row, changes)
            session.add(row)
            return row

    def delete_stage(self, stage_id: int) -> None:
        with self._db.session() as session:
            session.delete(get_or_raise(session, Stage, stage_id, "stage"))

    # env and volumes ------------------------------------------------------------------------
    def env_entries(self, project_id: int) -> list[EnvVar]:
        """Raw entries of the project and all its stages (secret values still encrypted)."""
        with self._db.session() as session:
            query = select(EnvVar).where(EnvVar.project_id == project_id)
            return list(session.exec(query.order_by(col(EnvVar.id))).all())

    def set_env(
        self, project_id: int, stage_id: int | None, entries: list[tuple[str, str | None, bool]]
    ) -> None:
        """Replace the env of a project (stage_id None) or of one stage.

        Each entry is (key, value, secret); a None value in a stage unsets the key.
        """
        rows = [
            EnvVar(
                project_id=project_id,
                stage_id=stage_id,
                key=key,
                value=self.seal(value) if secret and value is not None else value,
                secret=secret,
                unset=value is None,
            )
            for key, value, secret in entries
        ]
        self.replace_env(project_id, stage_id, rows)

    def replace_env(self, project_id: int, stage_id: int | None, rows: list[EnvVar]) -> None:
        """Replace one scope's entries with rows whose secret values are already sealed.

        Lets a caller keep an unchanged secret's ciphertext as is (see services.admin.env_config).
        """
        with self._db.session() as session:
            old = select(EnvVar).where(EnvVar.project_id == project_id, EnvVar.stage_id == stage_id)
            for row in session.exec(old).all():
                session.delete(row)
            for row in rows:
                row.project_id, row.stage_id, row.id = project_id, stage_id, None
                session.add(row)

    def seal(self, value: str) -> str:
        """The ciphertext stored for a secret env value."""
        return self._box.encrypt(value, ENV_CONTEXT)

    def reveal(self, entry: EnvVar) -> str:
        """The plaintext value of an env entry (decrypting a secret one)."""
        assert entry.value is not None
        return self._box.decrypt(entry.value, ENV_CONTEXT) if entry.secret else entry.value

    def volumes(self, project_id: int) -> list[VolumeMount]:
        with self._db.session() as session:
            query = select(VolumeMount).where(VolumeMount.project_id == project_id)
            return list(session.exec(query.order_by(col(VolumeMount.id))).all())

    def set_volumes(self, project_id: int, stage_id: int | None, mounts: list[VolumeMount]) -> None:
        """Replace the mounts of a project (stage_id None) or one stage's overrides."""
        with self._db.session() as session:
            old = select(VolumeMount).where(
                VolumeMount.project_id == project_id, VolumeMount.stage_id == stage_id
            )
            for row in session.exec(old).all():
                session.delete(row)
            for mount in mounts:
                mount.project_id, mount.stage_id, mount.id = project_id, stage_id, None
                session.add(mount)
