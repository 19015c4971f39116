"""A stage's instances: status, tag, URL, uptime, digest, outdated badge and the controls.

Each control is one service call; the button spins while it runs and a failure lands in the
page's error panel. The row itself changes when the bus reports the new status.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from functools import partial

from nicegui import ui

from pages.components import dialogs, status
from pages.components.acting import page_actor
from pages.components.config_widgets import ErrorBanner
from pages.components.deps import PageServices
from pages.components.feedback import attempt
from pages.components.fmt import ago, since
from pages.components.roles import can, checked
from services.audit.log import Actor
from services.store.models import Role
from services.views.models import InstanceView

Clock = tuple[ui.label, datetime | None, str]  # a label showing "up …" / "stopped … ago"


class InstanceRows:
    """Renders rows into the current context; `clocks` collects the labels a timer updates."""

    def __init__(
        self,
        deps: PageServices,
        project_id: int,
        panel: ErrorBanner,
        host: ui.element,
        role: Role | None,
    ) -> None:
        self._admin, self._project_id = deps.instances, project_id
        self._panel, self._host = panel, host
        self._role = role  # the page's: which controls exist, checked again on each click
        # Who acts, taken while the page is built: a click may reach a control that a live
        # update has since re-rendered, whose slot no longer leads to the page's request.
        self._actor = page_actor()
        self.clocks: list[Clock] = []

    def render(self, instances: tuple[InstanceView, ...]) -> None:
        if not instances:
            ui.label("No instances yet.").classes("text-sm text-grey-7 py-2")
            return
        for instance in instances:
            self._row(instance)

    def tick(self) -> None:
        for label, moment, prefix in self.clocks:
            if not label.is_deleted:
                label.set_text(_when(moment, prefix))

    def _row(self, instance: InstanceView) -> None:
        row = ui.row().classes("w-full items-center gap-3 py-2 border-t border-slate-100 no-wrap")
        with row.mark(f"instance-{instance.id}"):
            status.status_chip(instance.status).classes("shrink-0")
            with ui.column().classes("gap-0 min-w-0 grow"):
                with ui.row().classes("items-center gap-2"):
                    ui.label(instance.tag).classes("font-mono font-semibold")
                    if instance.outdated:
                        badge = ui.badge("outdated config", color="amber-2", text_color="amber-10")
                        badge.tooltip("Env or volumes changed since this deploy: redeploy to apply")
                _link(instance)
            self._clock(instance)
            ui.label(instance.digest or "—").classes("font-mono text-xs text-grey-7 w-24").tooltip(
                "image digest"
            )
            self._controls(instance)
        if instance.error:
            ui.label(instance.error).classes("text-xs text-negative pl-2")

    def _clock(self, instance: InstanceView) -> None:
        moment, prefix = (
            (instance.started_at or instance.created_at, "up")
            if instance.running
            else (instance.stopped_at, "stopped")
        )
        label = ui.label(_when(moment, prefix)).classes("text-sm text-grey-8 w-32 shrink-0")
        self.clocks.append((label, moment, prefix))

    def _controls(self, instance: InstanceView) -> None:
        """Deployers get stop/start/restart and the logs, admins also remove; viewers none."""
        admin, tag, iid = self._admin, instance.tag, instance.id
        where = (self._project_id, instance.stage, iid)
        if not can(Role.DEPLOYER, self._role):
            return
        with ui.row().classes("gap-0 shrink-0 no-wrap"):
            if instance.running:
                self._button("stop", "Stop", iid, f"Stopping {tag}", partial(admin.stop, *where))
            else:
                start = partial(admin.start, *where)
                self._button("play_arrow", "Start", iid, f"Starting {tag}", start)
            restart = partial(admin.restart, *where)
            self._button("restart_alt", "Restart", iid, f"Restarting {tag}", restart)
            logs = ui.button(icon="article", on_click=lambda: self._logs(instance))
            logs.props("flat round dense").tooltip("Container logs").mark(f"logs-{iid}")
            if not can(Role.ADMIN, self._role):
                return
            remove = ui.button(icon="delete", color="negative")
            remove.on_click(lambda: self._remove(instance, remove))
            remove.props("flat round dense").tooltip("Remove").mark(f"remove-{iid}")

    def _button(
        self,
        icon: str,
        name: str,
        iid: int,
        what: str,
        call: Callable[[Actor], Awaitable[object]],
    ) -> None:
        button = ui.button(icon=icon).props("flat round dense").tooltip(name)
        button.mark(f"{name.lower()}-{iid}")

        async def run() -> None:
            actor = self._actor
            await attempt(
                self._panel,
                what,
                checked(self._role, Role.DEPLOYER, lambda: call(actor)),
                button=button,
            )

        button.on_click(run)

    async def _remove(self, instance: InstanceView, button: ui.button) -> None:
        actor = self._actor
        text = (
            f"The container {instance.container_name} and its proxy hosts are removed; "
            "its data directories are kept. Another healthy instance of the stage takes over "
            "the stage's address."
        )
        title = f"Remove {instance.tag} from {instance.stage}?"
        if await dialogs.confirm(self._host, title, text, ok="Remove", color="negative"):
            admin, where = self._admin, (self._project_id, instance.stage, instance.id)
            call = checked(self._role, Role.ADMIN, lambda: admin.remove(*where, actor))
            await attempt(self._panel, f"Removing {instance.tag}", call, button=button)

    async def _logs(self, instance: InstanceView) -> None:
        admin, where = self._admin, (self._project_id, instance.stage, instance.id)
        call = checked(self._role, Role.DEPLOYER, lambda: admin.logs(*where))
        result = await attempt(self._panel, f"Reading the logs of {instance.tag}", call)
        if result.ok:
            title = f"Logs of {instance.container_name} (last 200 lines)"
            dialogs.show_text(self._host, title, result.value or "")


def _when(moment: datetime | None, prefix: str) -> str:
    if moment is None:
        return prefix
    return f"up {since(moment)}" if prefix == "up" else f"stopped {ago(moment)}"


def _link(instance: InstanceView) -> None:
    if instance.url:
        with ui.link(target=instance.url, new_tab=True).classes("text-sm text-primary truncate"):
            ui.label(instance.url.removeprefix("https://").removeprefix("http://"))
    else:
        ui.label("no address (proxy not configured)").classes("text-xs text-grey-6")
