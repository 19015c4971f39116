"""The project's own fields (name, registry, image, port, health check) as one form."""

from __future__ import annotations

from typing import Any

from nicegui import ui

from pages.components.config_widgets import FieldErrors
from services.admin.project_inputs import ProjectInput
from services.admin.registry_admin import RegistryView
from services.errors import Conflict, FieldError, ValidationFailed
from services.fields import (
    HEALTHCHECK_RETRIES_MAX,
    HEALTHCHECK_RETRIES_MIN,
    HEALTHCHECK_SECONDS_MAX,
    PORT_MAX,
    PORT_MIN,
    PROJECT_DEFAULTS,
)
from services.store.models import Project

NO_REGISTRY = 0  # select value for "public images, no credentials"


class ProjectForm:
    """Inputs bound to nothing: `read()` parses them, `show_error` puts errors beside them."""

    def __init__(self, registries: list[RegistryView], project: Project | None) -> None:
        self.errors = FieldErrors()
        options = {NO_REGISTRY: "None (public images)"} | {r.id: r.name for r in registries}
        with ui.grid(columns=2).classes("w-full gap-x-4 gap-y-4"):
            self.name = self._input("name", "Name", project.name if project else "")
            self.name.props('hint="lowercase letters, digits and dashes; used in subdomains"')
            registry = project.registry_id if project and project.registry_id else NO_REGISTRY
            self.registry = ui.select(options, value=registry, label="Registry")
            self._style("registry_id", self.registry)
            self.image = self._input("image", "Image", project.image if project else "")
            self.image.props('hint="repository without tag, e.g. ghcr.io/owner/app"')
            self.port = ui.number(
                "Container port",
                value=(project or PROJECT_DEFAULTS).port,
                min=PORT_MIN,
                max=PORT_MAX,
                step=1,
            )
            self._style("port", self.port)
            self.healthcheck = self._input(
                "healthcheck", "Health check path", (project.healthcheck or "") if project else ""
            )
            self.healthcheck.props('hint="e.g. /health; empty: Docker\'s own check or running"')
        self._timing(project)
        if not registries:
            ui.label("No registry yet: add one in Settings to pull private images.").classes(
                "text-sm text-gray-500"
            )

    def _timing(self, project: Project | None) -> None:
        """Retries, interval and timeout; a new project starts with the fields' defaults.

        The seconds have no floor here: they must be above 0, which a minimum cannot say, so
        saving 0 shows the field's own message instead.
        """
        shown = project or PROJECT_DEFAULTS
        expansion = ui.expansion("Health check timing", icon="timer").classes("w-full")
        with expansion, ui.row().classes("gap-4"):
            self.retries = ui.number(
                "Retries",
                value=shown.healthcheck_retries,
                min=HEALTHCHECK_RETRIES_MIN,
                max=HEALTHCHECK_RETRIES_MAX,
                step=1,
            )
            self._style("healthcheck_retries", self.retries)
            self.interval = ui.number(
                "Interval (s)", value=shown.healthcheck_interval, max=HEALTHCHECK_SECONDS_MAX
            )
            self._style("healthcheck_interval", self.interval)
            self.timeout = ui.number(
                "Timeout (s)", value=shown.healthcheck_timeout, max=HEALTHCHECK_SECONDS_MAX
            )
            self._style("healthcheck_timeout", self.timeout)

    def _input(self, path: str, label: str, value: str) -> ui.input:
        field = ui.input(label, value=value)
        self._style(path, field)
        return field

    def _style(self, path: str, field: Any) -> None:
        field.props("outlined dense").classes("w-full").mark(f"project-{path}")
        self.errors.add(path, field)

    def read(self) -> ProjectInput | None:
        """The typed values as a ProjectInput, or None after showing what is wrong."""
        values = {
            "name": (self.name.value or "").strip(),
            "registry_id": self.registry.value or None,
            "image": (self.image.value or "").strip(),
            "port": _whole(self.port.value),
            "healthcheck": (self.healthcheck.value or "").strip(),
            "healthcheck_retries": _whole(self.retries.value),
            "healthcheck_interval": self.interval.value,
            "healthcheck_timeout": self.timeout.value,
        }
        try:
            data = ProjectInput.parse(values)
        except ValidationFailed as exc:
            self.errors.show(exc.errors)
            return None
        self.errors.clear()
        return data

    def show_error(self, exc: ValidationFailed | Conflict) -> None:
        """A taken name is the only conflict a project's own fields can cause."""
        errors = exc.errors if isinstance(exc, ValidationFailed) else [FieldError("name", str(exc))]
        self.errors.show(errors)


def _whole(value: float | None) -> int | float | None:
    """ui.number gives floats; a whole number goes to the strict int fields as an int."""
    return int(value) if value is not None and float(value).is_integer() else value
