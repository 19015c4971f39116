"""The env editor: the project's variables, and each stage's overrides beside what results.

Secret values never come back from the service (they arrive as the mask), so a stored secret's
field starts empty: leaving it empty keeps the stored value, typing replaces it. A stage row
can "remove" a project variable for that stage (the service's `unset`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from nicegui import ui

from pages.components.acting import page_actor
from pages.components.config_widgets import (
    PROJECT_TAB,
    ErrorBanner,
    FieldErrors,
    ScopeTabs,
    busy,
    stage_tab,
)
from services.admin.env_config import (
    EnvChange,
    EnvConfigService,
    EnvEntryView,
    ProjectEnvView,
    StageEnvView,
)
from services.env_rules import key_path
from services.errors import ValidationFailed, WatcherError
from services.redaction import MASK

KEEP_HINT = "stored secret: leave empty to keep it"


@dataclass
class _Row:
    """One editable line; `stored_secret` says the server holds a value we cannot show."""

    line: ui.row
    key: ui.input
    value: ui.input
    secret: ui.checkbox
    unset: ui.checkbox | None
    stored_secret: bool

    def change(self) -> EnvChange | None:
        key, value = (self.key.value or "").strip(), self.value.value or ""
        unset = bool(self.unset and self.unset.value)
        if not key and not value:
            return None  # an untouched new line
        secret = bool(self.secret.value)
        if unset:
            return EnvChange(key, None, secret, unset=True)
        if self.stored_secret and value == "":
            # kept as is; un-ticking Secret without retyping is refused by the service (MASK)
            return EnvChange(key, None if secret else MASK, secret)
        return EnvChange(key, value, secret)


class EnvScope:
    """The rows of one scope (the project, or one stage) with Add and Save."""

    def __init__(
        self,
        service: EnvConfigService,
        project_id: int,
        stage: str | None,
        on_saved: Callable[[ProjectEnvView], Awaitable[None]],
    ) -> None:
        self._service, self._project_id, self._stage = service, project_id, stage
        self._on_saved = on_saved
        self._tag = stage or "project"
        self._rows: list[_Row] = []
        self.rows = ui.column().classes("w-full gap-1")
        self.errors = FieldErrors()
        self.failure = ErrorBanner()
        with ui.row().classes("gap-2"):
            add = ui.button("Add variable", icon="add", on_click=lambda: self.add_row())
            add.props("flat").mark(f"env-add-{self._tag}")
            self.save = ui.button("Save env", icon="save", on_click=self.submit)
            self.save.mark(f"env-save-{self._tag}")

    def fill(self, entries: tuple[EnvEntryView, ...]) -> None:
        self.rows.clear()
        self._rows.clear()
        for entry in entries:
            self.add_row(entry)
        if not entries:
            self.add_row()

    def add_row(self, entry: EnvEntryView | None = None, *, unset: bool = False) -> None:
        index, stored = len(self._rows), bool(entry and entry.secret and not entry.unset)
        mark = f"{self._tag}-{index}"
        with self.rows, ui.row().classes("w-full items-start gap-2 no-wrap") as line:
            key = ui.input("Name", value=entry.key if entry else "").props("dense outlined")
            key.classes("w-64 font-mono").mark(f"env-key-{mark}")
            value = ui.input("Value", value="" if stored or not entry else entry.value or "")
            value.props("dense outlined").classes("grow font-mono").mark(f"env-value-{mark}")
            if stored:
                value.props("stack-label")
                value.props.update(placeholder="••••••••", hint=KEEP_HINT)
            secret = ui.checkbox("Secret", value=bool(entry and entry.secret))
            secret.mark(f"env-secret-{mark}").on_value_change(lambda: _mask(value, secret))
            _mask(value, secret)
            removed = self._unset_box(mark, unset or bool(entry and entry.unset), value)
            row = _Row(line, key, value, secret, removed, stored)
            drop = ui.button(icon="delete", on_click=lambda: self._drop(row))
            drop.props("flat dense round").tooltip("Delete this variable")
        self._rows.append(row)

    def _unset_box(self, mark: str, checked: bool, value: ui.input) -> ui.checkbox | None:
        if self._stage is None:
            return None  # only a stage can remove a project variable
        box = ui.checkbox("Remove in stage", value=checked).mark(f"env-unset-{mark}")
        value.bind_enabled_from(box, "value", backward=lambda v: not v)
        return box

    def _drop(self, row: _Row) -> None:
        self._rows.remove(row)
        row.line.delete()

    async def submit(self) -> None:
        changes = [c for c in (row.change() for row in self._rows) if c is not None]
        self._register_paths()
        self.failure.hide()
        async with busy(self.save):
            try:
                view = await self._service.update(
                    self._project_id, self._stage, changes, actor=page_actor()
                )
            except ValidationFailed as exc:
                self.errors.show(exc.errors)
                return
            except WatcherError as exc:
                self.failure.show(exc, "Env not saved")
                return
        ui.notify("Env saved; it applies at the next deploy.", type="positive")
        await self._on_saved(view)

    def _register_paths(self) -> None:
        base = f"stages.{self._stage}.env" if self._stage else "env"
        self.errors.forget()
        for row in self._rows:
            self.errors.add(key_path(base, (row.key.value or "").strip()), row.key)


def _mask(value: ui.input, secret: ui.checkbox) -> None:
    """A secret's value is typed like a password."""
    if secret.value:
        value.props("type=password")
    else:
        value.props(remove="type")


class EnvEditor:
    """Tabs: "Project" and one per stage; a stage tab also lists the env its containers get."""

    def __init__(self, service: EnvConfigService, project_id: int) -> None:
        self._service, self._project_id = service, project_id
        self._tabs = ScopeTabs("env-tabs")
        self.body = ui.column().classes("w-full")

    async def load(self) -> None:
        await self.render(await self._service.read(self._project_id))

    async def render(self, view: ProjectEnvView) -> None:
        """(Re)draw every scope, staying on the tab the person was on."""
        self.body.clear()
        with self.body, self._tabs.draw([s.stage for s in view.stages]):
            with ui.tab_panel(PROJECT_TAB):
                ui.label("Every stage gets these unless it overrides them.").classes(
                    "text-sm text-gray-500"
                )
                EnvScope(self._service, self._project_id, None, self.render).fill(view.entries)
            for stage in view.stages:
                with ui.tab_panel(stage_tab(stage.stage)):
                    self._stage_panel(stage)

    def _stage_panel(self, stage: StageEnvView) -> None:
        ui.label(f"Overrides for {stage.stage}: a value here replaces the project's.").classes(
            "text-sm text-gray-500"
        )
        scope = EnvScope(self._service, self._project_id, stage.stage, self.render)
        scope.fill(stage.overrides)
        _resolved_table(stage)


def _resolved_table(stage: StageEnvView) -> None:
    """What a container of this stage gets, and where each value comes from."""
    ui.label("Result for this stage").classes("font-medium mt-2")
    if not stage.resolved and not stage.removed:
        ui.label("No variables: add some to the project or to this stage.").classes(
            "text-sm text-gray-500"
        )
        return
    with ui.grid(columns="auto 1fr auto").classes("w-full gap-x-6 gap-y-1 text-sm"):
        for head in ("Name", "Value", "From"):
            ui.label(head).classes("font-medium text-gray-500")
        for item in stage.resolved:
            ui.label(item.key).classes("font-mono")
            ui.label(item.value).classes("font-mono break-all")
            ui.label(item.origin)
        for key in stage.removed:
            ui.label(key).classes("font-mono line-through text-gray-500")
            ui.label("(removed in this stage)").classes("text-gray-500")
            ui.label("stage")
