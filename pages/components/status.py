"""Status colours and chips: one palette for instance lights and deploy outcomes everywhere."""

from __future__ import annotations

from nicegui import ui

from services.store.models import InstanceStatus
from services.views.models import Light, light_of

LIGHT_COLOR = {
    Light.HEALTHY: "positive",
    Light.STARTING: "warning",
    Light.STOPPED: "grey-6",
    Light.FAILING: "negative",
}
LIGHT_ICON = {
    Light.HEALTHY: "check_circle",
    Light.STARTING: "pending",
    Light.STOPPED: "pause_circle",
    Light.FAILING: "error",
}
DEPLOY_STYLE = {  # status -> (colour, icon)
    "queued": ("grey-7", "schedule"),
    "running": ("primary", "autorenew"),
    "succeeded": ("positive", "check_circle"),
    "failed": ("negative", "error"),
    "refused": ("warning", "block"),
    "skipped": ("grey-7", "redo"),
}
STEP_STYLE = {
    "running": ("primary", "autorenew"),
    "ok": ("positive", "check"),
    "failed": ("negative", "close"),
    "skipped": ("grey-6", "redo"),
}


def status_chip(status: InstanceStatus) -> ui.chip:
    """The instance's own status word, coloured by its light."""
    light = light_of(status)
    chip = ui.chip(status.value, icon=LIGHT_ICON[light], color=LIGHT_COLOR[light])
    return chip.props("dense square text-color=white").mark(f"status-{status.value}")


def light(kind: Light, count: int) -> None:
    """A coloured dot with a count; zero counts are shown faint so the row keeps its shape."""
    faint = "" if count else "opacity-30"
    with ui.row().classes(f"items-center gap-1 no-wrap {faint}") as row:
        ui.icon("circle", color=LIGHT_COLOR[kind]).classes("text-xs")
        ui.label(f"{count} {kind.value}").classes("text-sm")
    row.tooltip(f"{count} instance(s) {kind.value}").mark(f"light-{kind.value}")


def cleanup_pending_chip() -> ui.chip:
    """A failed deploy whose leftovers are not removed yet (the engine or proxy was away)."""
    chip = ui.chip("clean-up pending", icon="cleaning_services", color="warning")
    chip.tooltip("What this deploy created is removed once the engine and the proxy answer")
    return chip.props("dense square outline").mark("deploy-cleanup-pending")


def deploy_chip(status: str) -> ui.chip:
    color, icon = DEPLOY_STYLE.get(status, ("grey-7", "help"))
    chip = ui.chip(status, icon=icon, color=color).props("dense square outline")
    return chip.mark(f"deploy-{status}")
