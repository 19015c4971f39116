"""The add/edit stage dialog, with a live preview of the stage's subdomain."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nicegui import ui

from pages.components import strategy_text
from pages.components.acting import page_actor
from pages.components.config_widgets import ErrorBanner, FieldErrors, busy
from services import subdomains
from services.admin.project_admin import ProjectAdmin
from services.admin.project_inputs import StageInput
from services.errors import Conflict, FieldError, ValidationFailed, WatcherError
from services.fields import MAX_INSTANCES_MAX, MAX_INSTANCES_MIN
from services.store.models import Stage

NO_SOURCE = ""


@dataclass(frozen=True)
class Naming:
    """What the subdomain preview needs: the project, the installation's pattern and domain."""

    project_id: int
    project: str
    pattern: str
    domain: str

    def preview(self, stage: str, custom: str) -> str:
        try:
            label = subdomains.render(
                self.pattern, project=self.project, stage=stage or "stage", custom=custom or None
            )
        except ValidationFailed as exc:
            return f"not a valid subdomain: {exc.errors[0].message}"
        return f"{label}.{self.domain or 'your-domain'}"


class StageDialog:
    """`await StageDialog(...).dialog` is True once the stage was saved."""

    def __init__(
        self, admin: ProjectAdmin, naming: Naming, others: list[str], current: Stage | None
    ) -> None:
        self._admin, self._naming, self._current = admin, naming, current
        self.errors = FieldErrors()
        with ui.dialog().props("persistent") as self.dialog, ui.card().classes("w-[34rem] gap-2"):
            title = f"Edit stage {current.name}" if current else "Add a stage"
            ui.label(title).classes("text-lg font-semibold")
            self._fields(current or Stage(project_id=naming.project_id, name=""), others)
            self.preview = ui.label().classes("text-sm text-gray-600").mark("stage-preview")
            self.failure = ErrorBanner()
            with ui.row().classes("w-full justify-end gap-2"):
                ui.button("Cancel", on_click=lambda: self.dialog.submit(False)).props("flat")
                self.save = ui.button("Save stage", icon="save", on_click=self.submit)
                self.save.mark("stage-save")
        self._update_preview()

    def _fields(self, stage: Stage, others: list[str]) -> None:
        with ui.grid(columns=2).classes("w-full gap-x-4 gap-y-4"):
            self.name = self._add("name", ui.input("Name", value=stage.name))
            self.pattern = self._add(
                "tag_pattern", ui.input("Tag pattern", value=stage.tag_pattern)
            )
            self.pattern.props('hint="shell glob, e.g. dev-* or v*"')
            self.max = self._add(
                "max_instances",
                ui.number(
                    "Max instances",
                    value=stage.max_instances,
                    min=MAX_INSTANCES_MIN,
                    max=MAX_INSTANCES_MAX,
                    precision=0,
                ),
            )
            sources = {NO_SOURCE: "No (any matching tag)"} | {name: name for name in others}
            self.source = self._add(
                "promote_from",
                ui.select(sources, value=stage.promote_from or NO_SOURCE, label="Promote from"),
            )
            self.subdomain = self._add(
                "subdomain", ui.input("Custom subdomain", value=stage.subdomain or "")
            )
            self.subdomain.props('hint="e.g. launcher; empty: the pattern"')
            self.certificate = self._add(
                "certificate_id",
                ui.number("NPM certificate id", value=stage.certificate_id, min=1, precision=0),
            )
            self.certificate.props('hint="empty: the settings\' one, else a matching one"')
            self.strategy = self._add(
                "strategy",
                ui.select(strategy_text.LABELS, value=str(stage.strategy), label="Strategy"),
            )
            self.strategy.tooltip(strategy_text.TOOLTIP)
        self._switches(stage)
        for field in (self.name, self.subdomain):
            field.on_value_change(self._update_preview)

    def _switches(self, stage: Stage) -> None:
        with ui.row().classes("gap-4"):
            self.auto = ui.switch("Deploy new tags automatically", value=stage.auto_deploy)
            self.confirm = ui.switch("Ask before each deploy", value=stage.confirm)
        self.auto.mark("stage-auto")
        self.confirm.mark("stage-confirm")

    def _add(self, path: str, field: Any) -> Any:
        field.props("outlined dense").classes("w-full").mark(f"stage-{path}")
        self.errors.add(path, field)
        return field

    def _update_preview(self) -> None:
        name, custom = (self.name.value or "").strip(), (self.subdomain.value or "").strip()
        self.preview.set_text(f"Stage address: {self._naming.preview(name, custom)}")

    def _read(self) -> StageInput | None:
        values = {
            "name": (self.name.value or "").strip(),
            "tag_pattern": (self.pattern.value or "").strip(),
            "max_instances": int(self.max.value) if self.max.value is not None else None,
            "promote_from": self.source.value or None,
            "subdomain": (self.subdomain.value or "").strip(),
            "auto_deploy": bool(self.auto.value),
            "confirm": bool(self.confirm.value),
            "certificate_id": int(self.certificate.value) if self.certificate.value else None,
            "strategy": self.strategy.value,
        }
        try:
            return StageInput.parse(values)
        except ValidationFailed as exc:
            self.errors.show(exc.errors)
            return None

    async def submit(self) -> None:
        data = self._read()
        if data is None:
            return
        self.errors.clear()
        self.failure.hide()
        async with busy(self.save):
            try:
                await self._store(data)
            except ValidationFailed as exc:
                self.errors.show(exc.errors)
                return
            except Conflict as exc:
                self.errors.show([FieldError(_conflict_field(str(exc)), str(exc))])
                return
            except WatcherError as exc:
                self.failure.show(exc, "Stage not saved")
                return
        self.dialog.submit(True)

    async def _store(self, data: StageInput) -> None:
        if self._current is None:
            await self._admin.add_stage(self._naming.project_id, data, actor=page_actor())
        else:
            name = self._current.name
            await self._admin.update_stage(self._naming.project_id, name, data, actor=page_actor())


def _conflict_field(message: str) -> str:
    """A stage conflicts by its name or by its subdomain; the message says which."""
    return "subdomain" if message.startswith("subdomain") else "name"
