"""Project page: stages with their instances and controls, "Deploy new version", tags
waiting for a person, and the deploy history with the live log of a running deploy.

The page reads one view from the overview service and rebuilds its body when the live board
reports a change to this project; deploy steps and log lines stream into their views without a
rebuild. `?deploy=<id>` opens that deploy's log (quick deploy lands here).
"""

from __future__ import annotations

from nicegui import ui

from pages.components.config_widgets import ErrorBanner
from pages.components.deploy_dialog import DeployDialog
from pages.components.deps import PageServices
from pages.components.history import History
from pages.components.instances import InstanceRows
from pages.components.live_view import follow
from pages.components.roles import can, page_role
from pages.components.rollback import RollbackControl
from pages.components.strategy_text import explained, short_label
from pages.layout import frame
from services.errors import NotFound
from services.store.models import Role
from services.views.live_board import Change, Coalescer
from services.views.models import ProjectView, StageView, WaitingTag

PROJECT_KINDS = ("instance", "deploy", "tag", "card")
CLOCK_SECONDS = 30.0


def register(deps: PageServices) -> None:
    @ui.page("/projects/{project_id}")
    async def project_page(project_id: int, deploy: int | None = None) -> None:
        try:
            view = await deps.overview.project(project_id)
        except NotFound:
            with frame("Project not found", deps.status):
                ui.label(f"There is no project #{project_id}.").classes("text-lg")
                ui.link("Back to the dashboard", "/")
            return
        with frame(view.name, deps.status):
            _ProjectPage(deps, view, deploy)


class _ProjectPage:
    def __init__(self, deps: PageServices, view: ProjectView, focus: int | None) -> None:
        self._deps, self._view = deps, view
        self._client = ui.context.client
        self._role = role = page_role()  # what is built below depends on it
        _header(view, can(Role.DEPLOYER, role))  # deployers read it, admins change it
        self._panel = ErrorBanner()
        self._host = ui.element("div")  # dialogs live here, out of the refreshed body's reach
        self._rows = InstanceRows(deps, view.id, self._panel, self._host, role)
        self._dialog = DeployDialog(deps, view.id, self._host, role)
        self._rollback = RollbackControl(deps, view.id, self._panel, self._host, role)
        self._history = History(deps, focus)
        self._reload = Coalescer(self._load)
        self.body()
        follow(deps.live, self._changed)
        ui.timer(CLOCK_SECONDS, self._rows.tick)

    @ui.refreshable_method
    def body(self) -> None:
        self._rows.clocks.clear()
        for stage in self._view.stages:
            self._stage(stage)
        if self._view.waiting:
            self._waiting(self._view.waiting)
        self._history.render(self._view.history)

    def _changed(self, change: Change) -> None:
        if change.project_id == self._view.id and change.kind in PROJECT_KINDS:
            self._reload.poke()

    async def _load(self) -> None:
        try:
            self._view = await self._deps.overview.project(self._view.id)
        except NotFound:
            with self._client:  # this runs in a task started by the bus, outside the page
                ui.navigate.to("/")  # the project was deleted meanwhile
            return
        self.body.refresh()

    def _stage(self, stage: StageView) -> None:
        with ui.card().classes("w-full gap-1").mark(f"stage-{stage.name}"):
            with ui.row().classes("w-full items-center gap-2"):
                ui.label(stage.name).classes("text-lg font-semibold")
                _stage_badges(stage)
                ui.space()
                if can(Role.DEPLOYER, self._role):
                    self._rollback.button(stage)
                    ui.button(
                        "Deploy new version",
                        icon="rocket_launch",
                        on_click=lambda: self._dialog.open(stage),
                    ).props("outline").mark(f"deploy-new-{stage.name}")
            self._rollback.image_note(stage)
            self._rows.render(stage.instances)

    def _waiting(self, waiting: tuple[WaitingTag, ...]) -> None:
        stages = {s.name: s for s in self._view.stages}
        with ui.card().classes("w-full gap-1 bg-amber-50").mark("waiting"):
            ui.label("Waiting for you").classes("text-lg font-semibold")
            ui.label("New tags in the registry for stages that deploy by hand.").classes(
                "text-sm text-grey-7"
            )
            for tag in waiting:
                with ui.row().classes("w-full items-center gap-3 border-t border-amber-100 py-1"):
                    ui.label(tag.tag).classes("font-mono font-semibold")
                    ui.label(tag.digest).classes("font-mono text-xs text-grey-7")
                    ui.space()
                    for name in tag.stages if can(Role.DEPLOYER, self._role) else ():
                        ui.button(
                            f"Deploy to {name}",
                            on_click=lambda s=stages[name], t=tag.tag: self._dialog.open(s, t),
                        ).props("flat dense no-caps")


def _header(view: ProjectView, configurable: bool) -> None:
    with ui.row().classes("w-full items-end justify-between"):
        with ui.column().classes("gap-0"):
            ui.link("← Dashboard", "/").classes("text-sm text-grey-7 no-underline")
            ui.label(view.name).classes("text-2xl font-semibold")
            details = f"{view.image} · port {view.port}"
            if view.healthcheck:
                details += f" · health {view.healthcheck}"
            ui.label(details).classes("text-sm text-grey-7 font-mono")
        if configurable:
            configure = ui.button("Configure", icon="settings").props("flat no-caps")
            configure.mark("configure").on_click(
                lambda: ui.navigate.to(f"/projects/{view.id}/settings")
            )


def _stage_badges(stage: StageView) -> None:
    def badge(text: str, color: str = "blue-grey-1", fg: str = "blue-grey-9") -> ui.badge:
        return ui.badge(text, color=color, text_color=fg).props("rounded")

    badge(stage.tag_pattern)
    badge("auto-deploy" if stage.auto_deploy else "manual")
    if stage.promote_from:
        badge(f"promotes from {stage.promote_from}", "indigo-1", "indigo-9")
    if stage.confirm:
        badge("asks to confirm", "amber-2", "amber-10")
    badge(f"max {stage.max_instances}")
    strategy = badge(short_label(stage.strategy), "teal-1", "teal-9").mark(f"strategy-{stage.name}")
    strategy.tooltip(explained(stage.strategy))
