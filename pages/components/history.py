"""Deploy history: one expandable line per deploy; running ones open with their live log.

A log view is built only when its line is opened, and which lines are open survives the
refreshes that live updates cause.
"""

from __future__ import annotations

from nicegui import ui

from pages.components import status
from pages.components.deploy_log import DeployLogView
from pages.components.deps import PageServices
from pages.components.fmt import ago, took_for
from pages.components.live_view import follow
from services.views.live_board import Change, LiveBoard
from services.views.models import Activity


class History:
    def __init__(self, deps: PageServices, focus: int | None = None) -> None:
        self._deps = deps
        self._open: set[int] = {focus} if focus else set()
        self._closed: set[int] = set()  # running deploys the person folded away

    def render(self, history: tuple[Activity, ...]) -> None:
        with ui.card().classes("w-full gap-0 p-0").mark("history"):
            ui.label("Deploy history").classes("text-lg font-semibold px-4 pt-3 pb-2")
            if not history:
                ui.label("Nothing deployed yet.").classes("text-sm text-grey-7 px-4 pb-4")
            for activity in history:
                self._entry(activity)

    def _entry(self, activity: Activity) -> None:
        deploy_id = activity.deploy_id
        opened = deploy_id in self._open or (
            not activity.finished and deploy_id not in self._closed
        )
        expansion = ui.expansion(value=opened).classes("w-full border-t border-slate-100")
        expansion.mark(f"deploy-{deploy_id}")
        with expansion.add_slot("header"):
            self._header(activity)
        with expansion:
            body = ui.column().classes("w-full")
        expansion.on_value_change(lambda e: self._toggle(deploy_id, e.value, body))
        if opened:
            self._toggle(deploy_id, True, body)

    def _toggle(self, deploy_id: int, opened: bool, body: ui.column) -> None:
        (self._open.add if opened else self._open.discard)(deploy_id)
        (self._closed.discard if opened else self._closed.add)(deploy_id)
        if opened and not body.default_slot.children:
            with body:
                DeployLogView(self._deps.live, self._deps.overview, deploy_id)

    def _header(self, activity: Activity) -> None:
        with ui.row().classes("w-full items-center gap-3 no-wrap"):
            if activity.finished:
                status.deploy_chip(activity.status).classes("shrink-0")
                if activity.cleanup_pending:
                    status.cleanup_pending_chip().classes("shrink-0")
            else:
                _LiveChip(self._deps.live, activity)
            _summary(activity)
            ui.label(_timing(activity)).classes("text-sm text-grey-7 shrink-0")


class _LiveChip:
    """The status of an unfinished deploy and its current step, as the bus reports them."""

    def __init__(self, board: LiveBoard, activity: Activity) -> None:
        self._board, self._activity = board, activity
        with ui.row().classes("items-center gap-1 shrink-0 no-wrap") as self._root:
            self.render()
        follow(board, self._changed, owner=self._root)

    @ui.refreshable_method
    def render(self) -> None:
        progress = self._board.progress(self._activity.deploy_id)
        status.deploy_chip(progress.status if progress else self._activity.status)
        if progress and progress.steps and not progress.finished:
            ui.label(progress.steps[-1].name).classes("text-xs text-primary")

    def _changed(self, change: Change) -> None:
        if change.deploy_id == self._activity.deploy_id and change.kind in ("step", "deploy"):
            self.render.refresh()


def _summary(activity: Activity) -> None:
    with ui.column().classes("gap-0 min-w-0 grow"):
        with ui.row().classes("items-center gap-2"):
            ui.label(f"{activity.tag} → {activity.stage}").classes("font-mono font-semibold")
            ui.label(f"#{activity.deploy_id} · {activity.trigger}").classes("text-xs text-grey-7")
        if activity.error:
            where = f"{activity.step}: " if activity.step else ""
            ui.label(f"{where}{activity.error}").classes("text-xs text-negative truncate")


def _timing(activity: Activity) -> str:
    if activity.finished_at and activity.started_at:
        took = took_for((activity.finished_at - activity.started_at).total_seconds())
        return f"{ago(activity.finished_at)} · took {took}"
    return ago(activity.at)
