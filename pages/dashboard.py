"""Dashboard (placeholder until the web UI issue): engine status and what to do next."""

from __future__ import annotations

from nicegui import ui

from pages.layout import frame
from services.status import SystemStatus


def register(status: SystemStatus) -> None:
    @ui.page("/")
    async def dashboard() -> None:
        with frame("Dashboard", status):
            ui.label("Dashboard").classes("text-2xl font-semibold")
            with ui.card().classes("w-full"):
                ui.label("Docker Engine").classes("font-semibold")
                ui.label().bind_text_from(status, "docker", backward=lambda c: c.detail)
                ui.label(
                    "Docker Watcher cannot deploy until the engine is reachable: check that "
                    "/var/run/docker.sock (or DOCKER_HOST) is mounted and readable."
                ).bind_visibility_from(status, "docker", backward=lambda c: not c.ok).classes(
                    "text-red-600"
                )
            ui.label("No projects yet. Add a registry, then a project, or quick-deploy an image.")
