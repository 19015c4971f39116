"""A project's configuration as a deployer sees it: read only, secret values masked.

Deployers may read the configuration but not change it, so this view creates no input and no
button at all: only text (labels, never markup).
"""

from __future__ import annotations

from nicegui import ui

from pages.components.config_widgets import section
from pages.components.strategy_text import short_label
from services.admin.env_config import ProjectEnvView
from services.admin.volume_config import ProjectVolumesView
from services.views.projects import ProjectDetail


def readonly_config(
    detail: ProjectDetail, env: ProjectEnvView, volumes: ProjectVolumesView
) -> None:
    """The project, then each stage with the env and mounts its containers get."""
    project = detail.project
    with ui.row().classes("w-full items-center"):
        ui.label(f"Configuration of {project.name}").classes("text-2xl font-semibold")
        ui.space()
        ui.link("Open project page", f"/projects/{project.id}").classes("text-sm")
    ui.label("Read only: an admin changes the configuration.").classes("text-sm text-grey-7")
    with section("Project").mark("config-readonly"):
        _fact("Registry", detail.registry_name or "none (public image)")
        _fact("Image", project.image)
        _fact("Port", str(project.port))
        _fact("Health check", project.healthcheck or "none (running counts as healthy)")
    env_of = {s.stage: s for s in env.stages}
    volumes_of = {s.stage: s for s in volumes.stages}
    for staged in detail.stages:
        stage = staged.stage
        with section(f"Stage {stage.name}").mark(f"config-stage-{stage.name}"):
            _fact("Tags", stage.tag_pattern)
            _fact("Deploys", "automatically" if stage.auto_deploy else "by hand")
            if stage.promote_from:
                _fact("Promotes from", stage.promote_from)
            _fact("Instances at most", str(stage.max_instances))
            _fact("Strategy", short_label(stage.strategy))
            stage_env = env_of.get(stage.name)
            for var in stage_env.resolved if stage_env else ():
                _fact(f"env {var.key}", f"{var.value}  ({var.origin})")
            stage_volumes = volumes_of.get(stage.name)
            for mount in stage_volumes.resolved if stage_volumes else ():
                v = mount.volume
                _fact("mount", f"{v.source} → {v.target} ({v.mode}, {mount.origin})")


def _fact(name: str, value: str) -> None:
    with ui.row().classes("w-full gap-2 no-wrap"):
        ui.label(name).classes("text-sm text-grey-7 w-40 shrink-0")
        ui.label(value).classes("text-sm font-mono break-all")
