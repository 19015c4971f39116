"""/audit: who did what, newest first, with filters (user, project, action, time) and paging.

A thin page over the audit view service: each filter change reads the first page again;
"Older" and "Newer" walk the pages by the cursor the service answers.
"""

from __future__ import annotations

from dataclasses import dataclass

from nicegui import ui

from pages.components.audit_table import AuditTable
from pages.components.roles import can, not_allowed
from pages.layout import frame
from services.store.models import Role
from services.views.audit_log import AuditChoices, AuditFilter, AuditQueries, since
from services.views.system_status import SystemStatus

PAGE_ROWS = 50
ALL = ""
PERIODS: dict[str, float | None] = {  # label -> hours back (None: all time)
    "Any time": None,
    "Last hour": 1,
    "Last 24 hours": 24,
    "Last 7 days": 7 * 24,
    "Last 30 days": 30 * 24,
}


@dataclass(frozen=True)
class AuditServices:
    queries: AuditQueries
    status: SystemStatus


def register(services: AuditServices) -> None:
    @ui.page("/audit")
    async def audit_page() -> None:
        with frame("Audit log", services.status):
            if not can(Role.ADMIN):  # who did what, from where: for admins only
                not_allowed(Role.ADMIN, "The audit log")
                return
            choices = await services.queries.choices()
            ui.label("Audit log").classes("text-2xl font-semibold")
            page = _AuditPage(services.queries, choices)
            await page.load()


def _options(values: list[str], everyone: str) -> dict[str, str]:
    return {ALL: everyone, **{v: v for v in values}}


class _AuditPage:
    def __init__(self, queries: AuditQueries, choices: AuditChoices) -> None:
        self._queries = queries
        self._cursors: list[int | None] = [None]  # the `before` of each page shown so far
        self._next: int | None = None
        with ui.row().classes("w-full items-end gap-4"):
            self._actor = self._select("User", _options(choices.actors, "Everyone"), "actor")
            self._project = self._select(
                "Project", _options(choices.projects, "All projects"), "project"
            )
            self._action = self._select(
                "Action", _options(choices.actions, "All actions"), "action"
            )
            periods = {label: label for label in PERIODS}
            self._period = ui.select(periods, value="Any time", label="Time")
            self._period.props("dense outlined").classes("w-40").mark("audit-time")
            self._period.on_value_change(self.load)
        self._summary = ui.label().classes("text-sm text-grey-7").mark("audit-summary")
        self._table = AuditTable().mark("audit-table")
        self._empty = ui.label("No audit entries match these filters.").mark("audit-empty")
        self._empty.classes("text-grey-7")
        with ui.row().classes("gap-2"):
            self._newer = ui.button("Newer", icon="chevron_left", on_click=self._newer_page)
            self._newer.props("flat no-caps").mark("audit-newer")
            self._older = ui.button("Older", icon="chevron_right", on_click=self._older_page)
            self._older.props("flat no-caps").mark("audit-older")

    def _select(self, label: str, options: dict[str, str], name: str) -> ui.select:
        select = ui.select(options, value=ALL, label=label, with_input=True)
        select.props("dense outlined").classes("w-48").mark(f"audit-{name}")
        select.on_value_change(self.load)
        return select

    def _filter(self) -> AuditFilter:
        return AuditFilter(
            actor=self._actor.value or "",
            project=self._project.value or "",
            action=self._action.value or "",
            since=since(PERIODS.get(self._period.value or "")),
        )

    async def load(self) -> None:
        """The newest page for the current filters."""
        self._cursors = [None]
        await self._show()

    async def _older_page(self) -> None:
        if self._next is not None:
            self._cursors.append(self._next)
            await self._show()

    async def _newer_page(self) -> None:
        if len(self._cursors) > 1:
            self._cursors.pop()
            await self._show()

    async def _show(self) -> None:
        page = await self._queries.page(self._filter(), limit=PAGE_ROWS, before=self._cursors[-1])
        self._next = page.next_before
        self._table.show(page.rows)
        self._table.set_visibility(bool(page.rows))
        self._empty.set_visibility(not page.rows)
        first = (len(self._cursors) - 1) * PAGE_ROWS
        shown = f"{first + 1}–{first + len(page.rows)} of {page.total}" if page.rows else "0"
        self._summary.set_text(f"Entries {shown}")
        self._older.set_enabled(page.next_before is not None)
        self._newer.set_enabled(len(self._cursors) > 1)
