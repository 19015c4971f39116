"""Dashboard: every project with its status lights, running count and latest activity.

The cards come from the live board and are drawn by one grid element; when the board reports a
project's card changed, the grid's rows are replaced in every open tab within the same event
loop turn. With no project yet, the page explains the first steps instead.
"""

from __future__ import annotations

from nicegui import ui

from pages.components.deps import PageServices
from pages.components.live_view import follow
from pages.components.project_grid import ProjectGrid
from pages.components.roles import can
from pages.layout import frame
from services.store.models import Role
from services.views.live_board import Change, LiveBoard
from services.views.models import Light, ProjectCard

AGO_SECONDS = 60.0  # how often "5 min ago" texts are redrawn (from memory)


def register(deps: PageServices) -> None:
    @ui.page("/")
    async def dashboard() -> None:
        await deps.live.load_cards()
        with frame("Dashboard", deps.status):
            _Dashboard(deps.live)


class _Dashboard:
    def __init__(self, board: LiveBoard) -> None:
        self._board = board
        self._grid: ProjectGrid | None = None
        with ui.row().classes("w-full items-center gap-4"):
            with ui.column().classes("gap-0"):
                ui.label("Projects").classes("text-2xl font-semibold")
                self._summary = ui.label().classes("text-sm text-grey-7").mark("summary")
            ui.space()
            self._filter = ui.input(placeholder="Filter projects").props("dense outlined clearable")
            self._filter.classes("w-64").mark("filter")
            if can(Role.ADMIN):  # it creates a project
                button = ui.button("Quick deploy", icon="rocket_launch").mark("quick-deploy")
                button.on_click(lambda: ui.navigate.to("/quick-deploy"))
        self.content()
        follow(board, self._changed)
        ui.timer(AGO_SECONDS, lambda: self._grid.refresh_times() if self._grid else None)

    @ui.refreshable_method
    def content(self) -> None:
        cards = self._board.cards()
        self._summary.set_text(_summary(cards))
        self._filter.set_visibility(bool(cards))
        if not cards:
            self._grid = None
            _empty_state()
            return
        self._grid = ProjectGrid(cards).mark("projects")
        self._grid.bind_filter_from(self._filter, "value")

    def _changed(self, change: Change) -> None:
        if change.kind != "card":
            return
        cards = self._board.cards()
        if self._grid is None or not cards:
            self.content.refresh()  # the first project came, or the last one went
            return
        self._grid.show(cards)
        self._summary.set_text(_summary(cards))


def _summary(cards: list[ProjectCard]) -> str:
    if not cards:
        return "Nothing deployed yet"
    running = sum(c.running for c in cards)
    failing = sum(c.lights[Light.FAILING] for c in cards)
    text = f"{len(cards)} project{'s' if len(cards) != 1 else ''} · {running} running"
    return text + (f" · {failing} failing" if failing else "")


def _empty_state() -> None:
    with ui.card().classes("w-full p-8 items-center text-center gap-4").mark("empty-state"):
        ui.icon("layers", color="primary").classes("text-6xl")
        ui.label("No projects yet").classes("text-xl font-semibold")
        ui.label("Docker Watcher deploys the images your CI pushes. Three steps get you going:")
        with ui.column().classes("items-start gap-3 text-left"):
            _step(1, "Add the registry your CI pushes to", "Settings → Registries", "/settings")
            _step(2, "Quick-deploy an image, or add a project", "Quick deploy", "/quick-deploy")
            _step(3, "Point your CI at the secret webhook URL", "Settings → Webhook", "/settings")
        ui.label(
            "Without a webhook, Docker Watcher polls the registry at the configured interval."
        ).classes("text-sm text-grey-7")


def _step(number: int, text: str, link_text: str, target: str) -> None:
    with ui.row().classes("items-center gap-3 no-wrap"):
        ui.label(str(number)).classes(
            "rounded-full bg-primary text-white w-7 h-7 flex items-center justify-center"
        )
        ui.label(text)
        ui.link(link_text, target).classes("text-primary")
