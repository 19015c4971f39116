"""Reading and changing a project's env and its stages' overrides.

Secret values are stored encrypted and leave this module only as `••••••••`: every read model
is safe to send to a browser or an API client. Saving a secret without a new value (None, or
the mask a form sent back) keeps the stored one; saving the same value again keeps its
ciphertext too, so the instances using it are not reported as outdated. Changes never touch
running containers: they apply at the next deploy (the project page marks the instances that
run with an older configuration, see `services.views.overview`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from services.audit.changes import record_change
from services.audit.log import Actor, AuditLog, Target
from services.deploy import container_config
from services.deploy.container_config import Origin
from services.env_rules import key_path, key_problem, scope_problems, value_problem
from services.errors import FieldError, ValidationFailed
from services.redaction import MASK
from services.store.models import EnvVar, Stage
from services.store.projects import ProjectStore


@dataclass(frozen=True)
class EnvChange:
    """One entry of a project's or stage's env as a form or API sends it.

    `value` None on a secret keeps the stored value; `unset` (stages only) removes the
    project's key from that stage, and its value is ignored.
    """

    key: str
    value: str | None = None
    secret: bool = False
    unset: bool = False


@dataclass(frozen=True)
class EnvEntryView:
    """One stored entry as shown: a secret's value is the mask, an unset one has none."""

    key: str
    value: str | None
    secret: bool
    unset: bool = False


@dataclass(frozen=True)
class ResolvedEnvView:
    """One variable a stage's containers get, and where its value comes from."""

    key: str
    value: str
    secret: bool
    origin: Origin


@dataclass(frozen=True)
class StageEnvView:
    stage: str
    overrides: tuple[EnvEntryView, ...]
    resolved: tuple[ResolvedEnvView, ...]
    removed: tuple[str, ...]  # project keys this stage unsets


@dataclass(frozen=True)
class ProjectEnvView:
    project_id: int
    entries: tuple[EnvEntryView, ...]
    stages: tuple[StageEnvView, ...]


class EnvConfigService:
    """The env editor's service: read models with origins, validated replacement per scope."""

    def __init__(self, projects: ProjectStore, audit: AuditLog) -> None:
        self._projects = projects
        self._audit = audit

    async def read(self, project_id: int) -> ProjectEnvView:
        """The project's env and each stage's overrides and result. NotFound for no project."""
        return await asyncio.to_thread(self._read, project_id)

    async def update(
        self, project_id: int, stage: str | None, changes: Sequence[EnvChange], *, actor: Actor
    ) -> ProjectEnvView:
        """Replace the env of the project (stage None) or of one stage, all or nothing.

        Raises ValidationFailed naming each bad field (`env.API_KEY`, `stages.dev.env.X`),
        NotFound for an unknown project or stage. Running instances are left alone.
        The audit row names the keys whose entries changed (a new secret value included).
        """
        project = await asyncio.to_thread(self._projects.get, project_id)
        target = Target(project=project.name, stage=stage, other="env")
        before = await asyncio.to_thread(self._stored, project_id, stage)
        work = asyncio.to_thread(self._update_and_stored, project_id, stage, list(changes))
        result = await record_change(
            self._audit, actor, target, work, before=before, after=lambda done: done[1]
        )
        return result[0]

    def _update_and_stored(
        self, project_id: int, stage: str | None, changes: list[EnvChange]
    ) -> tuple[ProjectEnvView, dict[str, tuple[str | None, bool, bool]]]:
        view = self._update(project_id, stage, changes)
        return view, self._stored(project_id, stage)

    def _stored(
        self, project_id: int, stage: str | None
    ) -> dict[str, tuple[str | None, bool, bool]]:
        """The scope's entries by key as stored (a secret as its ciphertext), to compare."""
        row = self._projects.stage_by_name(project_id, stage) if stage else None
        stage_id = row.id if row else None
        rows = self._projects.env_entries(project_id)
        return {r.key: (r.value, r.secret, r.unset) for r in rows if r.stage_id == stage_id}

    # reading ---------------------------------------------------------------------------------
    def _read(self, project_id: int) -> ProjectEnvView:
        self._projects.get(project_id)
        rows = self._projects.env_entries(project_id)
        stages = self._projects.stages(project_id)
        return ProjectEnvView(
            project_id=project_id,
            entries=tuple(_entry_view(r) for r in rows if r.stage_id is None),
            stages=tuple(_stage_view(rows, stage) for stage in stages),
        )

    # writing ---------------------------------------------------------------------------------
    def _update(
        self, project_id: int, stage_name: str | None, changes: list[EnvChange]
    ) -> ProjectEnvView:
        self._projects.get(project_id)
        stage = self._projects.stage_by_name(project_id, stage_name) if stage_name else None
        stage_id = stage.id if stage else None
        base = f"stages.{stage_name}.env" if stage_name else "env"
        old = {r.key: r for r in self._projects.env_entries(project_id) if r.stage_id == stage_id}
        errors = _problems(changes, base, in_stage=stage is not None)
        rows = [] if errors else [self._row(c, old.get(c.key), base, errors) for c in changes]
        if errors:  # _row adds what needs the stored values (a kept secret must exist)
            raise ValidationFailed(errors)
        for row in rows:
            row.project_id, row.stage_id = project_id, stage_id
        self._projects.replace_env(project_id, stage_id, rows)
        return self._read(project_id)

    def _row(
        self, change: EnvChange, old: EnvVar | None, base: str, errors: list[FieldError]
    ) -> EnvVar:
        row = EnvVar(project_id=0, key=change.key, unset=change.unset)  # scope set by the caller
        if change.unset:
            return row
        row.secret = change.secret
        if change.secret:
            row.value = self._sealed(change, old, base, errors)
        elif old is not None and old.secret and change.value == MASK:
            errors.append(FieldError(key_path(base, change.key), _MASKED_PLAIN))
        else:
            row.value = change.value
        return row

    def _sealed(
        self, change: EnvChange, old: EnvVar | None, base: str, errors: list[FieldError]
    ) -> str:
        """The ciphertext to store: the old one when the value is kept or unchanged."""
        kept = old if old is not None and old.secret and old.value is not None else None
        if change.value is None or change.value == MASK:
            if kept is None:
                errors.append(FieldError(key_path(base, change.key), "a new secret needs a value"))
            return kept.value or "" if kept else ""
        if kept is not None and self._projects.reveal(kept) == change.value:
            return kept.value or ""
        return self._projects.seal(change.value)


_MASKED_PLAIN = "give the value again to turn a secret into a plain value"


def _problems(changes: list[EnvChange], base: str, *, in_stage: bool) -> list[FieldError]:
    """Every rule broken by a scope's list: names, values, duplicates and the scope's size."""
    errors: list[FieldError] = []
    seen: set[str] = set()
    for change in changes:
        path = key_path(base, change.key)
        problem = key_problem(change.key) or ("is given twice" if change.key in seen else None)
        seen.add(change.key)
        problem = problem or _entry_problem(change, in_stage=in_stage)
        if problem:
            errors.append(FieldError(path, problem))
    sizes = [(c.key, len(c.value or "")) for c in changes if not c.unset]
    return errors + scope_problems(sizes, base)


def _entry_problem(change: EnvChange, *, in_stage: bool) -> str | None:
    if change.unset:
        return None if in_stage else "only a stage can unset a key; delete it instead"
    if change.value is None:
        return None if change.secret else "needs a value (an empty text is fine)"
    return value_problem(change.value)


def _entry_view(row: EnvVar) -> EnvEntryView:
    if row.unset:
        return EnvEntryView(row.key, None, row.secret, unset=True)
    return EnvEntryView(row.key, MASK if row.secret else row.value, row.secret)


def _stage_view(rows: list[EnvVar], stage: Stage) -> StageEnvView:
    resolved = container_config.resolve_env(rows, stage.id)
    project = container_config.resolve_env(rows, None)
    return StageEnvView(
        stage=stage.name,
        overrides=tuple(_entry_view(r) for r in rows if r.stage_id == stage.id),
        resolved=tuple(_resolved_view(key, row) for key, row in resolved.items()),
        removed=tuple(key for key in project if key not in resolved),
    )


def _resolved_view(key: str, row: EnvVar) -> ResolvedEnvView:
    value = MASK if row.secret else (row.value or "")
    return ResolvedEnvView(key, value, row.secret, container_config.origin_of(row))
