"""Project configuration: /projects/new and /projects/{id}/settings.

The page lays out the project form, its stages, the env and volume editors and the delete
action; every change is one call to a service, which validates it and saves it whole.
"""

from __future__ import annotations

from dataclasses import dataclass

from nicegui import ui

from pages.components.acting import page_actor
from pages.components.config_env import EnvEditor
from pages.components.config_project_form import ProjectForm
from pages.components.config_readonly import readonly_config
from pages.components.config_stage_form import Naming
from pages.components.config_stages import StagesSection
from pages.components.config_volumes import VolumeEditor
from pages.components.config_widgets import ErrorBanner, busy, confirm, section
from pages.components.roles import can, not_allowed
from pages.layout import frame
from services.admin.env_config import EnvConfigService
from services.admin.project_admin import ProjectAdmin, ProjectDetail
from services.admin.registry_admin import RegistryAdmin
from services.admin.settings_admin import SettingsAdmin
from services.admin.volume_config import VolumeConfigService
from services.errors import Conflict, NotFound, ValidationFailed, WatcherError
from services.store.models import Role
from services.views.system_status import SystemStatus


@dataclass(frozen=True)
class ConfigServices:
    """What the configuration pages call."""

    projects: ProjectAdmin
    registries: RegistryAdmin
    settings: SettingsAdmin
    env: EnvConfigService
    volumes: VolumeConfigService
    status: SystemStatus


def register(services: ConfigServices) -> None:
    @ui.page("/projects/new")
    async def new_project() -> None:
        with frame("New project", services.status):
            if not can(Role.ADMIN):
                not_allowed(Role.ADMIN, "Creating a project")
                return
            await _NewProject(services).build()

    @ui.page("/projects/{project_id}/settings")
    async def project_settings(project_id: int) -> None:
        with frame("Project settings", services.status):
            if can(Role.ADMIN):
                await _ProjectSettings(services, project_id).build()
            elif can(Role.DEPLOYER):
                await _read_only(services, project_id)
            else:
                not_allowed(Role.DEPLOYER, "A project's configuration")


async def _read_only(services: ConfigServices, project_id: int) -> None:
    """Deployers read the configuration; nothing on it changes anything."""
    try:
        detail = await services.projects.get(project_id)
        env, volumes = await services.env.read(project_id), await services.volumes.read(project_id)
    except NotFound:
        ui.label("This project does not exist (any more).").classes("text-lg")
        return
    readonly_config(detail, env, volumes)


class _NewProject:
    def __init__(self, services: ConfigServices) -> None:
        self._services = services

    async def build(self) -> None:
        ui.label("New project").classes("text-2xl font-semibold")
        registries = await self._services.registries.list()
        with section("Project", "Stages, env and volumes come next, once it is saved."):
            self.form = ProjectForm(registries, None)
            self.failure = ErrorBanner()
            self.save = ui.button("Create project", icon="add", on_click=self.submit)
            self.save.mark("project-save")

    async def submit(self) -> None:
        data = self.form.read()
        if data is None:
            return
        self.failure.hide()
        async with busy(self.save):
            try:
                project = await self._services.projects.create_project(data, actor=page_actor())
            except (ValidationFailed, Conflict) as exc:
                self.form.show_error(exc)
                return
            except WatcherError as exc:
                self.failure.show(exc, "Project not created")
                return
        ui.notify(f"Project {project.name} created. Add a stage next.", type="positive")
        ui.navigate.to(f"/projects/{project.id}/settings")


class _ProjectSettings:
    def __init__(self, services: ConfigServices, project_id: int) -> None:
        self._services, self._id = services, project_id

    async def build(self) -> None:
        try:
            detail = await self._services.projects.get(self._id)
        except NotFound:
            ui.label("This project does not exist (any more).").classes("text-lg")
            ui.link("Back to the dashboard", "/")
            return
        self._heading(detail)
        registries = await self._services.registries.list()
        settings = await self._services.settings.get_global()
        with section("Project"):
            self.form = ProjectForm(registries, detail.project)
            self.failure = ErrorBanner()
            self.save = ui.button("Save project", icon="save", on_click=self.submit)
            self.save.mark("project-save")
        naming = Naming(self._id, detail.project.name, settings.subdomain_pattern, settings.domain)
        with section("Stages", "Which tags deploy where, and how."):
            self.stages = ui.column().classes("w-full gap-2")
        self._naming = naming
        self._render_stages(detail)
        await self._editors()
        self._danger(detail)

    def _heading(self, detail: ProjectDetail) -> None:
        with ui.row().classes("w-full items-center"):
            ui.label(f"Configure {detail.project.name}").classes("text-2xl font-semibold")
            ui.space()
            ui.link("Open project page", f"/projects/{self._id}").classes("text-sm")

    def _render_stages(self, detail: ProjectDetail) -> None:
        self.stages.clear()
        with self.stages:
            StagesSection(self._services.projects, self._naming, detail.stages, self.reload)

    async def reload(self) -> None:
        """After a stage changed: stages, and the editors' stage tabs, follow."""
        self._render_stages(await self._services.projects.get(self._id))
        await self.env.load()
        await self.volumes.load()

    async def _editors(self) -> None:
        with section("Environment", "Values marked secret are stored encrypted, never shown."):
            self.env = EnvEditor(self._services.env, self._id)
        with section("Volumes", "Shared: one folder for every instance; isolated: one per tag."):
            self.volumes = VolumeEditor(self._services.volumes, self._id)
        await self.env.load()
        await self.volumes.load()

    def _danger(self, detail: ProjectDetail) -> None:
        with section("Delete project").classes("border border-red-200"):
            ui.label("Removes every instance, the stages and their settings.").classes("text-sm")
            self.delete_failure = ErrorBanner()
            button = ui.button("Delete project", icon="delete_forever")
            button.props("color=negative").mark("project-delete")
            button.on_click(lambda: self.delete(detail, button))

    async def submit(self) -> None:
        data = self.form.read()
        if data is None:
            return
        self.failure.hide()
        async with busy(self.save):
            try:
                await self._services.projects.update_project(self._id, data, actor=page_actor())
            except (ValidationFailed, Conflict) as exc:
                self.form.show_error(exc)
                return
            except WatcherError as exc:
                self.failure.show(exc, "Project not saved")
                return
        ui.notify("Project saved; changes apply at the next deploy.", type="positive")

    async def delete(self, detail: ProjectDetail, button: ui.button) -> None:
        actor = page_actor()  # before any await: the clicked element may be re-rendered meanwhile
        name = detail.project.name
        if not await confirm(f"Delete project {name}?", _what_goes(detail), "Delete project"):
            return
        async with busy(button):
            try:
                await self._services.projects.delete_project(self._id, actor=actor)
            except WatcherError as exc:
                self.delete_failure.show(exc, "Project not deleted")
                return
        ui.notify(f"Project {name} deleted.", type="positive")
        ui.navigate.to("/")


def _what_goes(detail: ProjectDetail) -> list[str]:
    stages = [s.stage.name for s in detail.stages]
    instances = [f"{s.stage.name} {i.tag}" for s in detail.stages for i in s.instances]
    lines = [
        f"The project {detail.project.name}, its env and volume settings and its deploy "
        "rules are removed.",
        f"Stages: {', '.join(stages)}." if stages else "It has no stages.",
    ]
    if instances:
        lines.append(
            f"{len(instances)} instance(s) are stopped and removed with their proxy hosts: "
            f"{', '.join(instances)}."
        )
    lines.append("Deploy history and data folders on disk are kept.")
    return lines
