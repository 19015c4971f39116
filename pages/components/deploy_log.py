"""One deploy's steps (with their timings) and its log, following it live while it runs.

A deploy the live board has seen (every one since start-up) is drawn from memory and grows
line by line from the bus; an older one is read once from the database.
"""

from __future__ import annotations

from collections.abc import Sequence

from nicegui import background_tasks, ui

from pages.components import status
from pages.components.fmt import clock, millis
from pages.components.live_view import follow
from services.views.live_board import TAIL, Change, LiveBoard
from services.views.models import LogLine, StepView
from services.views.overview import Overview

LEVEL_CLASSES = {"warning": "text-amber-300", "error": "text-red-300"}


class DeployLogView:
    def __init__(self, board: LiveBoard, overview: Overview, deploy_id: int) -> None:
        self._board, self._overview, self._id = board, overview, deploy_id
        self._steps: Sequence[StepView] = ()
        self._shown = 0
        with ui.column().classes("w-full gap-2") as self.root:
            self._render_steps()
            self._log = ui.log(max_lines=TAIL).classes(
                "w-full h-60 bg-slate-900 text-slate-100 rounded text-xs"
            )
        self._log.mark(f"deploy-log-{deploy_id}")
        progress = board.progress(deploy_id)
        if progress is None:
            background_tasks.create(self._load_recorded(), name=f"deploy log {deploy_id}")
            return
        self._steps = list(progress.steps)
        self._render_steps.refresh()
        self._push(progress.lines_after(0))
        self._shown = progress.line_count
        follow(board, self._changed, owner=self.root)

    @ui.refreshable_method
    def _render_steps(self) -> None:
        with ui.row().classes("gap-2 items-center"):
            if not self._steps:
                ui.label("Waiting to start…").classes("text-sm text-grey-7")
            for step in self._steps:
                color, icon = status.STEP_STYLE.get(step.status, ("grey-7", "help"))
                text = f"{step.name} {millis(step.duration_ms)}".strip()
                chip = ui.chip(text, icon=icon, color=color).props("dense outline")
                chip.mark(f"step-{step.name}-{step.status}")
                if step.status == "running":
                    ui.spinner(size="sm", color="primary")

    async def _load_recorded(self) -> None:
        detail = await self._overview.deploy(self._id)
        if self.root.is_deleted:
            return
        self._steps = detail.steps
        self._render_steps.refresh()
        self._push(detail.lines)

    def _changed(self, change: Change) -> None:
        if change.deploy_id != self._id:
            return
        progress = self._board.progress(self._id)
        if progress is None:
            return
        if change.kind == "log":
            self._push(progress.lines_after(self._shown))
            self._shown = progress.line_count
        elif change.kind == "step":
            self._steps = list(progress.steps)
            self._render_steps.refresh()

    def _push(self, lines: Sequence[LogLine]) -> None:
        for line in lines:
            text = f"{clock(line.at)}  {line.step:<8} {line.message}"
            self._log.push(text, classes=LEVEL_CLASSES.get(line.level))
