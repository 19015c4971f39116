"""Small modal dialogs: a yes/no confirmation and a container's log output.

Dialogs are created inside a page-level container that refreshes never touch, so a live update
arriving while one is open cannot delete it.
"""

from __future__ import annotations

from nicegui import ui


async def confirm(
    host: ui.element, title: str, text: str, *, ok: str, color: str = "primary"
) -> bool:
    """Ask; True only when the person pressed `ok` (Escape, Cancel or a click outside: False)."""
    with host, ui.dialog() as dialog, ui.card().classes("w-[28rem] max-w-full gap-4"):
        ui.label(title).classes("text-lg font-semibold")
        ui.label(text).classes("text-grey-8")
        with ui.row().classes("w-full justify-end gap-2"):
            ui.button("Cancel", on_click=lambda: dialog.submit(False)).props("flat")
            ui.button(ok, color=color, on_click=lambda: dialog.submit(True)).mark("confirm-ok")
    try:
        return bool(await dialog)
    finally:
        dialog.delete()


def show_text(host: ui.element, title: str, text: str) -> None:
    """A wide dialog with monospaced, scrollable text (container logs)."""
    with host, ui.dialog() as dialog, ui.card().classes("w-[60rem] max-w-full"):
        with ui.row().classes("w-full items-center justify-between"):
            ui.label(title).classes("text-lg font-semibold")
            ui.button(icon="close", on_click=dialog.close).props("flat round dense")
        with ui.scroll_area().classes("w-full h-[60vh] bg-slate-900 rounded"):
            ui.label(text or "(no output)").classes(
                "font-mono text-xs text-slate-100 whitespace-pre-wrap p-3"
            )
    dialog.on("hide", dialog.delete)
    dialog.open()
