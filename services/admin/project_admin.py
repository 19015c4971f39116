"""Creating, changing and deleting projects and stages (the configuration page and the REST API).

Deleting removes what runs first (containers and proxy hosts, through `InstanceControl`), so no
container is ever left without its row; it is refused while a deploy of that project or stage is
queued or running. Renaming a project or stage that has instances is refused: its containers'
labels and subdomains carry the old name.
"""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from collections.abc import Iterable
from contextlib import AbstractAsyncContextManager, nullcontext
from typing import Protocol

from services.admin.project_inputs import ProjectInput, StageInput
from services.audit.changes import fields_of, record_change
from services.audit.log import Actor, AuditLog, Target
from services.deploy.instance_control import InstanceControl
from services.errors import Conflict, NotFound, ValidationFailed
from services.registry import names
from services.store.deploys import DeployStore
from services.store.instances import InstanceStore
from services.store.models import Instance, InstanceStatus, Project, Stage
from services.store.projects import ProjectStore
from services.store.registries import RegistryStore
from services.store.settings_store import SettingsStore
from services.subdomain_owners import SubdomainOwners
from services.views.projects import ProjectDetail, ProjectLight, ProjectSummary, StageDetail

__all__ = [
    "ProjectAdmin",
    "ProjectDetail",
    "ProjectInput",
    "ProjectLight",
    "ProjectSummary",
    "StageDetail",
    "StageInput",
]


class DeployGate(Protocol):
    """Holds off deploys of some stages while they are removed (the Deployer)."""

    def exclusive(
        self, project_id: int, stages: Iterable[str]
    ) -> AbstractAsyncContextManager[None]: ...


class ProjectAdmin:
    """The project configuration service; every method runs its database work in a thread."""

    def __init__(
        self,
        projects: ProjectStore,
        instances: InstanceStore,
        registries: RegistryStore,
        control: InstanceControl,
        deploys: DeployStore,
        settings: SettingsStore,
        *,
        audit: AuditLog,
        gate: DeployGate | None = None,
    ) -> None:
        """`gate` keeps deploys from running while a project or stage is being removed; without
        one, a deploy starting meanwhile could leave a container or proxy host behind."""
        self._gate = gate
        self._audit = audit
        self._projects = projects
        self._instances = instances
        self._registries = registries
        self._control = control
        self._deploys = deploys
        self._owners = SubdomainOwners(projects, instances, settings)

    # reading -------------------------------------------------------------------------------
    async def list_overview(self) -> list[ProjectSummary]:
        """Every project by name, with its stage count, instance counts and latest deploy."""
        return await asyncio.to_thread(self._overview)

    async def get(self, project_id: int) -> ProjectDetail:
        """A project with its stages (in order) and their instances. NotFound for none."""
        return await asyncio.to_thread(self._detail, project_id)

    # projects ------------------------------------------------------------------------------
    async def create_project(self, data: ProjectInput, *, actor: Actor) -> Project:
        """Raises ValidationFailed (`registry_id` unknown), Conflict (name taken)."""
        work = asyncio.to_thread(self._create_project, data)
        target = Target(project=data.name)
        return await record_change(
            self._audit, actor, target, work, change="create", after=fields_of
        )

    async def update_project(self, project_id: int, data: ProjectInput, *, actor: Actor) -> Project:
        """Changes apply at the next deploy. NotFound, ValidationFailed, Conflict (name taken)."""
        before = await asyncio.to_thread(self._projects.get, project_id)
        work = asyncio.to_thread(self._update_project, project_id, data)
        target = Target(project=before.name)
        return await record_change(
            self._audit, actor, target, work, before=fields_of(before), after=fields_of
        )

    async def delete_project(self, project_id: int, *, actor: Actor) -> None:
        project = await asyncio.to_thread(self._projects.get, project_id)
        target = Target(project=project.name)
        work = self._delete_project(project_id)
        await record_change(self._audit, actor, target, work, change="delete")

    async def _delete_project(self, project_id: int) -> None:
        """Remove its instances (containers, proxy hosts), then the project and its stages.

        Conflict while one of its deploys is queued or running; CannotConnect/UpstreamError when
        Docker or NPM fail (the project then stays, with the instances not yet removed).
        """
        await asyncio.to_thread(self._refuse_while_deploying, project_id, None)
        stages = [s.name for s in await asyncio.to_thread(self._projects.stages, project_id)]
        async with self._exclusive(project_id, stages):
            # again, holding the stages: a deploy recorded meanwhile is still queued
            await asyncio.to_thread(self._refuse_while_deploying, project_id, None)
            await self._remove_instances(await asyncio.to_thread(self._instances_of, project_id))
            await asyncio.to_thread(self._projects.delete, project_id)

    def _exclusive(self, project_id: int, stages: list[str]) -> AbstractAsyncContextManager[None]:
        return self._gate.exclusive(project_id, stages) if self._gate else nullcontext()

    # stages --------------------------------------------------------------------------------
    async def add_stage(self, project_id: int, data: StageInput, *, actor: Actor) -> Stage:
        """Append a stage. NotFound, ValidationFailed (promote_from), Conflict (name, subdomain)."""
        target = await self._stage_target(project_id, data.name)
        work = asyncio.to_thread(self._add_stage, project_id, data)
        return await record_change(
            self._audit, actor, target, work, change="create", after=fields_of
        )

    async def update_stage(
        self, project_id: int, stage: str, data: StageInput, *, actor: Actor
    ) -> Stage:
        """Change a stage; a rename also renames other stages' `promote_from` pointing at it."""
        target = await self._stage_target(project_id, stage)
        before = await asyncio.to_thread(self._projects.stage_by_name, project_id, stage)
        work = asyncio.to_thread(self._update_stage, project_id, stage, data)
        return await record_change(
            self._audit, actor, target, work, before=fields_of(before), after=fields_of
        )

    async def delete_stage(self, project_id: int, stage: str, *, actor: Actor) -> None:
        """Remove the stage's instances, then the stage; refused (Conflict) while a deploy of it
        runs or while another stage promotes from it."""
        target = await self._stage_target(project_id, stage)
        work = self._delete_stage(project_id, stage)
        await record_change(self._audit, actor, target, work, change="delete")

    async def _stage_target(self, project_id: int, stage: str) -> Target:
        project = await asyncio.to_thread(self._projects.get, project_id)
        return Target(project=project.name, stage=stage)

    async def _delete_stage(self, project_id: int, stage: str) -> None:
        await asyncio.to_thread(self._deletable_stage, project_id, stage)
        async with self._exclusive(project_id, [stage]):
            row = await asyncio.to_thread(self._deletable_stage, project_id, stage)
            instances = await asyncio.to_thread(self._instances.all, stage_id=row.id)
            await self._remove_instances(instances)
            assert row.id is not None
            await asyncio.to_thread(self._projects.delete_stage, row.id)

    async def check_registry(self, registry_id: int | None, image: str) -> None:
        """ValidationFailed on `registry_id` when no such registry exists (None is fine), or on
        `image` when the image does not live on that registry's host."""
        await asyncio.to_thread(self._check_registry, registry_id, image)

    # blocking helpers ----------------------------------------------------------------------
    def _overview(self) -> list[ProjectSummary]:
        names = self._registry_names()
        by_project: defaultdict[int, list[Instance]] = defaultdict(list)
        for instance in self._instances.all():
            by_project[instance.project_id].append(instance)
        return [self._summary(p, names, by_project[p.id or 0]) for p in self._projects.all()]

    def _summary(
        self, project: Project, names: dict[int, str], instances: list[Instance]
    ) -> ProjectSummary:
        assert project.id is not None
        latest = self._deploys.recent(project_id=project.id, limit=1)
        return ProjectSummary(
            project,
            names.get(project.registry_id or 0),
            len(self._projects.stages(project.id)),
            dict(Counter(InstanceStatus(i.status) for i in instances)),
            latest[0] if latest else None,
        )

    def _detail(self, project_id: int) -> ProjectDetail:
        project = self._projects.get(project_id)
        instances = self._instances.all(project_id=project_id)
        stages = tuple(
            StageDetail(s, tuple(i for i in instances if i.stage_id == s.id))
            for s in self._projects.stages(project_id)
        )
        name = self._registry_names().get(project.registry_id or 0)
        return ProjectDetail(project, name, stages)

    def _registry_names(self) -> dict[int, str]:
        return {r.id: r.name for r in self._registries.all() if r.id is not None}

    def _create_project(self, data: ProjectInput) -> Project:
        self._check_registry(data.registry_id, data.image)
        return self._projects.create(**data.model_dump())

    def _update_project(self, project_id: int, data: ProjectInput) -> Project:
        current = self._projects.get(project_id)
        self._check_registry(data.registry_id, data.image)
        if data.name != current.name:
            self._refuse_rename("name", project_id=project_id)
            if self._projects.get_by_name(data.name):
                raise Conflict(f"a project named {data.name!r} already exists")
        return self._projects.update(project_id, **data.model_dump())

    def _check_registry(self, registry_id: int | None, image: str) -> None:
        """The registry exists, and the image lives on its host: a pull sends the registry's
        credentials to the image's host."""
        if registry_id is None:
            return
        try:
            registry = self._registries.get(registry_id)
        except NotFound:
            raise ValidationFailed.single(
                "registry_id", f"registry {registry_id} does not exist"
            ) from None
        problem = names.image_host_problem(image, registry.url, str(registry.type), registry.name)
        if problem:
            raise ValidationFailed.single("image", problem)

    def _refuse_rename(self, field: str, **where: int | None) -> None:
        if self._instances.all(**where):
            raise ValidationFailed.single(
                field,
                "cannot be renamed while it has instances (their containers and "
                "subdomains carry the name); remove them first",
            )

    def _instances_of(self, project_id: int) -> list[Instance]:
        self._projects.get(project_id)
        return self._instances.all(project_id=project_id)

    async def _remove_instances(self, instances: Iterable[Instance]) -> None:
        for instance in instances:
            assert instance.id is not None
            await self._control.remove(instance.id, reassign_default=False)

    def _refuse_while_deploying(self, project_id: int, stage: str | None) -> None:
        self._projects.get(project_id)
        for deploy in self._deploys.unfinished():
            if deploy.project_id == project_id and stage in (None, deploy.stage_name):
                raise Conflict(
                    f"deploy #{deploy.id} ({deploy.stage_name} {deploy.tag}) is "
                    f"{deploy.status}; wait until it finishes"
                )

    def _add_stage(self, project_id: int, data: StageInput) -> Stage:
        project = self._projects.get(project_id)
        stages = self._projects.stages(project_id)
        self._check_stage(project, stages, data, current=None)
        return self._projects.add_stage(project_id, **data.model_dump(), position=len(stages))

    def _update_stage(self, project_id: int, name: str, data: StageInput) -> Stage:
        project = self._projects.get(project_id)
        row = self._projects.stage_by_name(project_id, name)
        stages = self._projects.stages(project_id)
        self._check_stage(project, stages, data, current=row)
        assert row.id is not None
        if data.name != name:
            self._refuse_rename("name", stage_id=row.id)
            self._follow_rename(stages, name, data.name)
        return self._projects.update_stage(row.id, **data.model_dump())

    def _check_stage(
        self, project: Project, stages: list[Stage], data: StageInput, current: Stage | None
    ) -> None:
        others = [s for s in stages if current is None or s.id != current.id]
        if any(s.name == data.name for s in others):
            raise Conflict(f"stage {data.name!r} already exists in this project")
        if data.promote_from is not None:
            _check_source(data, [s.name for s in others])
        if data.subdomain is not None:
            self._owners.refuse_taken(data.subdomain, current.id if current else None)

    def _follow_rename(self, stages: list[Stage], old: str, new: str) -> None:
        for stage in stages:
            if stage.promote_from == old and stage.id is not None:
                self._projects.update_stage(stage.id, promote_from=new)

    def _deletable_stage(self, project_id: int, name: str) -> Stage:
        self._refuse_while_deploying(project_id, name)
        row = self._projects.stage_by_name(project_id, name)
        sources = [s.name for s in self._projects.stages(project_id) if s.promote_from == name]
        if sources:
            raise Conflict(f"stage {', '.join(sources)} promotes from {name!r}; change it first")
        return row


def _check_source(data: StageInput, other_names: list[str]) -> None:
    if data.promote_from == data.name:
        raise ValidationFailed.single("promote_from", "a stage cannot promote from itself")
    if data.promote_from not in other_names:
        known = ", ".join(other_names) or "none"
        raise ValidationFailed.single(
            "promote_from", f"{data.promote_from!r} is not a stage of this project ({known})"
        )
