"""The volumes editor: the project's mounts, each stage's overrides, and deleting data.

A stage mount with the same target replaces the project's. Isolated mounts get one folder per
stage and tag; those folders outlive instances, so deleting them is a separate, confirmed act.
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
    confirm,
    stage_tab,
)
from services.admin.volume_config import (
    DataFolder,
    ProjectVolumesView,
    StageVolumesView,
    VolumeChange,
    VolumeConfigService,
    VolumeView,
)
from services.errors import ValidationFailed, WatcherError

MODES = {"shared": "Shared (one folder)", "isolated": "Isolated (per stage and tag)"}


@dataclass
class _Row:
    line: ui.row
    source: ui.input
    target: ui.input
    mode: ui.select
    read_only: ui.checkbox

    def change(self) -> VolumeChange | None:
        source, target = (self.source.value or "").strip(), (self.target.value or "").strip()
        if not source and not target:
            return None  # an untouched new line
        return VolumeChange(source, target, str(self.mode.value), bool(self.read_only.value))


class VolumeScope:
    """The mounts of one scope (the project, or one stage) with Add and Save."""

    def __init__(
        self,
        service: VolumeConfigService,
        project_id: int,
        stage: str | None,
        on_saved: Callable[[ProjectVolumesView], Awaitable[None]],
    ) -> None:
        self._service, self._project_id, self._stage = service, project_id, stage
        self._on_saved = on_saved
        self._tag = stage or "project"
        self._rows: list[_Row] = []
        self.empty = ui.label("No volumes: containers keep no data across deploys.")
        self.empty.classes("text-sm text-gray-500")
        self.rows = ui.column().classes("w-full gap-1")
        self.errors = FieldErrors()
        self.failure = ErrorBanner()
        with ui.row().classes("gap-2"):
            add = ui.button("Add volume", icon="add", on_click=lambda: self.add_row())
            add.props("flat").mark(f"vol-add-{self._tag}")
            self.save = ui.button("Save volumes", icon="save", on_click=self.submit)
            self.save.mark(f"vol-save-{self._tag}")

    def fill(self, volumes: tuple[VolumeView, ...]) -> None:
        self.rows.clear()
        self._rows.clear()
        for volume in volumes:
            self.add_row(volume)
        self.empty.set_visibility(not self._rows)

    def add_row(self, volume: VolumeView | None = None) -> None:
        mark = f"{self._tag}-{len(self._rows)}"
        with self.rows, ui.row().classes("w-full items-start gap-2 no-wrap") as line:
            source = ui.input("Host path or volume name", value=volume.source if volume else "")
            source.props("dense outlined").classes("grow font-mono").mark(f"vol-source-{mark}")
            target = ui.input("Path in the container", value=volume.target if volume else "")
            target.props("dense outlined").classes("grow font-mono").mark(f"vol-target-{mark}")
            mode = ui.select(MODES, value=volume.mode if volume else "shared", label="Mode")
            mode.props("dense outlined").classes("w-56").mark(f"vol-mode-{mark}")
            read_only = ui.checkbox("Read-only", value=bool(volume and volume.read_only))
            read_only.mark(f"vol-ro-{mark}")
            row = _Row(line, source, target, mode, read_only)
            drop = ui.button(icon="delete", on_click=lambda: self._drop(row))
            drop.props("flat dense round").tooltip("Delete this mount")
        self._rows.append(row)
        self.empty.set_visibility(False)

    def _drop(self, row: _Row) -> None:
        self._rows.remove(row)
        row.line.delete()
        self.empty.set_visibility(not self._rows)

    async def submit(self) -> None:
        """Send the non-empty rows; error paths index them in the order sent."""
        sent = [(row, row.change()) for row in self._rows]
        kept = [(row, change) for row, change in sent if change is not None]
        self._register_paths([row for row, _ in kept])
        self.failure.hide()
        async with busy(self.save):
            try:
                changes = [change for _, change in kept]
                view = await self._service.update(
                    self._project_id, self._stage, changes, actor=page_actor()
                )
            except ValidationFailed as exc:
                self.errors.show(exc.errors)
                return
            except WatcherError as exc:
                self.failure.show(exc, "Volumes not saved")
                return
        ui.notify("Volumes saved; they apply at the next deploy.", type="positive")
        await self._on_saved(view)

    def _register_paths(self, rows: list[_Row]) -> None:
        base = f"stages.{self._stage}.volumes" if self._stage else "volumes"
        self.errors.forget()
        for index, row in enumerate(rows):
            self.errors.add(f"{base}.{index}.source", row.source)
            self.errors.add(f"{base}.{index}.target", row.target)
            self.errors.add(f"{base}.{index}.mode", row.mode)
            self.errors.add(f"{base}.{index}", row.source)


class VolumeEditor:
    """Tabs: "Project" and one per stage, then the isolated data folders found on disk."""

    def __init__(self, service: VolumeConfigService, project_id: int) -> None:
        self._service, self._project_id = service, project_id
        self._tabs = ScopeTabs("volume-tabs")
        self.body = ui.column().classes("w-full")
        self.folders = ui.column().classes("w-full")

    async def load(self) -> None:
        await self.render(await self._service.read(self._project_id))
        await self.load_folders()

    async def render(self, view: ProjectVolumesView) -> None:
        self.body.clear()
        with self.body:
            roots = ", ".join(view.roots) or "(none configured)"
            ui.label(f"Host paths must lie under: {roots}").classes("text-sm text-gray-500")
            named = ", ".join(view.named) or "(none allowed)"
            ui.label(f"Docker volume names must match: {named}").classes("text-sm text-gray-500")
            with self._tabs.draw([s.stage for s in view.stages]):
                with ui.tab_panel(PROJECT_TAB):
                    VolumeScope(self._service, self._project_id, None, self.render).fill(
                        view.volumes
                    )
                for stage in view.stages:
                    with ui.tab_panel(stage_tab(stage.stage)):
                        self._stage_panel(stage)

    def _stage_panel(self, stage: StageVolumesView) -> None:
        ui.label(
            f"Overrides for {stage.stage}: a mount with the same target replaces the project's."
        ).classes("text-sm text-gray-500")
        VolumeScope(self._service, self._project_id, stage.stage, self.render).fill(stage.overrides)
        ui.label("Result for this stage").classes("font-medium mt-2")
        for item in stage.resolved:
            v = item.volume
            flags = f"{v.mode}{', read-only' if v.read_only else ''}, from {item.origin}"
            ui.label(f"{v.source} → {v.target} ({flags})").classes("text-sm font-mono")
        if not stage.resolved:
            ui.label("No mounts.").classes("text-sm text-gray-500")

    async def load_folders(self) -> None:
        try:
            folders = await self._service.data_folders(self._project_id)
        except WatcherError as exc:
            folders, problem = [], str(exc)
        else:
            problem = ""
        self.folders.clear()
        with self.folders:
            ui.label("Isolated data").classes("font-medium")
            if problem:
                ui.label(f"Cannot list the data folders: {problem}").classes("text-red-700")
            elif not folders:
                ui.label("No isolated data folders on disk.").classes("text-sm text-gray-500")
            for folder in folders:
                self._folder_row(folder)

    def _folder_row(self, folder: DataFolder) -> None:
        with ui.row().classes("items-center gap-3"):
            ui.label(f"{folder.stage} · {folder.tag}").classes("w-48")
            ui.label(folder.path).classes("font-mono text-sm grow")
            button = ui.button("Delete data", icon="delete_forever")
            button.props("flat color=negative").mark(f"data-delete-{folder.stage}-{folder.tag}")
            button.on_click(lambda: self._delete(folder, button))
            if folder.in_use:
                button.disable()
                button.tooltip("An instance still uses it: remove the instance first.")

    async def _delete(self, folder: DataFolder, button: ui.button) -> None:
        lines = [
            f"This permanently deletes {folder.path}",
            "and every file in it. It cannot be undone.",
        ]
        if not await confirm(f"Delete data of {folder.stage} {folder.tag}?", lines, "Delete data"):
            return
        async with busy(button):
            try:
                await self._service.delete_data(
                    self._project_id, folder.stage, folder.tag, confirm=True
                )
            except WatcherError as exc:
                ui.notify(f"Data not deleted: {exc}", type="negative", multi_line=True)
                return
        ui.notify(f"Deleted {folder.path}", type="positive")
        await self.load_folders()
