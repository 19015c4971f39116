"""The audit log's table: one row per event, time, actor, action, target, outcome, address."""

from __future__ import annotations

from typing import Any

from nicegui import ui

from pages.components.fmt import stamp
from services.store.models import AuditEvent

COLUMNS: list[dict[str, Any]] = [
    {"name": name, "label": label, "field": name, "align": "left"}
    for name, label in (
        ("time", "Time"),
        ("actor", "Actor"),
        ("action", "Action"),
        ("target", "Target"),
        ("outcome", "Outcome"),
        ("address", "Address"),
        ("message", "Message"),
    )
]
SHOWN = [c["name"] for c in COLUMNS]


class AuditTable(ui.table):
    """`show(rows)` replaces what is listed (the page reads one page of the log at a time)."""

    def __init__(self) -> None:
        super().__init__(rows=[], columns=COLUMNS, row_key="id")
        self.props("flat dense hide-pagination wrap-cells").classes("w-full")
        self.pagination = {"rowsPerPage": 0}

    def show(self, events: list[AuditEvent]) -> None:
        self.rows = [row(e) for e in events]
        self.update()

    def _displayed_contents(self, *, only_visible: bool) -> list[Any]:
        """What the cells show, for `user.should_see` (the browser draws it from the rows)."""
        return [item[name] for item in self.rows for name in SHOWN if item[name]]


def row(event: AuditEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "time": stamp(event.ts),
        "actor": event.actor,
        "action": event.action,
        "target": target_text(event),
        "outcome": str(event.outcome),
        "address": event.address,
        "message": event.message or _facts(event.detail),
    }


def target_text(event: AuditEvent) -> str:
    """Project / stage / #instance / what else, as far as the event names them."""
    parts = [event.project_name or "", event.stage_name or ""]
    parts += [f"#{event.instance_id}" if event.instance_id else "", event.target]
    return " / ".join(p for p in parts if p)


def _facts(detail: dict[str, Any]) -> str:
    """A short reading of the detail: the fields changed, the tag and digest deployed."""
    shown = []
    if detail.get("fields"):
        shown.append("fields: " + ", ".join(str(f) for f in detail["fields"]))
    if detail.get("tag"):
        shown.append(f"tag {detail['tag']}")
    if detail.get("digest"):
        shown.append(str(detail["digest"])[:19])
    return "; ".join(shown)
