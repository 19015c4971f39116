"""The stages of a project: one line each with its rules, and Add, Edit, Delete."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from nicegui import ui

from pages.components import strategy_text
from pages.components.acting import page_actor
from pages.components.config_stage_form import Naming, StageDialog
from pages.components.config_widgets import ErrorBanner, confirm
from services.admin.project_admin import ProjectAdmin, StageDetail
from services.errors import WatcherError


class StagesSection:
    """Renders `stages`; after any change calls `reload` (the page re-reads the project)."""

    def __init__(
        self,
        admin: ProjectAdmin,
        naming: Naming,
        stages: tuple[StageDetail, ...],
        reload: Callable[[], Awaitable[None]],
    ) -> None:
        self._admin, self._naming, self._reload = admin, naming, reload
        self._names = [s.stage.name for s in stages]
        self.failure = ErrorBanner()
        if not stages:
            ui.label(
                "No stages yet: a stage says which tags deploy where (e.g. dev for dev-*, "
                "prod for v*). Add one so new tags get deployed."
            ).classes("text-sm text-gray-500").mark("stages-empty")
        for detail in stages:
            self._line(detail)
        add = ui.button("Add stage", icon="add", on_click=lambda: self.edit(None))
        add.mark("stage-add")

    def _line(self, detail: StageDetail) -> None:
        stage = detail.stage
        with ui.card().props("flat bordered").classes("w-full p-3 gap-1"):
            with ui.row().classes("w-full items-center gap-2"):
                ui.label(stage.name).classes("font-semibold text-base")
                ui.label(f"tags {stage.tag_pattern}").classes("font-mono text-sm text-gray-600")
                for text, colour in _chips(detail):
                    ui.badge(text, color=colour, outline=True)
                ui.space()
                edit = ui.button(icon="edit", on_click=lambda: self.edit(detail))
                edit.props("flat dense round").tooltip("Edit").mark(f"stage-edit-{stage.name}")
                drop = ui.button(icon="delete", on_click=lambda: self.delete(detail))
                drop.props("flat dense round color=negative").tooltip("Delete")
                drop.mark(f"stage-delete-{stage.name}")
            address = self._naming.preview(stage.name, stage.subdomain or "")
            ui.label(f"Address: {address}").classes("text-sm text-gray-600")

    async def edit(self, detail: StageDetail | None) -> None:
        current = detail.stage if detail else None
        others = [n for n in self._names if current is None or n != current.name]
        form = StageDialog(self._admin, self._naming, others, current)
        saved = await form.dialog
        form.dialog.delete()
        if saved:
            ui.notify("Stage saved.", type="positive")
            await self._reload()

    async def delete(self, detail: StageDetail) -> None:
        actor = page_actor()  # before any await: the clicked element may be re-rendered meanwhile
        name = detail.stage.name
        if not await confirm(f"Delete stage {name}?", _what_goes(detail), "Delete stage"):
            return
        try:
            await self._admin.delete_stage(self._naming.project_id, name, actor=actor)
        except WatcherError as exc:
            self.failure.show(exc, f"Stage {name} not deleted")
            return
        ui.notify(f"Stage {name} deleted.", type="positive")
        await self._reload()


def _chips(detail: StageDetail) -> list[tuple[str, str]]:
    stage = detail.stage
    chips = [("auto-deploy", "positive")] if stage.auto_deploy else [("manual", "grey")]
    if stage.confirm:
        chips.append(("asks before deploying", "warning"))
    if stage.promote_from:
        chips.append((f"promotes from {stage.promote_from}", "primary"))
    chips.append((f"max {stage.max_instances}", "grey"))
    chips.append((strategy_text.short_label(stage.strategy), "primary"))
    chips.append((f"{len(detail.instances)} instance(s)", "grey"))
    return chips


def _what_goes(detail: StageDetail) -> list[str]:
    lines = [f"The stage {detail.stage.name}, its env and volume overrides are removed."]
    if detail.instances:
        tags = ", ".join(i.tag for i in detail.instances)
        lines.append(
            f"Its {len(detail.instances)} instance(s) ({tags}) are stopped and removed with "
            "their proxy hosts."
        )
    else:
        lines.append("No instance runs in it.")
    lines.append("Isolated data folders on disk are kept.")
    return lines
