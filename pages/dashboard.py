"""Dashboard (SPEC §7): every project with its lights, running count and latest activity.

Cards come from the live board; when it reports a project's card changed, only that card is
rebuilt, in every open tab, within the same event-loop turn.
"""

from __future__ import annotations

from nicegui import ui

from pages.components import status
from pages.components.deps import PageServices
from pages.components.fmt import ago
from pages.components.live_view import follow
from pages.layout import frame
from services.live import Change, LiveBoard
from services.overview_views import Light, ProjectCard

GRID = "grid w-full gap-4 grid-cols-1 md:grid-cols-2 xl:grid-cols-3"


def register(deps: PageServices) -> None:
    @ui.page("/")
    async def dashboard() -> None:
        cards = await deps.live.load_cards()
        with frame("Dashboard", deps.status):
            _title(len(cards))
            _Cards(deps.live).render()


def _title(count: int) -> None:
    with ui.row().classes("w-full items-center justify-between"):
        with ui.column().classes("gap-0"):
            ui.label("Projects").classes("text-2xl font-semibold")
            word = "project" if count == 1 else "projects"
            ui.label(f"{count} {word}").classes("text-sm text-grey-7")
        button = ui.button("Quick deploy", icon="rocket_launch").mark("quick-deploy")
        button.on_click(lambda: ui.navigate.to("/quick-deploy"))


class _Cards:
    """The grid; each card its own refreshable, the grid rebuilt only when projects come or go."""

    def __init__(self, board: LiveBoard) -> None:
        self._board = board
        self._shown: dict[int, _Card] = {}
        follow(board, self._changed)

    @ui.refreshable_method
    def render(self) -> None:
        cards = self._board.cards()
        self._shown = {}
        if not cards:
            _empty_state()
            return
        with ui.element("div").classes(GRID):
            for card in cards:
                self._shown[card.id] = _Card(self._board, card.id)
                self._shown[card.id].render()

    def _changed(self, change: Change) -> None:
        if change.kind != "card" or change.project_id is None:
            return
        shown = self._shown.get(change.project_id)
        if shown is None or self._board.card(change.project_id) is None:
            self.render.refresh()  # a project appeared or went away
        else:
            shown.render.refresh()


class _Card:
    def __init__(self, board: LiveBoard, project_id: int) -> None:
        self._board, self._id = board, project_id

    @ui.refreshable_method
    def render(self) -> None:
        card = self._board.card(self._id)
        if card is None:
            return
        link = f"/projects/{card.id}"
        with (
            ui.link(target=link).classes("no-underline text-inherit"),
            ui.card()
            .classes("w-full h-full gap-3 hover:shadow-lg transition-shadow cursor-pointer")
            .mark(f"project-card-{card.name}"),
        ):
            _card_head(card)
            with ui.row().classes("gap-4 items-center"):
                for kind in Light:
                    status.light(kind, card.lights[kind])
            ui.separator()
            _latest(card)


def _card_head(card: ProjectCard) -> None:
    with ui.row().classes("w-full items-start justify-between no-wrap"):
        with ui.column().classes("gap-0 min-w-0"):
            ui.label(card.name).classes("text-lg font-semibold text-primary")
            ui.label(card.image).classes("text-xs text-grey-7 font-mono truncate max-w-full")
        with ui.column().classes("items-end gap-0 shrink-0"):
            running = ui.label(str(card.running)).classes("text-2xl font-semibold leading-none")
            running.mark("running-count")
            ui.label("running").classes("text-xs text-grey-7")
    with ui.row().classes("gap-1"):
        for stage in card.stages:
            ui.badge(stage, color="blue-grey-1", text_color="blue-grey-9").props("rounded")
        if card.waiting:
            word = "tag" if card.waiting == 1 else "tags"
            ui.badge(f"{card.waiting} {word} waiting", color="amber-2", text_color="amber-10")


def _latest(card: ProjectCard) -> None:
    latest = card.latest
    with ui.row().classes("items-center gap-2 text-sm no-wrap w-full"):
        if latest is None:
            ui.label("No deploys yet").classes("text-grey-7")
            return
        status.deploy_chip(latest.status)
        ui.label(f"{latest.tag} → {latest.stage}").classes("font-mono truncate")
        ui.label(ago(latest.finished_at or latest.at)).classes("text-grey-7 ml-auto shrink-0")


def _empty_state() -> None:
    with ui.card().classes("w-full p-8 items-center text-center gap-4").mark("empty-state"):
        ui.icon("deployed_code", color="primary").classes("text-6xl")
        ui.label("No projects yet").classes("text-xl font-semibold")
        ui.label(
            "Docker Watcher deploys the images your CI pushes. Three steps get you going:"
        ).classes("text-grey-8")
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
